"""The clusters on the topic, as their heartbeats and acknowledgements show them.

`TopicWatcher` subscribes transiently (it takes nothing from any bridge) and records, per
origin, the latest heartbeat (node, seq, what it applied per origin), the bridge nodes heard
(a new one is a restart; two heard alternating are two bridges with one cluster id) and
every `ack` seen. `status` and `invalidate --wait-acks` are built on it.
A cluster that stopped sending has no heartbeat to hear: the bridges that watch it say so in
theirs (`stopped_clusters`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from cachesync_cli.errors import DecodeError
from cachesync_cli.transport.base import Delivery, SubscriptionSpec
from cachesync_cli.transport.connection import BrokerConnection
from cachesync_cli.wire import ACK, HEARTBEAT, Keyring, decode_envelope


class BridgeNodes:
    """The bridge nodes heard for one cluster id. A new node after another is a restart,
    unless an older node is heard again afterwards (and not on a clean stop's heartbeat):
    then two bridges run with this cluster id at once."""

    def __init__(self) -> None:
        self.last_heard: dict[str, float] = {}  # node -> last heard (time.time()), in the order first heard
        self.restarts = 0
        self.duplicates: set[str] = set()

    def heard(self, node: str, now: float, *, stopping: bool = False) -> None:
        newest = next(reversed(self.last_heard), None)
        if node not in self.last_heard:
            if newest is not None:
                self.restarts += 1
        elif node != newest and not stopping:
            if newest not in self.duplicates and self.restarts:
                self.restarts -= 1  # `newest` came while `node` ran on: not a restart, a second bridge
            self.duplicates.update((node, newest))
        self.last_heard[node] = now


@dataclass
class Peer:
    origin: str
    node: str
    seq: int
    last_seen: float  # time.time() when its heartbeat arrived
    sent_ms: int  # the heartbeat's ts
    applied: dict[str, int] = field(default_factory=dict)
    heartbeats: int = 0
    intake: str = ""  # its bridge's intake: ok, down, none ("" from a bridge that does not say)
    pending_ms: int = 0  # how long its oldest unpublished invalidation had waited
    interval_ms: int | None = None  # its bridge's heartbeat interval, when it says
    first_seen: float = 0.0  # time.time() when its first heartbeat arrived here
    stopping: bool = False  # its last heartbeat was a clean stop's
    bridge: bool = False  # a bridge's heartbeat was heard (one with the `bridge` field; not a doctor probe)
    nodes: BridgeNodes = field(default_factory=BridgeNodes)

    @property
    def restarts(self) -> int:
        """Times a new bridge node took over while watching."""
        return self.nodes.restarts

    @property
    def duplicates(self) -> list[str]:
        """Bridge nodes heard alternating: two bridges run with this cluster id."""
        return sorted(self.nodes.duplicates)
    silent: dict[str, int] = field(default_factory=dict)  # clusters its bridge no longer hears -> ms
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
                "intake": self.intake or None, "pending_ms": self.pending_ms,
                "duplicate_nodes": self.duplicates}


class TopicWatcher:
    def __init__(self, connection: BrokerConnection, topic: str, *, keyring: Keyring | None = None) -> None:
        self.connection = connection
        self.topic = topic
        self.keyring = keyring
        self.peers: dict[str, Peer] = {}
        self.acks: dict[str, set[str]] = {}  # message id -> origins that acknowledged it
        self.rejected = 0
        self.started = time.monotonic()
        self.retired: set[str] = set()  # clusters a `cachesync retire` heartbeat named
        self._first_seq: dict[str, int] = {}  # per origin, the seq of the first message heard
        self._last_seq: dict[str, int] = {}  # per origin, the seq of the last message heard
        self._changed = threading.Condition()

    def start(self) -> TopicWatcher:
        self.started = time.monotonic()
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
                now = time.time()
                peer = self.peers.get(envelope.origin)
                if peer is None:
                    peer = self.peers[envelope.origin] = Peer(envelope.origin, envelope.node, envelope.seq,
                                                              now, envelope.ts, first_seen=now)
                peer.node, peer.seq, peer.last_seen, peer.sent_ms = envelope.node, envelope.seq, now, envelope.ts
                peer.applied = dict(envelope.applied or {})
                peer.heard = {o: seq for o, seq in self._last_seq.items() if o != envelope.origin}
                peer.heartbeats += 1
                if envelope.bridge is not None:  # a bridge's, not a doctor probe's: its nodes are tracked
                    info = envelope.bridge
                    peer.bridge, peer.stopping, peer.interval_ms = True, info.stopping, info.interval
                    peer.intake, peer.pending_ms = info.intake, info.pending
                    peer.nodes.heard(envelope.node, now, stopping=info.stopping)
                    peer.silent = dict(info.silent)
            elif envelope.type == ACK and envelope.ack_of:
                self.acks.setdefault(envelope.ack_of, set()).add(envelope.origin)
            self._last_seq[envelope.origin] = envelope.seq
            self._changed.notify_all()

    def ack_progress(self, message_ids: Iterable[str], expected: Iterable[str] | None, *, own: str = "",
                     discover: float = 6.0) -> AckProgress:
        """Who has acknowledged every one of `message_ids` so far, out of `expected`; with
        `expected` None, out of the clusters the bridges' heartbeats show: each bridge heard
        (its own cluster's too, `own`), and each cluster a bridge says it applies (`applied`)
        that either acknowledges or sends a heartbeat itself within one and a half heartbeat
        intervals (a cluster that stopped long ago stays in the others' `applied`). Known
        once a bridge is heard; with no bridge heard, after `discover` seconds."""
        ids = list(message_ids)
        with self._changed:
            acking = {origin for i in ids for origin in self.acks.get(i, ())}
            acked = {origin for origin in acking if all(origin in self.acks.get(i, ()) for i in ids)}
            if expected is not None:
                wanted = set(expected)
                return AckProgress(sorted(wanted & acked), sorted(wanted - acked), settled=True)
            bridges = [peer for peer in self.peers.values() if peer.bridge]
            alive = {peer.origin for peer in bridges if not peer.stopping} | acking
            named = {origin for peer in bridges for origin in peer.applied} - alive - {own}
            intervals = [peer.interval_ms / 1000 for peer in bridges if peer.interval_ms]
            grace = min(discover, 1.5 * max(intervals) + 0.5) if intervals else discover
            waited = time.monotonic() - self.started
            settled = (bool(bridges) and (not named or waited >= grace)) or waited >= discover
            return AckProgress(sorted(alive & acked), sorted(alive - acked), settled=settled)

    def wait_for_acks(self, message_ids: Iterable[str], expected: Iterable[str] | None, timeout: float, *,
                      own: str = "", discover: float = 6.0,
                      on_progress: Callable[[AckProgress], None] | None = None) -> AckProgress:
        """`ack_progress` once every expected cluster acknowledged, or after `timeout`;
        `on_progress` is told each change meanwhile (on this thread)."""
        ids = list(message_ids)
        wanted = None if expected is None else set(expected)
        deadline = time.monotonic() + timeout
        shown = None
        while True:
            progress = self.ack_progress(ids, wanted, own=own, discover=discover)
            if on_progress is not None and progress != shown:
                on_progress(progress)
                shown = progress
            remaining = deadline - time.monotonic()
            if progress.done or remaining <= 0:
                return progress
            with self._changed:
                self._changed.wait(min(remaining, 0.1))

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
        in a heard bridge's `applied`, less the retired ones and those a heard bridge reports
        silent (stopped: there is nothing to wait for)."""
        with self._changed:
            return self._unheard(set(expected))

    def _unheard(self, expected: set[str]) -> set[str]:
        known = expected.union(*(peer.applied for peer in self.peers.values()))
        reported_silent = set().union(*(peer.silent for peer in self.peers.values()))
        return known - set(self.peers) - self.retired - reported_silent

    def wait_until_heard(self, window: float, expected: Iterable[str] = ()) -> dict[str, Peer]:
        """Listen until every cluster known of has been heard (see `unheard`), at least one, and
        each bridge for one of its heartbeat intervals (so two bridges sharing a cluster id are
        both heard), for at most `window` seconds; the peers seen."""
        wanted, deadline = set(expected), time.monotonic() + window
        with self._changed:
            while (remaining := deadline - time.monotonic()) > 0 and not self._all_heard(wanted):
                self._changed.wait(min(remaining, 0.2))
            return dict(self.peers)

    def _all_heard(self, wanted: set[str]) -> bool:
        now = time.time()
        return bool(self.peers) and not self._unheard(wanted) and all(
            now - peer.first_seen >= 1.2 * peer.interval_ms / 1000
            for peer in self.peers.values() if peer.bridge and peer.interval_ms)

    def wait_for_peers(self, seconds: float) -> dict[str, Peer]:
        """Listen for `seconds`; the peers seen (a heartbeat interval or two is enough)."""
        time.sleep(seconds)
        with self._changed:
            return dict(self.peers)


@dataclass(frozen=True)
class AckProgress:
    acked: list[str]  # clusters that acknowledged every message
    waiting: list[str]  # clusters expected that have not (yet)
    settled: bool  # whether the clusters to expect are known

    @property
    def done(self) -> bool:
        return self.settled and not self.waiting

    def describe(self) -> str:
        """e.g. "acknowledged 2/3: dc-a, dc-b; waiting for dc-c"."""
        total = f"/{len(self.acked) + len(self.waiting)}" if self.settled else ""
        text = f"acknowledged {len(self.acked)}{total}: {', '.join(self.acked) or 'none yet'}"
        if self.waiting:
            text += f"; waiting for {', '.join(self.waiting)}"
        return text if self.settled else text + "; listening for the bridges' heartbeats"


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
