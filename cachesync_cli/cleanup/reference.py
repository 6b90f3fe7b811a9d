"""The `[[cleanup]]` field tables in docs/cleanup.md, generated from `cachesync_cli/entries/cleaners.py`.

`python -m cachesync_cli.cleanup.reference` prints them; a test fails when the docs differ.
"""

from __future__ import annotations

from cachesync_cli.entries import CLEANUP_TYPES
from cachesync_cli.entries.reference import kinds_markdown


def reference_markdown() -> str:
    return kinds_markdown("cachesync_cli.cleanup.reference", [(None, "cleanup", CLEANUP_TYPES)])


if __name__ == "__main__":
    print(reference_markdown())
