"""Which caches are synced: allow and block lists (WSO2's `sync_block_list`), on both sides.

A pattern is `cache` or `manager/cache`, with `*` and `?` wildcards. A `cache` pattern
matches that cache under any manager. Block wins over allow; an empty allow list allows all.
Rules may also be given per tenant (domain): an item of that tenant must pass both the
global rules and its tenant's.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from cachesync_cli.wire.envelope import Item, Tenant


def _matches(pattern: str, item: Item) -> bool:
    if "/" in pattern:
        manager_pattern, cache_pattern = pattern.split("/", 1)
        return (fnmatch.fnmatchcase(item.manager or "", manager_pattern)
                and fnmatch.fnmatchcase(item.cache, cache_pattern))
    return fnmatch.fnmatchcase(item.cache, pattern)


@dataclass(frozen=True)
class CacheRules:
    allow: tuple[str, ...] = ()
    block: tuple[str, ...] = ()

    def synced(self, item: Item) -> bool:
        if any(_matches(p, item) for p in self.block):
            return False
        return not self.allow or any(_matches(p, item) for p in self.allow)


@dataclass(frozen=True)
class SyncRules(CacheRules):
    tenants: Mapping[str, CacheRules] = field(default_factory=dict)

    def synced(self, item: Item, tenant: Tenant | None = None) -> bool:
        if not super().synced(item):
            return False
        tenant_rules = self.tenants.get(tenant.domain) if tenant is not None else None
        return tenant_rules is None or tenant_rules.synced(item)

    def filter(self, items: Iterable[Item], tenant: Tenant | None = None) -> tuple[tuple[Item, ...], int]:
        """(the synced items, how many were left out)."""
        kept, dropped = [], 0
        for item in items:
            if self.synced(item, tenant):
                kept.append(item)
            else:
                dropped += 1
        return tuple(kept), dropped
