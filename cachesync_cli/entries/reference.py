"""Markdown tables of entry kinds, for the generated references in docs/local.md and docs/cleanup.md
(`cachesync_cli.local.reference`, `cachesync_cli.cleanup.reference`)."""

from __future__ import annotations

import json

from cachesync_cli.entries.fields import EntryType
from cachesync_cli.entries.registry import KIND_NAMES

END = "<!-- END GENERATED -->"


def begin_marker(module: str) -> str:
    return f"<!-- BEGIN GENERATED: python -m {module} -->"


def _default(value, required: bool) -> str:
    if required:
        return "required"
    if value is None:
        return "unset"
    return f"`{json.dumps(value, ensure_ascii=False)}`"


def kind_table(array: str, spec: EntryType) -> list[str]:
    """One kind: a heading, its help, and a row per field."""
    lines = [f"#### `type = \"{spec.name}\"` ({KIND_NAMES[array]}): `{spec.target}`", "", spec.help, "",
             "| field | default | meaning |", "|---|---|---|"]
    for field in spec.fields:
        allowed = getattr(field.check, "allowed", None)
        extra = f" One of: {', '.join(f'`{a}`' for a in allowed)}." if allowed else ""
        lines.append(f"| `{field.name}` | {_default(field.default, field.required)} | {field.help}{extra} |")
    return lines + [""]


def kinds_markdown(module: str, sections: list[tuple[str | None, str, dict[str, EntryType]]]) -> str:
    """The generated block of `module`: for each (heading or None, array, kinds), the heading and a
    table per kind."""
    lines = [begin_marker(module), ""]
    for heading, array, kinds in sections:
        if heading:
            lines += [f"### {heading}", ""]
        for spec in kinds.values():
            lines += kind_table(array, spec)
    lines.append(END)
    return "\n".join(lines)
