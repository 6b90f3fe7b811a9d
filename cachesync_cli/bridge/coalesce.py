"""Merging local invalidations before they are published.

Duplicated keys are sent once (Java object keys compared by their exact bytes), and an `all`
for a cache absorbs every key of that cache (under the same tenant and manager). Order is kept: caches in order of first appearance,
keys in order of first appearance.
"""

from __future__ import annotations

from collections.abc import Iterable

from cachesync_cli.wire.envelope import Item, Tenant

Slot = tuple[Tenant | None, str | None, str]  # tenant, manager, cache


class Coalescer:
    def __init__(self) -> None:
        # per slot: its string keys and Java keys (dicts keep order), or None for `all`
        self._slots: dict[Slot, tuple[dict[str, None], dict[bytes, None]] | None] = {}

    def add(self, items: Iterable[Item], tenant: Tenant | None) -> None:
        for item in items:
            slot = (tenant, item.manager, item.cache)
            if item.all:
                self._slots[slot] = None
                continue
            keys = self._slots.setdefault(slot, ({}, {}))
            if keys is not None:
                keys[0].update(dict.fromkeys(item.keys))
                keys[1].update(dict.fromkeys(item.java_keys))

    def __bool__(self) -> bool:
        return bool(self._slots)

    def batches(self) -> list[tuple[Tenant | None, tuple[Item, ...]]]:
        """The merged items, grouped by tenant (one group per tenant, in order)."""
        by_tenant: dict[Tenant | None, list[Item]] = {}
        for (tenant, manager, cache), keys in self._slots.items():
            items = by_tenant.setdefault(tenant, [])
            if keys is None:
                items.append(Item(cache=cache, all=True, manager=manager))
                continue
            if keys[0]:
                items.append(Item(cache=cache, keys=tuple(keys[0]), manager=manager))
            if keys[1]:
                items.append(Item(cache=cache, java_keys=tuple(keys[1]), manager=manager))
        return [(tenant, tuple(items)) for tenant, items in by_tenant.items()]


def coalesce(messages: Iterable[tuple[Tenant | None, Iterable[Item]]]) -> list[tuple[Tenant | None, tuple[Item, ...]]]:
    coalescer = Coalescer()
    for tenant, items in messages:
        coalescer.add(items, tenant)
    return coalescer.batches()
