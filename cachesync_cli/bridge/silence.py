"""`SilenceWatch`: the staleness bound, timed by the receiver.

A cluster whose invalidations stop reaching us (its bridge is down or cut off, our path to
the broker is cut, the broker is away) cannot tell us so. We can tell it ourselves: every
bridge sends a heartbeat every `heartbeat_interval`, so a watched cluster we have not heard
from for `max_silence` may be revoking entries we still serve. The bridge then flushes
`[sync] silence_flush`, and again every `max_silence` while the silence lasts (an
application may have cached an entry again meanwhile).

*Heard* means received, on a monotonic clock: the transport's thread stamps every delivery
with its origin (`arrived`), so a slow target or a long flush, which delays applying, never
looks like silence. A message counts once it is handled in order (`handled`), and only
when a bridge of the cluster sent it (`invalidate`, `doctor` and `retire` publish under a
cluster's id too, and say nothing of its bridge): a heartbeat whose bridge says its intake
is down, or that it is stopping, does not vouch for its cluster, and one that says its
oldest invalidation has waited `pending` ms counts as heard that much earlier. While messages from a cluster have arrived and wait to be applied, their
arrival counts.

*Fresh again* (for fencing) only once a heartbeat sent after the silence was detected has
been handled, which means everything queued before it was applied.

Thread-safety: `arrived` runs on the transport's thread, everything else on the applying
thread; `report` on any thread (health, status).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from cachesync_cli.bridge.sequence import RecentIds
from cachesync_cli.wire.bridge_info import BridgeInfo


MAX_BRIDGE_NODES = 16  # node ids remembered per cluster (a bridge's restarts, HA pairs)


@dataclass
class _Peer:
    heard: float  # monotonic: until when this cluster's invalidations are known to have reached us
    arrived: float = 0.0  # monotonic: the latest delivery from it (the transport's thread)
    handled_arrival: float = 0.0  # the arrival stamp of the latest message of it handled
    vouching: bool = True  # its bridge's latest heartbeat says its intake works
    pending: float = 0.0  # seconds its bridge's oldest unpublished invalidation had waited
    silent_since_ms: int | None = None  # wall clock, when silence was detected; None: fresh
    last_flush: float | None = None  # monotonic, the latest silence flush for it
    bridge_nodes: RecentIds = field(default_factory=lambda: RecentIds(MAX_BRIDGE_NODES))  # its bridges' nodes

    def effective(self) -> float:
        if self.arrived > self.handled_arrival and self.silent_since_ms is None:
            # waiting to be applied: arrived, not lost, and as old as its bridge last said its
            # backlog was. Not after a silence: a sender back from a cut delivers a flood of
            # old messages first; only its heartbeats say how old (see `handled`).
            return max(self.heard, self.arrived - self.pending)
        return self.heard


@dataclass(frozen=True)
class SilenceReport:
    silent: dict[str, float]  # cluster -> seconds since heard, for clusters silent now
    not_fresh: list[str]  # clusters not fresh again yet (silent now, or no heartbeat since)
    watched: list[str]


class SilenceWatch:
    def __init__(self, max_silence: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_silence = max_silence
        self.clock = clock
        self._peers: dict[str, _Peer] = {}
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.max_silence > 0

    def watch(self, clusters: Iterable[str]) -> list[str]:
        """Watch `clusters` from now on (heard "now": their silence counts from here). The
        clusters that were not watched yet."""
        now = self.clock()
        added = []
        with self._lock:
            for cluster in clusters:
                if cluster not in self._peers:
                    self._peers[cluster] = _Peer(heard=now)
                    added.append(cluster)
        return added

    def forget(self, cluster: str) -> None:
        with self._lock:
            self._peers.pop(cluster, None)

    def watched(self) -> list[str]:
        with self._lock:
            return sorted(self._peers)

    def arrived(self, cluster: str, at: float) -> None:
        """A message from `cluster` was delivered at `at` (monotonic). Cheap: transport thread."""
        peer = self._peers.get(cluster)
        if peer is not None and at > peer.arrived:
            peer.arrived = at

    def handled(self, cluster: str, arrived: float, *, node: str = "", bridge: BridgeInfo | None = None,
                sent_ms: int | None = None) -> bool:
        """A message from `cluster` (its `node`) that arrived at `arrived` was handled
        (applied, or it was a heartbeat), in order. `bridge`: what its heartbeat said. True
        when this made the cluster fresh again after a silence."""
        with self._lock:
            peer = self._peers.get(cluster)
            if peer is None:
                return False
            peer.handled_arrival = max(peer.handled_arrival, arrived)
            if bridge is None and not peer.bridge_nodes.seen(node):
                return False  # not from one of its bridges: says nothing of its invalidations
            if bridge is not None:
                peer.bridge_nodes.add(node)
                peer.vouching = bridge.vouching
                peer.pending = bridge.pending / 1000
            if peer.vouching and (bridge is not None or peer.silent_since_ms is None):
                # After a silence, only a heartbeat says how long its invalidations waited:
                # what it had spooled meanwhile arrives first, and is no news of now.
                peer.heard = max(peer.heard, arrived - peer.pending)
            if (bridge is not None and bridge.vouching and peer.silent_since_ms is not None and sent_ms is not None
                    and sent_ms >= peer.silent_since_ms and self.clock() - peer.heard <= self.max_silence):
                peer.silent_since_ms = None
                return True
            return False

    def due(self) -> list[str]:
        """The clusters silent for longer than `max_silence` whose flush is due now (the
        first, or `max_silence` after the previous one); marks them flushed now."""
        if not self.enabled:
            return []
        now = self.clock()
        due = []
        with self._lock:
            for cluster, peer in self._peers.items():
                if now - peer.effective() <= self.max_silence:
                    peer.last_flush = None
                    continue
                if peer.silent_since_ms is None:
                    peer.silent_since_ms = int(time.time() * 1000)
                if peer.last_flush is None or now - peer.last_flush >= self.max_silence:
                    peer.last_flush = now
                    due.append(cluster)
        return due

    def report(self) -> SilenceReport:
        now = self.clock()
        with self._lock:
            silent = {c: round(now - p.effective(), 3) for c, p in self._peers.items()
                      if self.enabled and now - p.effective() > self.max_silence}
            not_fresh = sorted(c for c, p in self._peers.items() if p.silent_since_ms is not None or c in silent)
            return SilenceReport(silent=silent, not_fresh=not_fresh, watched=sorted(self._peers))
