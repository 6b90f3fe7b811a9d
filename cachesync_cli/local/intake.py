"""`Intake`: whether this cluster's sources are listening, and the windows in which they were not.

A Redis channel or keyspace source cannot get back what was published while nobody
listened (before the bridge started, while its Redis connection was down); a stream source
can tell when entries were trimmed before it read them. Sources report such windows here,
and whether they are receiving now. The bridge announces every window on the topic (an
`intake_gap` in a heartbeat, docs/wire.md), so that every other cluster flushes, and says in
each heartbeat whether its intake works: a bridge whose source is down is not vouching for
its cluster.

Thread-safe: sources call it from their own threads; the bridge's listener must only queue.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

#: Why local invalidations may have been lost (the `reason` of an intake gap).
GAP_REASONS = ("start", "crash", "reconnect", "trimmed", "failover", "overflow", "recreated")


@dataclass(frozen=True)
class IntakeGap:
    """A window in which local invalidations may have been lost: `source` (a source's name,
    or "bridge"), why, and from when (ms since the epoch; None when unknown)."""

    source: str
    reason: str
    since_ms: int | None = None
    detail: str = ""

    def to_wire(self) -> dict:
        wire: dict = {"source": self.source, "reason": self.reason}
        if self.since_ms is not None:
            wire["since"] = self.since_ms
        return wire


class Intake:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._down: dict[str, str] = {}  # source name -> why it is not receiving
        self._listeners: list[Callable[[IntakeGap], None]] = []
        self.gaps = 0  # gaps reported so far

    def on_gap(self, listener: Callable[[IntakeGap], None]) -> None:
        """Call `listener` (from the reporting thread; it must only queue) for every gap."""
        with self._lock:
            self._listeners.append(listener)

    def down(self, source: str, detail: str) -> None:
        """`source` stopped receiving (e.g. its Redis connection was lost)."""
        with self._lock:
            self._down[source] = detail

    def up(self, source: str, *, gap: bool, since_ms: int | None = None, detail: str = "") -> None:
        """`source` receives again; `gap`: what was published meanwhile is lost (pub/sub)."""
        with self._lock:
            self._down.pop(source, None)
        if gap:
            self.gap(IntakeGap(source, "reconnect", since_ms, detail))

    def gap(self, gap: IntakeGap) -> None:
        """Local invalidations may have been lost: announce it."""
        if gap.reason not in GAP_REASONS:
            raise ValueError(f"unknown intake gap reason {gap.reason!r}")
        with self._lock:
            self.gaps += 1
            listeners = list(self._listeners)
        for listener in listeners:
            listener(gap)

    @property
    def working(self) -> bool:
        """Every source is receiving."""
        with self._lock:
            return not self._down

    def not_receiving(self) -> dict[str, str]:
        """The sources that are not receiving now, with why."""
        with self._lock:
            return dict(self._down)
