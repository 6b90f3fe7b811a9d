"""A limit on `all` invalidations per origin: a flood of clear-alls (an attacker with the
topic's credentials, or a bug in a sender) must not keep every cache of this cluster empty.

Each origin has a token bucket (`[sync] all_rate` per second, `all_burst` at once). A message
with `all` items that finds a token is applied at once. One that finds none is held, not
dropped (dropping an `all` would leave caches silently stale): its `all` items join one
pending flush per origin, and the held messages stay unacknowledged until that flush is
applied, when the next token comes. However many arrive meanwhile, each cache is flushed
once per token: the flood is coalesced, counted and logged, and never lost.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from cachesync_cli.wire.envelope import Item, Tenant


@dataclass
class HeldFlush:
    """`all` items of one origin waiting for a token, and what to do once they are applied."""

    origin: str
    items: dict[tuple[Tenant | None, str | None, str], Item] = field(default_factory=dict)
    done: list[Callable[[], None]] = field(default_factory=list)
    messages: int = 0

    def add(self, tenant: Tenant | None, items, done: Callable[[], None]) -> None:
        for item in items:
            self.items.setdefault((tenant, item.manager, item.cache), item)
        self.done.append(done)
        self.messages += 1

    def batches(self) -> dict[Tenant | None, tuple[Item, ...]]:
        """The held items grouped by tenant, one `all` per cache."""
        grouped: dict[Tenant | None, list[Item]] = {}
        for (tenant, _, _), item in self.items.items():
            grouped.setdefault(tenant, []).append(item)
        return {tenant: tuple(items) for tenant, items in grouped.items()}


class AllLimiter:
    """Token buckets per origin for messages that carry `all` items. Used by one thread."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = max(1, burst)
        self.clock = clock
        self._tokens: dict[str, tuple[float, float]] = {}  # origin -> (tokens, at)
        self.held: dict[str, HeldFlush] = {}

    def _refill(self, origin: str) -> float:
        now = self.clock()
        tokens, at = self._tokens.get(origin, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - at) * self.rate)
        self._tokens[origin] = (tokens, now)
        return tokens

    def take(self, origin: str) -> bool:
        """Spend a token of `origin` if it has one, and nothing of it is held (order)."""
        tokens = self._refill(origin)
        if tokens < 1 or origin in self.held:
            return False
        self._tokens[origin] = (tokens - 1, self._tokens[origin][1])
        return True

    def hold(self, origin: str, tenant: Tenant | None, items, done: Callable[[], None]) -> None:
        """Keep `all` items over the limit for the origin's next flush."""
        self.held.setdefault(origin, HeldFlush(origin)).add(tenant, items, done)

    def due(self) -> list[HeldFlush]:
        """Held flushes whose origin has a token again (the token is spent)."""
        ready = []
        for origin in list(self.held):
            tokens = self._refill(origin)
            if tokens >= 1:
                self._tokens[origin] = (tokens - 1, self._tokens[origin][1])
                ready.append(self.held.pop(origin))
        return ready

    def next_due(self) -> float | None:
        """Seconds until a held flush can go, or None when nothing is held."""
        if not self.held:
            return None
        return min(max(0.0, (1 - self._refill(origin)) / self.rate) for origin in self.held)
