"""The commented starter file written by `cachesync config init`, generated from the schema."""

from __future__ import annotations

import json
import shlex
import textwrap
from collections.abc import Sequence
from typing import Any

from cachesync_cli.config.schema import BY_KEY, SECTION_HELP, SECTIONS, SETTINGS
from cachesync_cli.entries import ENTRY_ARRAYS, SOURCE_TYPES, TARGET_TYPES, validate_entry
from cachesync_cli.entries.fields import nonempty_text_list
from cachesync_cli.errors import ConfigError, UsageError

#: (kind, {field: value}): one [[sources]] or [[targets]] entry to write active
Entry = tuple[str, dict[str, Any]]

# Settings written active (uncommented) in the starter file, with the value to write.
ACTIVE = {
    "cluster.id": '"{cluster}"',
    "broker.url": '"{broker}"',
    "broker.topic": '"cachesync"',
}


def starter_config(*, cluster: str = "dc-east", broker: str = "amqp://localhost:5672/",
                   sources: Sequence[Entry] = (), targets: Sequence[Entry] = ()) -> str:
    lines = [
        "# cachesync configuration. Reference: docs/configuration.md",
        "# Precedence: command-line flag > environment variable > this file > default.",
        "# Secrets (passwords, signing keys) come from the environment or files, never from here.",
        "",
    ]
    for section in SECTIONS:
        lines.append(f"[{section}]")
        if section in SECTION_HELP:
            lines.append(f"# {SECTION_HELP[section]}")
        for setting in (s for s in SETTINGS if s.section == section):
            for chunk in textwrap.wrap(setting.help, 92):
                lines.append(f"# {chunk}")
            if setting.env:
                lines.append(f"# Environment: {setting.env}")
            if setting.key in ACTIVE:
                value = ACTIVE[setting.key].format(cluster=cluster, broker=broker)
                lines.append(f"{setting.name} = {value}")
            else:
                lines.append(f"# {setting.name} = {setting.example}")
        lines.append("")
    lines += entries_section(sources, targets)
    return "\n".join(lines)


def entries_section(sources: Sequence[Entry], targets: Sequence[Entry]) -> list[str]:
    """The given entries written active, then every other kind as a commented example."""
    lines: list[str] = []
    for array, title, given, types in (
            ("sources", "Where this cluster's applications announce invalidations; the bridge publishes them.",
             sources, SOURCE_TYPES),
            ("targets", "What applies the other clusters' invalidations in this cluster.", targets, TARGET_TYPES)):
        lines += [f"# {chunk}" for chunk in textwrap.wrap(f"[[{array}]]: {title} Reference: docs/local.md", 92)]
        if not given:
            lines.append(f"# None yet: this bridge {'publishes nothing' if array == 'sources' else 'applies nothing'}.")
        lines.append("")
        for kind, values in given:
            lines += _entry_lines(array, types[kind], values, active=True) + [""]
        chosen = {kind for kind, _ in given}
        for spec in (t for name, t in types.items() if name not in chosen):
            lines += _entry_lines(array, spec, {}, active=False) + [""]
    return lines


def _entry_lines(array: str, spec, values: dict[str, Any], *, active: bool) -> list[str]:
    """One entry: its description, then `type`, the given values, and the other fields' examples."""
    mark = "" if active else "# "
    lines = [f"# {chunk}" for chunk in textwrap.wrap(f"{spec.name}: {spec.help}", 92)]
    lines += [f"{mark}[[{array}]]", f'{mark}type = "{spec.name}"']
    for field in spec.fields:
        if field.name in values:
            lines.append(f"{mark}{field.name} = {toml_value(values[field.name])}")
        elif field.example is not None:
            lines.append(f"# {field.name} = {field.example}")
    return lines


def toml_value(value: Any) -> str:
    """A string, number, boolean or list of them as TOML (JSON's string escapes are TOML's)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)


def main_field(spec):
    """The field a `--source KIND:VALUE` gives, and the one question asked per kind: the first
    after `name` (a Redis URL, the listen address, memcached servers, webhook URLs, argv, path)."""
    return next(f for f in spec.fields if f.name != "name")


def field_value(field, text: str) -> Any:
    """What the user typed for a field: argv split as a shell would, other lists on commas."""
    if field.name == "argv":
        return shlex.split(text)
    if field.check is nonempty_text_list:
        return [part.strip() for part in text.split(",") if part.strip()]
    return text


def check_setting(key: str, value: Any, flag: str) -> Any:
    """A value given for an ACTIVE setting (--cluster, --broker, or an answer), as the loader checks it."""
    try:
        BY_KEY[key].check(value)
    except ValueError as error:
        raise UsageError(f"{flag} {value!r}: {error}") from None
    except UsageError as error:
        raise UsageError(f"{flag} {value!r}: {error.message}", hint=error.hint) from None
    return value


def entry_from_spec(array: str, spec_text: str, flag: str) -> Entry:
    """`redis-channel:redis://10.0.0.5:6379/0` (or just `redis-channel`) as one checked entry."""
    types = ENTRY_ARRAYS[array]
    kind, _, given = spec_text.partition(":")
    if kind not in types:
        import difflib

        close = difflib.get_close_matches(kind, types, n=1)
        raise UsageError(f"{flag} {spec_text!r}: {kind!r} is not a kind of {array[:-1]}",
                         hint=(f"did you mean {close[0]!r}? " if close else "") + f"one of: {', '.join(types)}")
    field = main_field(types[kind])
    values = {field.name: field_value(field, given)} if given else {}
    if field.required and not given:
        raise UsageError(f"{flag} {kind} needs its {field.name}: {flag} {kind}:VALUE",
                         hint=f"{field.help} e.g. {flag} {kind}:{_plain_example(field)}")
    return kind, check_entry(array, kind, values, f"{flag} {spec_text}")


def check_entry(array: str, kind: str, values: dict[str, Any], where: str) -> dict[str, Any]:
    """The values as given, once the registry accepts them (errors name `where`)."""
    try:
        validate_entry(array, 0, {"type": kind, **values}, where)
    except ConfigError as error:
        raise UsageError(error.message, hint=error.hint) from None
    return values


def _plain_example(field) -> str:
    example = json.loads(field.example) if field.example else ""
    if isinstance(example, list):
        return (" " if field.name == "argv" else ",").join(example)
    return str(example)
