"""The `[[sources]]`/`[[targets]]` field tables in docs/local.md, generated from `cachesync_cli/entries/`.

`python -m cachesync_cli.local.reference` prints them; a test fails when the docs differ.
"""

from __future__ import annotations

from cachesync_cli.entries import SOURCE_TYPES, TARGET_TYPES
from cachesync_cli.entries.reference import kinds_markdown


def reference_markdown() -> str:
    return kinds_markdown("cachesync_cli.local.reference",
                          [("Sources", "sources", SOURCE_TYPES), ("Targets", "targets", TARGET_TYPES)])


if __name__ == "__main__":
    print(reference_markdown())
