"""The publishing thread (`Outgoing`) under broker faults, on the memory broker.

The faults are injected into the broker (`memory_broker(name).faults`): the connection is
real (`BrokerConnection`, which reconnects when the transport calls `on_lost`), and so are
the spool and the receiver's subscription. What a receiver must see, whatever the fault:
each sequence number, the first time it arrives, in order and with no gap (else it flushes
for a gap that was not one); a number seen again only when the broker did not confirm it,
with the same id (it drops the duplicate); every key. The same paths against RabbitMQ are
in test_outgoing_refused.py and test_outgoing_heartbeats.py.
"""

from __future__ import annotations

import logging
import queue
import time
import uuid
from dataclasses import dataclass

import pytest

from cachesync_cli.bridge import outgoing as outgoing_module
from cachesync_cli.bridge.outgoing import BUSY_ROUND, PUBLISH_WINDOW, Outgoing
from cachesync_cli.bridge.rules import SyncRules
from cachesync_cli.bridge.spool import Spool
from cachesync_cli.bridge.stats import BridgeStats
from cachesync_cli.publisher import Publisher
from cachesync_cli.transport.base import ConnectOptions
from cachesync_cli.transport.connection import Backoff, BrokerConnection
from cachesync_cli.transport.memory import memory_broker
from cachesync_cli.transport.memory_faults import BrokerFaults
from cachesync_cli.wire import ACK, HEARTBEAT, INVALIDATE, Item, decode_message
from cachesync_cli.wire.envelope import Envelope
from cachesync_cli.wire.local import LocalMessage
from tests.bridge.processes import wait_until
from tests.transport.brokers import Events, Inbox, subscribe


def until(predicate, message: str, timeout: float = 5.0) -> None:
    wait_until(predicate, timeout=timeout, interval=0.002, message=message)


@dataclass
class Rig:
    faults: BrokerFaults
    connection: BrokerConnection
    events: Events
    spool: Spool
    outgoing: Outgoing
    inbox: Inbox

    def submit(self, key: str) -> None:
        self.outgoing.submit(LocalMessage(items=(Item(cache="C", keys=(key,)),)))

    def published(self, kind: str = "published_keys") -> int:
        return self.outgoing.stats.get(kind)

    def received(self, count: int) -> list[Envelope]:
        """The first `count` envelopes the receiver got, in arrival order; and nothing more."""
        deliveries = self.inbox.take(count, timeout=5)
        extra = []
        try:
            extra.append(self.inbox.queue.get_nowait())
        except queue.Empty:
            pass
        assert not extra, f"more than {count} messages: {[d.body for d in extra]}"
        return [decode_message(d.body, d.headers).envelope for d in deliveries]


@pytest.fixture
def rig(tmp_path):
    name = f"faults-{uuid.uuid4().hex[:12]}"
    topic = f"cachesync.test.{uuid.uuid4().hex[:12]}"
    faults = memory_broker(name).faults
    fast = Backoff(base=0.005, cap=0.02)
    events = Events()
    connection = BrokerConnection([f"memory://{name}"], ConnectOptions(), on_event=events, backoff=fast).open()
    receiver = BrokerConnection([f"memory://{name}"], ConnectOptions(), backoff=fast).open()
    inbox = subscribe(receiver, topic, durable="receiver")  # durable: keeps what is sent while it reconnects
    spool = Spool(tmp_path / "spool.sqlite", max_keys=10_000)
    outgoing = Outgoing(connection=connection, publisher=Publisher(topic, origin="a"), spool=spool,
                        rules=SyncRules(), stats=BridgeStats(), heartbeat_interval=3600, applied=dict)
    yield Rig(faults, connection, events, spool, outgoing, inbox)
    faults.clear()
    outgoing.stop(timeout=5)
    connection.close()
    receiver.close()
    assert outgoing.fatal is None


def started(rig: Rig) -> Rig:
    """Start publishing; the first heartbeat (seq 1) is confirmed."""
    rig.outgoing.start()
    until(lambda: rig.published("heartbeats_sent") == 1, "the first heartbeat confirmed")
    return rig


def fill_the_window(rig: Rig) -> None:
    """Hold confirms, start: the first heartbeat, then k0, k1, k2, each in a message of its
    own, await their confirms."""
    rig.faults.hold_confirms()
    rig.outgoing.start()
    assert rig.faults.wait_held(1) == 1  # the first heartbeat
    for n in range(PUBLISH_WINDOW - 1):
        rig.submit(f"k{n}")
        assert rig.faults.wait_held(n + 2) == n + 2  # goes out at once: the window has room


def check_order(envelopes: list[Envelope]) -> list[int]:
    """Sequence numbers first seen in order with no gap, a repeat carrying the first's id;
    the repeated numbers."""
    first: dict[int, Envelope] = {}
    repeated = []
    for envelope in envelopes:
        if envelope.seq in first:
            assert envelope.id == first[envelope.seq].id, f"seq {envelope.seq} sent again with another id"
            repeated.append(envelope.seq)
        else:
            first[envelope.seq] = envelope
    seqs = list(first)
    assert seqs == list(range(1, len(seqs) + 1)), f"a receiver would see a gap: {seqs}"
    return repeated


