"""`PeerWatch`: the clusters a bridge watches, and whether it may say its cluster is fresh.

A cluster is watched once its bridge's heartbeat arrives (kept in the state file, so that a
bridge restarted during an outage still watches the silent cluster), from the start when
pinned in `[sync] peers`, and until an operator retires it (`cachesync retire`). The
silence itself is timed by `SilenceWatch`; this decides what `GET /fresh` answers.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from cachesync_cli.bridge.silence import SilenceWatch
from cachesync_cli.bridge.state import BridgeState
from cachesync_cli.transport.connection import BrokerConnection

log = logging.getLogger("cachesync.bridge")


class PeerWatch:
    def __init__(self, *, cluster: str, silence: SilenceWatch, state: BridgeState, pinned: Sequence[str],
                 connection: BrokerConnection, fence: bool, heartbeat_interval: float) -> None:
        self.cluster = cluster
        self.silence = silence
        self.state = state
        self.pinned = [peer for peer in pinned if peer != cluster]
        self.connection = connection
        self.fence = fence
        self.heartbeat_interval = heartbeat_interval
        self._own_heard = 0.0  # monotonic: when one of this bridge's own messages last came back
        retired = set(state.retired()) - set(self.pinned)
        silence.watch([c for c in state.watched() if c not in retired and c != cluster] + self.pinned)

    def bridge_seen(self, cluster: str) -> None:
        """A bridge of `cluster` sent a heartbeat: watch it, now and after restarts."""
        if self.silence.watch([cluster]):
            log.info("watching %s (its bridge's heartbeats bound the staleness of its invalidations here)",
                     cluster)
        if self.state.watch(cluster):
            log.info("remembered %s in %s", cluster, self.state.path)

    def retire(self, cluster: str, by: str) -> None:
        """`cachesync retire CLUSTER` (run by `by`): stop watching it, persistently."""
        if cluster == self.cluster or cluster in self.pinned:
            log.warning("%s asked to retire %s, which is %s: ignored", by, cluster,
                        "this cluster" if cluster == self.cluster else "pinned in [sync] peers")
            return
        self.state.retire(cluster, by)
        self.silence.forget(cluster)
        log.warning("retired %s (asked by %s): no longer watched, its silence flushes nothing", cluster, by)

    def echo(self, arrived: float) -> None:
        """One of this cluster's own messages came back from the broker at `arrived`."""
        self._own_heard = arrived

    def own_path_works(self) -> bool:
        """Connected, and this bridge's own messages come back from the broker."""
        limit = max(self.silence.max_silence, 4 * self.heartbeat_interval)
        return self.connection.connected and time.monotonic() - self._own_heard <= limit

    def freshness(self) -> tuple[bool, dict]:
        """(fenced, report) for GET /fresh. Fenced only with `fence` in `[sync] on_silence`,
        while a watched cluster is not fresh and this bridge's own path to the broker is
        broken: a cluster that hears the broker and not a peer is not the one cut off."""
        report = self.silence.report()
        own_path = self.own_path_works()
        fenced = self.fence and bool(report.not_fresh) and not own_path
        return fenced, {"fresh": not report.not_fresh, "fenced": fenced, "own_path": own_path,
                        "silent": report.silent, "not_fresh": report.not_fresh, "watched": report.watched,
                        "all_silent": bool(report.watched) and len(report.silent) == len(report.watched),
                        "max_silence": self.silence.max_silence}
