"""What a bridge counts: the source of its logs' figures, `/metrics` and the live status.

Counters only go up; each has an optional label (a reason, a target, an origin).
Thread-safe: every bridge thread increments them.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field

COUNTERS: dict[str, str] = {
    "published_messages": "Envelopes published to the topic.",
    "published_keys": "Keys published (an `all` item counts 0).",
    "local_received": "Local messages taken from sources.",
    "local_rejected": "Local messages rejected, by reason.",
    "local_filtered": "Local items not published because the sync rules exclude them.",
    "received": "Messages received from the topic.",
    "rejected": "Messages from the topic rejected, by reason.",
    "echoes_skipped": "Messages from this cluster skipped (echo suppression).",
    "duplicates": "Messages dropped as already applied (same id).",
    "filtered": "Received items not applied because the sync rules exclude them.",
    "applied": "Messages applied to every target.",
    "applied_keys": "Keys applied.",
    "apply_failures": "Failed attempts to apply to a target, by target.",
    "gaps": "Gaps seen in another cluster's sequence numbers, by origin.",
    "flushes": "Gap flushes performed, by origin.",
    "spooled": "Local batches written to the spool while the broker was unreachable.",
    "spool_collapses": "Times the spool collapsed its keys to `all` per cache.",
    "reconnects": "Reconnections to the broker.",
    "heartbeats_sent": "Heartbeats published.",
}


@dataclass
class PeerState:
    """Another cluster as this bridge sees it."""

    origin: str
    node: str
    last_seq: int
    last_seen: float  # time.time()
    gaps: int = 0


@dataclass
class BridgeStats:
    counters: Counter = field(default_factory=Counter)
    peers: dict[str, PeerState] = field(default_factory=dict)
    last_gap: tuple[float, str] | None = None  # (time.time(), origin)
    apply_latency: list[float] = field(default_factory=list)  # seconds, recent samples
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def inc(self, name: str, amount: int = 1, label: str = "") -> None:
        if name not in COUNTERS:
            raise KeyError(f"unknown counter {name!r}")
        with self._lock:
            self.counters[(name, label)] += amount

    def get(self, name: str, label: str | None = None) -> int:
        with self._lock:
            if label is not None:
                return self.counters[(name, label)]
            return sum(v for (n, _), v in self.counters.items() if n == name)

    def by_label(self, name: str) -> dict[str, int]:
        with self._lock:
            return {label: v for (n, label), v in self.counters.items() if n == name}

    def peer_seen(self, origin: str, node: str, seq: int) -> None:
        with self._lock:
            peer = self.peers.get(origin)
            if peer is None:
                self.peers[origin] = PeerState(origin, node, seq, time.time())
            else:
                peer.node, peer.last_seq, peer.last_seen = node, seq, time.time()

    def gap(self, origin: str) -> None:
        self.inc("gaps", label=origin)
        with self._lock:
            self.last_gap = (time.time(), origin)
            if origin in self.peers:
                self.peers[origin].gaps += 1

    def observe_apply(self, seconds: float) -> None:
        with self._lock:
            self.apply_latency.append(seconds)
            if len(self.apply_latency) > 10_000:
                del self.apply_latency[:5_000]
