"""`BridgeStatus`: what a running bridge says about itself at one moment (`Bridge.status()`).

The readers of a bridge's state (`/healthz` in `health.py`, `/metrics` in `metrics.py`,
`/fresh` in `monitor.py`, the live status of `cachesync run` in `cli/live_status.py`) read
this snapshot, never the bridge's parts: the connection, the spool, the incoming and outgoing
threads, the intake and the peer watch may change how they keep their state without them
knowing. Every field is a copy, taken when `status()` was called.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class BridgeStatus:
    cluster: str  # this bridge's [cluster] id
    state: str  # starting, running, reconnecting, stopping, stopped
    broker: str  # the broker endpoint connected to, password masked; "" while not connected
    server: str  # the broker's product and version, as it announced them; "" while not connected
    connected: bool
    failure: str | None  # why the bridge cannot go on (credentials refused...), when it cannot
    targets: tuple[str, ...]  # the names of the targets applied to, in order (drop-ins included)
    failing: Mapping[str, str]  # target name -> the error of its last apply, while it fails
    spool_batches: int  # batches waiting in the spool for the broker
    spool_keys: int
    oldest_unpublished: float | None  # seconds the oldest local invalidation not yet confirmed has waited
    intake_working: bool  # every source receives
    intake_down: Mapping[str, str]  # source name -> why it is not receiving
    duplicate_nodes: tuple[str, ...]  # other running bridges of this cluster id, heard lately
    fenced: bool  # GET /fresh answers 503
    freshness: Mapping  # the body of GET /fresh (`PeerWatch.freshness`)
    stats: Mapping  # `BridgeStats.snapshot()`: counters, peers, last_gap, latency_counts, latency_sum, lag_ms
    cleanup: tuple[Mapping, ...] | None  # each scheduled [[cleanup]] job (`Scheduler.status()`); None: none

    def total(self, counter: str) -> int:
        """A counter summed over its labels."""
        return sum(value for (name, _), value in self.stats["counters"].items() if name == counter)
