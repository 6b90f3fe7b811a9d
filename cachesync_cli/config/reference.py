"""The configuration reference table in docs/configuration.md, generated from the schema.

`python -m cachesync_cli.config.reference` prints it; a test fails when the docs differ.
"""

from __future__ import annotations

import json

from cachesync_cli.config.schema import SECTION_HELP, SECTIONS, SETTINGS

BEGIN = "<!-- BEGIN GENERATED: python -m cachesync_cli.config.reference -->"
END = "<!-- END GENERATED -->"


def _default(value) -> str:
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return "true" if value else "false"
    return f"`{json.dumps(value)}`" if not isinstance(value, (int, float)) else f"`{value:g}`"


def reference_markdown() -> str:
    lines = [BEGIN]
    for section in SECTIONS:
        lines += ["", f"### `[{section}]`", "", SECTION_HELP.get(section, ""), "",
                  "| key | default | environment | meaning |", "|---|---|---|---|"]
        for s in (s for s in SETTINGS if s.section == section):
            env = f"`{s.env}`" if s.env else ""
            allowed = f" One of: {', '.join(f'`{a}`' for a in s.allowed)}." if s.allowed else ""
            lines.append(f"| `{s.name}` | {_default(s.default)} | {env} | {s.help}{allowed} |")
    lines += ["", END]
    return "\n".join(lines)


if __name__ == "__main__":
    print(reference_markdown())
