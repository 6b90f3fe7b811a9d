"""`DuplicateCluster`: another running bridge with this bridge's cluster id.

Two bridges with one `[cluster] id` share its durable subscription (competing consumers on
AMQP): each receives only part of the messages, sees gaps in every other cluster's sequence
and flushes every cache. At start the transport refuses a subscription that already has a
consumer where it can tell (`SubscriptionSpec.alone`); this catches the rest (a transport
that cannot tell, both started at once): a heartbeat of this cluster id from a bridge node
that is not this one, arriving after this bridge's own first heartbeat came back (what the
old node of a restart sent waits in the queue ahead of it: no clock is compared), and not
the last heartbeat of a clean stop. Each is counted (`cachesync_duplicate_cluster_total{node}`);
an ERROR line says so at most once a minute; `/healthz` and the live status show the other
nodes heard within the last minute.
"""

from __future__ import annotations

import logging
import threading
import time

from cachesync_cli.bridge.stats import BridgeStats

log = logging.getLogger("cachesync.bridge")

RECENT = 60.0  # seconds a duplicate node is reported after its last heartbeat; and between two log lines


class DuplicateCluster:
    def __init__(self, cluster: str, own_node: str, stats: BridgeStats) -> None:
        self.cluster = cluster
        self.own_node = own_node
        self.stats = stats
        self._own_back = False  # one of this bridge's heartbeats came back: what follows was sent since
        self._heard: dict[str, float] = {}  # other node -> monotonic time of its last heartbeat
        self._logged = 0.0
        self._lock = threading.Lock()

    def heartbeat(self, node: str, stopping: bool) -> None:
        """A bridge heartbeat of this cluster id came from the broker (incoming thread)."""
        if node == self.own_node:
            self._own_back = True
            return
        if stopping or not self._own_back:
            return
        now = time.monotonic()
        self.stats.inc("duplicate_cluster", label=node)
        with self._lock:
            self._heard[node] = now
            due = not self._logged or now - self._logged >= RECENT
            if due:
                self._logged = now
        if due:
            log.error("another bridge runs with cluster id %s (node %s; this one is %s): both take from one "
                      "subscription, so each misses messages and flushes every cache. Stop one, or give it its "
                      "own [cluster] id", self.cluster, node, self.own_node)

    def nodes(self) -> list[str]:
        """The other nodes of this cluster id heard within the last minute."""
        now = time.monotonic()
        with self._lock:
            return sorted(node for node, heard in self._heard.items() if now - heard <= RECENT)
