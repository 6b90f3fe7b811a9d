"""The clusters on the topic, as their heartbeats and acknowledgements show them.

`TopicWatcher` subscribes transiently (it takes nothing from any bridge) and records, per
origin, the latest heartbeat (node, seq, what it applied per origin) and every `ack` seen.
`status` and `invalidate --wait-acks` are built on it.
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
    heard: dict[str, int] = field(default_factory=dict)  # per other origin, the last seq heard here before
    #   this heartbeat arrived: what that origin had sent when this one reported `applied`

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
        self.retired: set[str] = set()  # clusters a `cachesync retire` heartbeat named
        self._first_seq: dict[str, int] = {}  # per origin, the seq of the first message heard
        self._last_seq: dict[str, int] = {}  # per origin, the seq of the last message heard
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
            self._first_seq.setdefault(envelope.origin, envelope.seq)
            if envelope.type == HEARTBEAT and envelope.retire:
                self.retired.update(envelope.retire)
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
                peer.heard = {o: seq for o, seq in self._last_seq.items() if o != envelope.origin}
                peer.heartbeats += 1
                if envelope.bridge is not None:
                    peer.intake, peer.pending_ms = envelope.bridge.intake, envelope.bridge.pending
            elif envelope.type == ACK and envelope.ack_of:
                self.acks.setdefault(envelope.ack_of, set()).add(envelope.origin)
            self._last_seq[envelope.origin] = envelope.seq
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

    def behind(self, origin: str) -> dict[str, int]:
        """For each other cluster: how many of `origin`'s messages it had not applied when it sent
        its last heartbeat. Counted against what `origin` had sent by then (the last seq heard
        here before that heartbeat arrived), not against `origin`'s latest heartbeat: a heartbeat
        is numbered too, and one sent after the other cluster's report is not "behind"."""
        with self._changed:
            before_watching = self._first_seq.get(origin, 1) - 1  # what it had sent before this watcher listened
            return {other.origin: max(0, other.heard.get(origin, before_watching) - other.applied[origin])
                    for other in self.peers.values() if other.origin != origin and origin in other.applied}

    def unheard(self, expected: Iterable[str] = ()) -> set[str]:
        """The clusters known of but not heard yet: named in `expected` (e.g. `[sync] peers`) or
        in a heard bridge's `applied`, less the retired ones."""
        with self._changed:
            return self._unheard(set(expected))

    def _unheard(self, expected: set[str]) -> set[str]:
        known = expected.union(*(peer.applied for peer in self.peers.values()))
        return known - set(self.peers) - self.retired

    def wait_until_heard(self, window: float, expected: Iterable[str] = ()) -> dict[str, Peer]:
        """Listen until every cluster known of has been heard (see `unheard`), at least one,
        for at most `window` seconds; the peers seen."""
        wanted, deadline = set(expected), time.monotonic() + window
        with self._changed:
            while (remaining := deadline - time.monotonic()) > 0 and not (self.peers and not self._unheard(wanted)):
                self._changed.wait(min(remaining, 0.5))
            return dict(self.peers)

    def wait_for_peers(self, seconds: float) -> dict[str, Peer]:
        """Listen for `seconds`; the peers seen (a heartbeat interval or two is enough)."""
        time.sleep(seconds)
        with self._changed:
            return dict(self.peers)
