"""Every kind of `[[sources]]`, `[[targets]]` and `[[cleanup]]` entry, checked and built.

`validate_entry` checks an entry against its kind's fields without importing any driver;
`build_source`/`build_target`/`build_cleaner` import the kind's class only when a bridge,
`doctor` or `cleanup` needs it.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Mapping
from typing import Any

from cachesync_cli.entries.cleaners import CLEANUP_TYPES
from cachesync_cli.entries.fields import EntryType
from cachesync_cli.entries.sources import SOURCE_TYPES
from cachesync_cli.entries.targets import TARGET_TYPES
from cachesync_cli.errors import ConfigError

ENTRY_ARRAYS: dict[str, dict[str, EntryType]] = {"sources": SOURCE_TYPES, "targets": TARGET_TYPES,
                                                 "cleanup": CLEANUP_TYPES}
KIND_NAMES = {"sources": "source", "targets": "target", "cleanup": "cleanup target"}


def validate_entry(array: str, index: int, entry: Any, where: str) -> dict[str, Any]:
    """One `[[sources]]`/`[[targets]]`/`[[cleanup]]` entry, checked and with defaults filled in."""
    types = ENTRY_ARRAYS[array]
    label = f"{where}: [[{array}]] #{index + 1}"
    if not isinstance(entry, dict):
        raise ConfigError(f"{label}: must be a table")
    kind = entry.get("type")
    if kind not in types:
        close = difflib.get_close_matches(str(kind), types, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ConfigError(f"{label}: type {kind!r} is not a kind of {KIND_NAMES[array]}",
                          hint=f"{hint}allowed: {', '.join(types)}")
    spec = types[kind]
    fields = {f.name: f for f in spec.fields}
    result: dict[str, Any] = {"type": kind}
    for key, value in entry.items():
        if key == "type":
            continue
        if key not in fields:
            close = difflib.get_close_matches(key, fields, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ConfigError(f"{label} ({kind}): unknown key {key!r}",
                              hint=f"{hint}allowed: type, {', '.join(fields)}")
        try:
            result[key] = fields[key].check(value)
        except ValueError as exc:
            raise ConfigError(f"{label} ({kind}) {key}: {exc}") from None
    for field in spec.fields:
        if field.name not in result:
            if field.required:
                raise ConfigError(f"{label} ({kind}): {field.name} is required", hint=field.help)
            result[field.name] = field.default
    if spec.check_entry is not None:
        try:
            spec.check_entry(result)
        except ValueError as exc:
            raise ConfigError(f"{label} ({kind}): {exc}") from None
    result["name"] = result.get("name") or f"{kind}-{index + 1}"
    return result


def _build(array: str, entry: Mapping[str, Any], context):
    spec = ENTRY_ARRAYS[array][entry["type"]]
    module_name, class_name = spec.target.split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"[[{array}]] {entry['name']!r} ({entry['type']}) needs the Python package "
                          f"{exc.name!r}, which is not installed", hint=f"pip install {exc.name}") from None
    cls = getattr(module, class_name)
    return cls(entry["name"], entry, context)


def build_source(entry: Mapping[str, Any], context):
    return _build("sources", entry, context)


def build_target(entry: Mapping[str, Any], context):
    return _build("targets", entry, context)


def build_cleaner(entry: Mapping[str, Any], context):
    return _build("cleanup", entry, context)


