"""Echo safety of a cluster-local broker leg (docs/local.md, the broker source and target).

A bridge's broker target delivers the other clusters' invalidations to a cluster-local
topic, which its broker source reads: without care, what it delivered comes back as this
cluster's own and goes round again. Two things stop it:

- **The reserved producer prefix.** Every leg publishes under a producer name (WSO2
  `sender`; native `origin`) that starts with `RESERVED_PREFIX`, and every broker source
  skips such messages, whichever bridge wrote them.
- **`LegGuard`**, a short-lived memory of (topic, tenant, manager, cache, key bytes) just
  delivered. WSO2 IS in hybrid mode re-publishes what a coordinator relays under the
  node's own `sender`, and MQTT 3.1.1 or IBM MQ may lose the property: such a message is
  recognised by its content. A source also notes what another bridge's leg delivered
  (it sees the prefix), so two bridges on one IS topic do not relay each other's
  deliveries back and forth.

Within `window` seconds, an invalidation equal to one just delivered is taken for its
echo and not published again: the same key invalidated again that soon in this cluster
is not relayed (the delivery a moment ago already reached the other clusters).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict

from cachesync_cli.entries.broker_leg import ECHO_WINDOW as DEFAULT_WINDOW
from cachesync_cli.wire.envelope import Item, Tenant
from cachesync_cli.wire.javaser import serialize_string

RESERVED_PREFIX = "cachesync-bridge/"
"""The start of every producer name a bridge's broker leg publishes under; broker sources skip it."""

MAX_ENTRIES = 200_000  # a flood must not grow the guard without bound: the oldest go first

GuardKey = tuple[str, str, int | None, str, str, bytes | None]


def leg_producer(cluster: str) -> str:
    """The producer name (WSO2 `sender`, native `origin`) of cluster `cluster`'s legs."""
    return f"{RESERVED_PREFIX}{cluster}"


def is_leg_producer(name: str | None) -> bool:
    return bool(name) and name.startswith(RESERVED_PREFIX)


def guard_keys(topic: str, tenant: Tenant | None, item: Item) -> list[GuardKey]:
    """What identifies `item`'s invalidations on `topic`: one entry per key, as Java
    serialization bytes (a string key as IS writes it, an object key as it came), or one
    for the whole cache (None)."""
    domain, tenant_id = (tenant.domain, tenant.id) if tenant is not None else ("", None)
    base = (topic, domain, tenant_id, item.manager or "", item.cache)
    if item.all:
        return [(*base, None)]
    return [(*base, serialize_string(key)) for key in item.keys] + [(*base, stream) for stream in item.java_keys]


class LegGuard:
    """Invalidations a broker leg delivered (or saw another leg deliver) a moment ago.
    Thread-safe: targets note from the applying thread, sources look from theirs."""

    def __init__(self, window: float = DEFAULT_WINDOW) -> None:
        self.window = window
        self._lock = threading.Lock()
        self._until: OrderedDict[GuardKey, float] = OrderedDict()

    def note(self, topic: str, tenant: Tenant | None, items, window: float | None = None) -> None:
        now = time.monotonic()
        until = now + (self.window if window is None else window)
        with self._lock:
            for item in items:
                for key in guard_keys(topic, tenant, item):
                    self._until[key] = until
                    self._until.move_to_end(key)
            while self._until:
                key, oldest = next(iter(self._until.items()))
                if oldest >= now and len(self._until) <= MAX_ENTRIES:
                    break
                del self._until[key]

    def is_echo(self, topic: str, tenant: Tenant | None, item: Item) -> bool:
        """Whether every invalidation of `item` was delivered on `topic` a moment ago. Not
        forgotten on a match: several IS nodes may each re-publish the same relay."""
        now = time.monotonic()
        with self._lock:
            return all(self._until.get(key, 0.0) >= now for key in guard_keys(topic, tenant, item))