def keys_in(envelopes: list[Envelope]) -> list[str]:
    return [key for e in envelopes if e.type != HEARTBEAT for item in e.items for key in item.keys]


def test_the_window_fills_then_waits_for_the_oldest_confirm_and_coalesces_what_queued(rig):
    fill_the_window(rig)
    rig.submit("k3")
    until(rig.outgoing.queue.empty, "k3 taken")  # and waiting for the oldest confirm: the window is full
    for n in range(4, 8):
        rig.submit(f"k{n}")
    assert rig.faults.wait_held(PUBLISH_WINDOW + 1, timeout=0.05) == PUBLISH_WINDOW
    assert rig.outgoing.queue.qsize() == 4  # not taken while the thread waits

    rig.faults.release_confirms(1)  # the heartbeat: room for k3, alone
    assert rig.faults.wait_held(PUBLISH_WINDOW) == PUBLISH_WINDOW
    rig.faults.release_confirms(1)  # k0: room for one message, with everything that queued
    assert rig.faults.wait_held(PUBLISH_WINDOW) == PUBLISH_WINDOW
    rig.faults.hold_confirms(False)
    until(lambda: rig.published() == 8 and rig.outgoing.oldest_unpublished() is None, "every key confirmed")

    received = rig.received(6)
    assert check_order(received) == []
    assert [[k for i in e.items for k in i.keys] for e in received[1:]] == \
        [["k0"], ["k1"], ["k2"], ["k3"], ["k4", "k5", "k6", "k7"]]
    assert rig.published("published_messages") == 5 and rig.spool.depth == 0


def test_a_round_behind_sends_one_message_at_a_time(rig):
    """More than `BUSY_ROUND` local messages in one round: the bridge is behind, and waits
    for every confirm before each message (fewer, larger messages)."""
    fill_the_window(rig)
    rig.submit("k3")
    until(rig.outgoing.queue.empty, "k3 taken")
    behind = [f"b{n}" for n in range(BUSY_ROUND + 1)]
    for key in behind:
        rig.submit(key)
    rig.faults.release_confirms(1)  # room for k3; the next round takes the 17 and waits for all four
    assert rig.faults.wait_held(PUBLISH_WINDOW) == PUBLISH_WINDOW
    until(rig.outgoing.queue.empty, "the 17 taken")
    rig.faults.release_confirms(PUBLISH_WINDOW - 1)
    assert rig.faults.wait_held(2, timeout=0.05) == 1  # k3 still unconfirmed: nothing more sent
    rig.faults.release_confirms(1)
    assert rig.faults.wait_held(1) == 1  # now the 17, in one message
    rig.faults.hold_confirms(False)
    until(lambda: rig.published() == 4 + len(behind), "every key confirmed")

    received = rig.received(6)
    assert check_order(received) == []
    assert [k for i in received[-1].items for k in i.keys] == behind


def test_a_lost_connection_resends_what_was_in_flight_in_order_with_the_same_ids(rig):
    fill_the_window(rig)
    rig.submit("k3")  # waits for room in the window
    until(rig.outgoing.queue.empty, "k3 taken")
    assert rig.outgoing.oldest_unpublished() is not None

    rig.faults.drop_connections()  # the four in flight fail; the connection comes back at once
    assert rig.faults.wait_held(1) == 1  # sent again one at a time, the oldest first
    rig.faults.hold_confirms(False)
    until(lambda: rig.published() == 4 and rig.spool.depth == 0, "every key confirmed, the spool empty")
    assert rig.outgoing.oldest_unpublished() is None
    assert ["lost", "connected"] == [e.kind for e in rig.events if e.reconnect or e.kind == "lost"]

    received = rig.received(2 * PUBLISH_WINDOW + 1)
    assert check_order(received) == [1, 2, 3, 4]  # the broker had them but had not confirmed them
    assert keys_in(received) == ["k0", "k1", "k2", "k0", "k1", "k2", "k3"]
    assert rig.published("heartbeats_sent") == 1 and rig.published("published_messages") == 4


def test_after_a_lost_connection_what_the_broker_confirmed_is_not_sent_again(rig):
    fill_the_window(rig)
    rig.faults.release_confirms(2)  # the heartbeat and k0
    rig.faults.drop_connections()
    rig.faults.hold_confirms(False)
    until(lambda: rig.published() == 3 and rig.spool.depth == 0, "every key confirmed")
    rig.submit("k3")  # after the resend: sent once
    until(lambda: rig.published() == 4, "k3 confirmed")

    received = rig.received(7)
    assert check_order(received) == [3, 4]
    assert keys_in(received) == ["k0", "k1", "k2", "k1", "k2", "k3"]


