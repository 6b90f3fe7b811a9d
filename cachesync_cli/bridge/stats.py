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
    "local_rejected": "Local messages (or items of them) rejected, by reason.",
    "local_oversized_keys": "Local keys too large for a message, published as `all` for their cache instead.",
    "local_uncarried_keys": "Local keys the legacy WSO2 text cannot carry ('}', line breaks), published as a "
                            "clear-all of their cache instead.",
    "local_legacy_shortfalls": "Writing both WSO2 formats: legacy copies sent as a clear-all of their cache "
                               "(clear-all, once per item) or not sent (omitted, names it cannot carry), by kind.",
    "local_filtered": "Local items not published because the sync rules exclude them.",
    "received": "Messages received from the topic.",
    "rejected": "Messages from the topic rejected, by reason.",
    "echoes_skipped": "Messages from this cluster skipped (echo suppression).",
    "duplicates": "Messages dropped as already applied (same id).",
    "filtered": "Received items not applied because the sync rules exclude them.",
    "applied": "Messages applied to every target.",
    "applied_keys": "Keys applied.",
    "skipped_java_keys": "Java object keys (WSO2 IS key objects) a target cannot use and was not handed, by target.",
    "unusable_keys": "Keys that name no entry (a legacy WSO2 connector's Class@hash): their cache was flushed "
                     "instead, by cache.",
    "apply_failures": "Failed attempts to apply to a target, by target.",
    "gaps": "Gaps seen in another cluster's sequence numbers, by origin.",
    "flushes": "Gap flushes performed, by origin.",
    "intake_gaps": "Intake gaps another cluster announced (its local invalidations may be lost), each followed "
                   "by a flush of [sync] silence_flush, by origin.",
    "intake_gaps_announced": "Intake gaps this bridge announced (start, crash, a source's outage...), by reason.",
    "silence_flushes": "Flushes because a watched cluster was silent for longer than [sync] max_silence, by origin.",
    "all_limited": "Messages whose `all` items were over `[sync] all_rate` and coalesced, by origin.",
    "spooled": "Local batches written to the spool while the broker was unreachable.",
    "spool_collapses": "Times the spool collapsed its keys to `all` per cache.",
    "reconnects": "Reconnections to the broker.",
    "duplicate_cluster": "Heartbeats of this cluster id from another running bridge (two bridges with one [cluster] "
                         "id share its subscription), by node.",
    "heartbeats_sent": "Heartbeats published.",
    "acks_sent": "Acknowledgements published for messages that asked for one (ack: true).",
    "rules_reloads": "Rule files (cachesync.d/) loaded, by outcome (ok, rejected).",
    "cleanup_runs": "Scheduled cleanup runs ([[cleanup]]), by target.",
    "cleanup_removed": "Keys or files removed by cleanup runs (ttl policy: given a TTL), by target.",
    "cleanup_failures": "Cleanup runs that failed, by target.",
}

#: Upper bounds (seconds) of the apply-latency histogram buckets.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


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
    #: apply latency histogram: counts per LATENCY_BUCKETS bound (+ one for +Inf), and the sum
    latency_counts: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BUCKETS) + 1))
    latency_sum: float = 0.0
    #: per origin: milliseconds from the sender's `ts` to applied, for the last message
    lag_ms: dict[str, int] = field(default_factory=dict)
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

    def observe_apply(self, seconds: float, origin: str | None = None, sent_ms: int | None = None) -> None:
        """One message applied in `seconds`; `sent_ms` is its `ts`, for the origin's lag."""
        with self._lock:
            index = next((i for i, bound in enumerate(LATENCY_BUCKETS) if seconds <= bound), len(LATENCY_BUCKETS))
            self.latency_counts[index] += 1
            self.latency_sum += seconds
            if origin is not None and sent_ms is not None:
                self.lag_ms[origin] = max(0, int(time.time() * 1000) - sent_ms)

    def snapshot(self) -> dict:
        """Everything, copied under the lock: for /metrics, status and logs."""
        with self._lock:
            return {
                "counters": dict(self.counters),
                "peers": {o: PeerState(**vars(p)) for o, p in self.peers.items()},
                "last_gap": self.last_gap,
                "latency_counts": list(self.latency_counts),
                "latency_sum": self.latency_sum,
                "lag_ms": dict(self.lag_ms),
            }
