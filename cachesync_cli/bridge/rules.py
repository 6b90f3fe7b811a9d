"""Which caches are synced: allow and block lists (WSO2's `sync_block_list`), on both sides.

A pattern is `cache` or `manager/cache`, with `*` and `?` wildcards. A `cache` pattern
matches that cache under any manager. Block wins over allow; an empty allow list allows all.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass

from cachesync_cli.wire.envelope import Item


def _matches(pattern: str, item: Item) -> bool:
    if "/" in pattern:
        manager_pattern, cache_pattern = pattern.split("/", 1)
        return (fnmatch.fnmatchcase(item.manager or "", manager_pattern)
                and fnmatch.fnmatchcase(item.cache, cache_pattern))
    return fnmatch.fnmatchcase(item.cache, pattern)


@dataclass(frozen=True)
class SyncRules:
    allow: tuple[str, ...] = ()
    block: tuple[str, ...] = ()

    def synced(self, item: Item) -> bool:
        if any(_matches(p, item) for p in self.block):
            return False
        return not self.allow or any(_matches(p, item) for p in self.allow)

    def filter(self, items: Iterable[Item]) -> tuple[tuple[Item, ...], int]:
        """(the synced items, how many were left out)."""
        kept, dropped = [], 0
        for item in items:
            if self.synced(item):
                kept.append(item)
            else:
                dropped += 1
        return tuple(kept), dropped
