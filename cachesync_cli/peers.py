"""The clusters on the topic, as their heartbeats and acknowledgements show them.

`TopicWatcher` subscribes transiently (it takes nothing from any bridge) and records, per
origin, the latest heartbeat (node, seq, what it applied per origin) and every `ack` seen.
`status` and `invalidate --wait-acks` are built on it. A cluster that stopped sending has
no heartbeat to hear: the bridges that watch it say so in theirs (`stopped_clusters`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from cachesync_cli.errors import DecodeError
from cachesync_cli.transport.base import Delivery, SubscriptionSpec
from cachesync_cli.transport.connection import BrokerConnection
from cachesync_cli.wire import ACK, HEARTBEAT, Keyring, decode_envelope


@dataclass
class Peer:
    origin: str
    node: str
    seq: int
    last_seen: float  # time.time() when its heartbeat arrived
    sent_ms: int  # the heartbeat's ts
    applied: dict[str, int] = field(default_factory=dict)
    heartbeats: int = 0
    restarts: int = 0  # times its node id changed while watching
    intake: str = ""  # its bridge's intake: ok, down, none ("" from a bridge that does not say)
    pending_ms: int = 0  # how long its oldest unpublished invalidation had waited
    silent: dict[str, int] = field(default_factory=dict)  # clusters its bridge no longer hears -> ms

    @property
    def lag_ms(self) -> int:
        """From the heartbeat's timestamp to its arrival here (clock skew included)."""
        return max(0, int(self.last_seen * 1000) - self.sent_ms)

    def to_json(self, now: float) -> dict:
        return {"origin": self.origin, "node": self.node, "seq": self.seq,
                "last_seen_seconds": round(now - self.last_seen, 3), "lag_ms": self.lag_ms,
                "applied": self.applied, "heartbeats": self.heartbeats, "restarts": self.restarts,
                "intake": self.intake or None, "pending_ms": self.pending_ms}


class TopicWatcher:
    def __init__(self, connection: BrokerConnection, topic: str, *, keyring: Keyring | None = None) -> None:
        self.connection = connection
        self.topic = topic
        self.keyring = keyring
        self.peers: dict[str, Peer] = {}
        self.acks: dict[str, set[str]] = {}  # message id -> origins that acknowledged it
        self.rejected = 0
        self._changed = threading.Condition()

    def start(self) -> TopicWatcher:
        self.connection.subscribe(SubscriptionSpec(self.topic, self._deliver))
        return self

    def _deliver(self, delivery: Delivery) -> None:  # driver thread: short
        try:
            envelope = decode_envelope(delivery.body)
            if self.keyring is not None:
                self.keyring.verify_envelope(envelope)
        except DecodeError:
            self.rejected += 1
            return
        with self._changed:
            if envelope.type == HEARTBEAT:
                peer = self.peers.get(envelope.origin)
                if peer is None:
                    peer = self.peers[envelope.origin] = Peer(envelope.origin, envelope.node, envelope.seq,
                                                              time.time(), envelope.ts)
                elif peer.node != envelope.node:
                    peer.restarts += 1
                peer.node, peer.seq, peer.last_seen, peer.sent_ms = (envelope.node, envelope.seq, time.time(),
                                                                      envelope.ts)
                peer.applied = dict(envelope.applied or {})
                peer.heartbeats += 1
                if envelope.bridge is not None:
                    peer.intake, peer.pending_ms = envelope.bridge.intake, envelope.bridge.pending
                    peer.silent = dict(envelope.bridge.silent)
            elif envelope.type == ACK and envelope.ack_of:
                self.acks.setdefault(envelope.ack_of, set()).add(envelope.origin)
            self._changed.notify_all()

    def wait_for_acks(self, message_ids: Iterable[str], expected: Iterable[str], timeout: float) -> set[str]:
        """The expected origins that acknowledged every one of `message_ids` within `timeout`."""
        ids, wanted = list(message_ids), set(expected)
        deadline = time.monotonic() + timeout

        def done() -> set[str]:
            return {o for o in wanted if all(o in self.acks.get(i, ()) for i in ids)}

        with self._changed:
            while (remaining := deadline - time.monotonic()) > 0 and done() != wanted:
                self._changed.wait(min(remaining, 0.5))
            return done()

    def wait_for_peers(self, seconds: float) -> dict[str, Peer]:
        """Listen for `seconds`; the peers seen (a heartbeat interval or two is enough)."""
        time.sleep(seconds)
        with self._changed:
            return dict(self.peers)


@dataclass(frozen=True)
class StoppedCluster:
    """A cluster no heartbeat was heard from, which running bridges say fell silent."""

    origin: str
    silent_seconds: float  # since the bridge that heard it last heard it, as of now
    per: tuple[str, ...]  # the clusters whose bridges report it silent

    def to_json(self) -> dict:
        return {"origin": self.origin, "silent_seconds": round(self.silent_seconds, 1), "per": list(self.per)}


def stopped_clusters(peers: dict[str, Peer], now: float) -> list[StoppedCluster]:
    """The clusters the live `peers` report silent and that were not heard themselves, by
    name; how long counts from the report that heard them most recently."""
    reports: dict[str, list[tuple[float, str]]] = {}
    for peer in peers.values():
        for origin, ms in peer.silent.items():
            if origin not in peers:
                reports.setdefault(origin, []).append((ms / 1000 + now - peer.last_seen, peer.origin))
    return [StoppedCluster(origin, min(seconds for seconds, _ in found), tuple(sorted(by for _, by in found)))
            for origin, found in sorted(reports.items())]
