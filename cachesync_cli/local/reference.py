"""The `[[sources]]`/`[[targets]]` field tables in docs/local.md, generated from the registry.

`python -m cachesync_cli.local.reference` prints them; a test fails when the docs differ.
"""

from __future__ import annotations

import json

from cachesync_cli.config.schema import EntryType
from cachesync_cli.local.registry import KIND_NAMES, SOURCE_TYPES, TARGET_TYPES

BEGIN = "<!-- BEGIN GENERATED: python -m cachesync_cli.local.reference -->"
END = "<!-- END GENERATED -->"


def _default(value, required: bool) -> str:
    if required:
        return "required"
    if value is None:
        return "unset"
    return f"`{json.dumps(value, ensure_ascii=False)}`"


def _table(array: str, spec: EntryType) -> list[str]:
    lines = [f"#### `type = \"{spec.name}\"` ({KIND_NAMES[array]}): `{spec.target}`", "", spec.help, "",
             "| field | default | meaning |", "|---|---|---|"]
    for field in spec.fields:
        allowed = getattr(field.check, "allowed", None)
        extra = f" One of: {', '.join(f'`{a}`' for a in allowed)}." if allowed else ""
        lines.append(f"| `{field.name}` | {_default(field.default, field.required)} | {field.help}{extra} |")
    return lines + [""]


def reference_markdown() -> str:
    lines = [BEGIN, "", "### Sources", ""]
    for spec in SOURCE_TYPES.values():
        lines += _table("sources", spec)
    lines += ["### Targets", ""]
    for spec in TARGET_TYPES.values():
        lines += _table("targets", spec)
    lines.append(END)
    return "\n".join(lines)


if __name__ == "__main__":
    print(reference_markdown())
