"""The `[[cleanup]]` field tables in docs/cleanup.md, generated from the registry.

`python -m cachesync_cli.cleanup.reference` prints them; a test fails when the docs differ.
"""

from __future__ import annotations

from cachesync_cli.local.reference import _table
from cachesync_cli.local.registry import CLEANUP_TYPES

BEGIN = "<!-- BEGIN GENERATED: python -m cachesync_cli.cleanup.reference -->"
END = "<!-- END GENERATED -->"


def reference_markdown() -> str:
    lines = [BEGIN, ""]
    for spec in CLEANUP_TYPES.values():
        lines += _table("cleanup", spec)
    lines.append(END)
    return "\n".join(lines)


if __name__ == "__main__":
    print(reference_markdown())
