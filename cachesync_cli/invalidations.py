"""Reading invalidations given by hand: keys on the command line, in a file, or on stdin.

A file holds either one key per line, or NDJSON: one JSON object per line, either a local
message (WIRE.md §4: `{"cache": ..., "keys": [...]}` or `{"tenant": ..., "items": [...]}`)
or a decoded envelope as `cachesync tail --format ndjson` prints it, so a tail can be
replayed: Java object keys (`java_keys`) with their exact bytes. `auto` tells them apart by the first non-blank line.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from typing import IO, Any

from cachesync_cli.errors import UsageError
from cachesync_cli.wire import Item, Tenant

INPUT_FORMATS = ("auto", "keys", "ndjson")


@dataclass(frozen=True)
class Batch:
    """Items that share a tenant."""

    tenant: Tenant | None
    items: tuple[Item, ...]


def parse_tenant(text: str) -> Tenant:
    """`DOMAIN` or `DOMAIN:ID`, e.g. `carbon.super:-1234`."""
    domain, sep, raw_id = text.partition(":")
    if not domain:
        raise UsageError(f"--tenant {text!r}: the domain is empty", hint="write DOMAIN or DOMAIN:ID")
    if not sep:
        return Tenant(domain)
    try:
        return Tenant(domain, int(raw_id))
    except ValueError:
        raise UsageError(f"--tenant {text!r}: the id {raw_id!r} is not a whole number",
                         hint="write DOMAIN or DOMAIN:ID, e.g. carbon.super:-1234") from None


def read_lines(stream: IO[str]) -> Iterator[tuple[int, str]]:
    """Non-blank lines with their 1-based numbers, line endings removed."""
    for number, line in enumerate(stream, start=1):
        line = line.rstrip("\r\n")
        if line.strip():
            yield number, line


def detect_format(first_line: str | None) -> str:
    return "ndjson" if first_line is not None and first_line.lstrip().startswith("{") else "keys"


def _tenant(value: Any, where: str) -> Tenant | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise UsageError(f"{where}: tenant must be an object with domain and id")
    try:
        return Tenant(value.get("domain"), value.get("id"))
    except ValueError as exc:
        raise UsageError(f"{where}: tenant: {exc}") from None


def _item(value: Any, where: str) -> Item:
    """An item: `keys`, `all`, or as `tail` prints them, `java_keys` (base64 of each Java
    object key's exact stream, carried as they are) and `unusable_keys` (a legacy WSO2
    connector's `Class@hash`, which names no entry: its cache is cleared, as a bridge does)."""
    if not isinstance(value, dict):
        raise UsageError(f"{where}: an item must be an object with cache and keys or all")
    clear_all = value.get("all", False)
    if value.get("unusable_keys") and not value.get("keys") and not value.get("java_keys"):
        clear_all = True
    try:
        return Item(cache=value.get("cache"), keys=tuple(value.get("keys") or ()),
                    java_keys=_java_keys(value.get("java_keys"), where), all=clear_all,
                    manager=value.get("manager"))
    except (ValueError, TypeError) as exc:
        raise UsageError(f"{where}: {exc}") from None


def _java_keys(value: Any, where: str) -> tuple[bytes, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(text, str) for text in value):
        raise UsageError(f"{where}: java_keys must be a list of base64 strings")
    try:
        return tuple(base64.b64decode(text, validate=True) for text in value)
    except (binascii.Error, ValueError):
        raise UsageError(f"{where}: java_keys must be a list of base64 strings") from None


def parse_ndjson_line(line: str, where: str) -> Batch | None:
    """One NDJSON line as a Batch; None for lines that carry no invalidation (heartbeats, acks,
    and what `tail` printed for malformed messages)."""
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{where}: not valid JSON ({exc.msg})",
                         hint="use --input keys to read every line as a key") from None
    if not isinstance(obj, dict):
        raise UsageError(f"{where}: expected a JSON object")
    if obj.get("type", "invalidate") != "invalidate" or obj.get("malformed"):
        return None
    if "items" in obj:
        if not isinstance(obj["items"], list) or not obj["items"]:
            raise UsageError(f"{where}: items must be a non-empty list")
        items = tuple(_item(item, where) for item in obj["items"])
    elif "cache" in obj:
        items = (_item(obj, where),)
    else:
        raise UsageError(f"{where}: expected an envelope with items, or an item with cache")
    return Batch(_tenant(obj.get("tenant"), where), items)


def read_invalidations(
    stream: IO[str],
    *,
    name: str,
    input_format: str,
    cache: str | None,
    manager: str | None,
    tenant: Tenant | None,
) -> Iterator[Batch]:
    """Batches from a key file or NDJSON stream called `name` (for messages)."""
    lines = read_lines(stream)
    first = next(lines, None)
    if first is None:
        return
    fmt = detect_format(first[1]) if input_format == "auto" else input_format
    all_lines = _chain(first, lines)
    if fmt == "ndjson":
        for number, line in all_lines:
            batch = parse_ndjson_line(line, f"{name}:{number}")
            if batch is not None:
                yield Batch(batch.tenant or tenant, _with_manager(batch.items, manager))
        return
    if cache is None:
        raise UsageError(f"{name} holds keys, one per line: name the CACHE they belong to",
                         hint="cachesync invalidate CACHE --file PATH")
    keys = [line for _, line in all_lines]
    yield Batch(tenant, (Item(cache=cache, keys=tuple(keys), manager=manager),))


def _chain(first: tuple[int, str], rest: Iterable[tuple[int, str]]) -> Iterator[tuple[int, str]]:
    yield first
    yield from rest


def _with_manager(items: tuple[Item, ...], manager: str | None) -> tuple[Item, ...]:
    if manager is None:
        return items
    return tuple(item if item.manager else replace(item, manager=manager) for item in items)