def test_while_the_broker_is_down_batches_are_spooled_then_drained_in_order(rig):
    started(rig)
    before = time.time()
    rig.faults.down()
    assert not rig.connection.connected
    for n in range(5):
        rig.submit(f"k{n}")
        until(lambda: rig.spool.depth == n + 1, f"k{n} spooled")
    waited = rig.outgoing.oldest_unpublished()
    assert waited is not None and 0 <= waited <= time.time() - before

    rig.faults.up()
    until(lambda: rig.published() == 5 and rig.spool.depth == 0, "the spool drained")
    assert rig.outgoing.oldest_unpublished() is None
    received = rig.received(6)
    assert check_order(received) == []
    assert keys_in(received) == [f"k{n}" for n in range(5)]


def test_an_ack_asked_for_while_messages_wait_to_be_sent_again_goes_out_behind_them(rig):
    started(rig)
    rig.faults.lose_messages(1)
    rig.submit("k0")  # lost with a connection that died unnoticed...
    until(lambda: rig.outgoing.oldest_unpublished() is not None, "k0 in flight")
    rig.faults.down()  # ...until now: k0 fails, and waits to be sent again (seq 2)
    until(lambda: rig.spool.depth == 1, "k0 held and spooled")
    rig.outgoing.request_ack("applied-1")  # numbered seq 3: must not overtake k0
    until(rig.outgoing.queue.empty, "the ack request taken")
    rig.faults.up()
    until(lambda: rig.published() == 1 and rig.published("acks_sent") == 1, "the backlog sent")
    received = rig.received(3)
    assert check_order(received) == []
    assert [(e.type, e.ack_of) for e in received[1:]] == [(INVALIDATE, None), (ACK, "applied-1")]
    assert keys_in(received) == ["k0"]


def test_refused_messages_are_spooled_and_go_out_in_order_once_the_broker_takes_them(rig):
    started(rig)
    rig.faults.refuse()
    for n in range(4):  # k0 is refused (numbered: it waits to be sent again); k1.. queue behind it
        rig.submit(f"k{n}")
        until(lambda: rig.spool.depth == n + 1, f"k{n} spooled")
    assert rig.faults.refused >= 4  # k0, tried again at each round
    assert rig.outgoing.oldest_unpublished() is not None

    rig.faults.clear()
    rig.submit("k4")  # wakes the thread; behind the backlog
    until(lambda: rig.published() == 5 and rig.spool.depth == 0, "the backlog sent")
    received = rig.received(6)
    assert check_order(received) == []  # refused: never routed, so never seen twice
    assert keys_in(received) == [f"k{n}" for n in range(5)]
    assert rig.outgoing.oldest_unpublished() is None


def test_a_confirm_that_never_comes_times_out_and_the_message_is_sent_again(rig, monkeypatch, caplog):
    caplog.set_level(logging.WARNING, logger="cachesync.bridge.outgoing")
    monkeypatch.setattr(outgoing_module, "PUBLISH_WAIT", 0.05)
    started(rig)
    rig.faults.lose_confirms(1)
    rig.submit("k0")
    until(lambda: "did not confirm within" in caplog.text, "the confirm timeout")
    until(lambda: rig.published() == 1 and rig.spool.depth == 0, "k0 confirmed when sent again")
    received = rig.received(3)
    assert check_order(received) == [2]
    assert keys_in(received) == ["k0", "k0"]
    assert rig.published("published_messages") == 1


def test_a_stop_while_the_broker_is_down_leaves_everything_in_the_spool(rig):
    started(rig)
    rig.faults.hold_confirms()
    rig.submit("k0")
    assert rig.faults.wait_held(1) == 1
    rig.faults.down()  # k0's confirm fails with the connection
    rig.submit("k1")
    rig.outgoing.stop(timeout=5)
    assert [list(p.items[0].keys) for p in rig.spool.peek(10)] == [["k0"], ["k1"]]


def test_a_message_never_overtakes_one_lost_with_the_connection_before_the_driver_said_so(rig):
    """A batch that takes several messages: the first is lost with the connection, whose
    driver reports it only later; the second waits for a connection meanwhile. It must not
    go out on the new connection ahead of the first (a receiver would flush for a gap)."""
    rig.outgoing.publisher = Publisher(rig.outgoing.publisher.topic, origin="a", max_bytes=1024)
    started(rig)
    keys = [f"key-{n:03d}-" + "x" * 60 for n in range(40)]
    rig.faults.lose_and_go_down()
    rig.outgoing.submit(LocalMessage(items=(Item(cache="C", keys=tuple(keys)),)))
    until(lambda: not rig.connection.connected, "the broker down with the first message")
    rig.faults.up()  # the first message's confirm fails now; the connection comes back
    until(lambda: rig.published() == len(keys) and rig.spool.depth == 0, "every key confirmed")

    sent = rig.published("published_messages")
    assert sent > 2  # the batch took several messages
    received = rig.received(1 + sent)
    assert check_order(received) == []
    assert keys_in(received) == keys
