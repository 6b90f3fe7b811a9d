"""Receipts: the publishing thread tells each local message that has one, once, what became
of it (confirmed, spooled, filtered, rejected). The in-memory broker drives the paths that
need no broker behaviour (filtered, rejected, no connection, a refusing disk); RabbitMQ
the confirmed one and a refusal in flight (held, spooled, confirmed later: told once)."""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest

from cachesync_cli.bridge.outgoing import Outgoing
from cachesync_cli.bridge.rules import SyncRules
from cachesync_cli.bridge.spool import Spool
from cachesync_cli.bridge.stats import BridgeStats
from cachesync_cli.publisher import Publisher
from cachesync_cli.transport.connection import BrokerConnection
from cachesync_cli.wire import Item, Tenant
from cachesync_cli.wire.local import LocalMessage
from tests.bridge.processes import wait_until
from tests.transport.brokers import connect, full_queue_on


class Receipts:
    """Every receipt call: (message number, status, thread name)."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, str, str]] = []
        self._lock = threading.Lock()

    def message(self, n: int, *keys: str, cache: str = "C", tenant: Tenant | None = None) -> LocalMessage:
        def receipt(status: str) -> None:
            with self._lock:
                self.calls.append((n, status, threading.current_thread().name))
        return LocalMessage(items=(Item(cache=cache, keys=keys or (f"k{n}",)),), tenant=tenant, receipt=receipt)

    def statuses(self) -> dict[int, str]:
        with self._lock:
            return {n: status for n, status, _ in self.calls}

    def assert_once_each(self, count: int) -> None:
        with self._lock:
            told = Counter(n for n, _, _ in self.calls)
            threads = {thread for _, _, thread in self.calls}
        assert told == Counter(range(count)), f"receipts told not exactly once each: {told}"
        assert threads == {"cachesync-outgoing"}, threads


def outgoing_on(connection, tmp_path, topic="cachesync", rules=SyncRules()) -> Outgoing:
    return Outgoing(connection=connection, publisher=Publisher(topic, origin="a"),
                    spool=Spool(tmp_path / "spool.sqlite", max_keys=100_000), rules=rules,
                    stats=BridgeStats(), heartbeat_interval=3600, applied=dict)


@pytest.fixture
def memory(tmp_path):
    connection = BrokerConnection([f"memory://receipts-{tmp_path.name}"]).open()
    yield connection
    connection.close()


def test_confirmed_filtered_and_rejected_each_once_from_the_publishing_thread(memory, tmp_path):
    receipts = Receipts()
    outgoing = outgoing_on(memory, tmp_path, rules=SyncRules(block=("Local*",)))
    outgoing.start()
    try:
        for n in range(20):  # coalesced into shared batches, two tenants
            outgoing.submit(receipts.message(n, "shared", f"k{n}", tenant=Tenant("t.com", n % 2)))
        outgoing.submit(LocalMessage(items=(Item(cache="C", keys=("no-receipt",)),)))
        outgoing.submit(receipts.message(20, cache="LocalOnly"))  # every item dropped by the rules
        outgoing.refuse(receipts.message(21))  # refused at intake (the wso2 codec does so)
        outgoing.refuse(LocalMessage(items=(Item(cache="C", keys=("no-receipt",)),)))
        wait_until(lambda: len(receipts.statuses()) == 22, timeout=5, message="22 receipts")
    finally:
        outgoing.stop()
    receipts.assert_once_each(22)
    statuses = receipts.statuses()
    assert {statuses[n] for n in range(20)} == {"confirmed"}
    assert statuses[20] == "filtered" and statuses[21] == "rejected"
    assert outgoing.spool.depth == 0


def test_without_a_connection_batches_are_spooled_and_told_so(tmp_path):
    receipts = Receipts()
    unopened = BrokerConnection([f"memory://receipts-down-{tmp_path.name}"])  # never connected
    outgoing = outgoing_on(unopened, tmp_path)
    outgoing.start()
    try:
        for n in range(10):
            outgoing.submit(receipts.message(n))
        wait_until(lambda: len(receipts.statuses()) == 10, timeout=5, message="10 receipts")
    finally:
        outgoing.stop()
    receipts.assert_once_each(10)
    assert set(receipts.statuses().values()) == {"spooled"}
    assert outgoing.spool.keys == 10


def test_a_refusing_disk_keeps_receipts_until_the_batch_is_spooled(tmp_path):
    receipts = Receipts()
    unopened = BrokerConnection([f"memory://receipts-disk-{tmp_path.name}"])
    outgoing = outgoing_on(unopened, tmp_path)
    outgoing.spool._db.execute("PRAGMA max_page_count = 1")  # the spool cannot grow: a full disk
    outgoing.start()
    try:
        for n in range(5):
            outgoing.submit(receipts.message(n, f"{'x' * 2000}-{n}"))
        time.sleep(1.2)  # refused, re-queued with its receipts, refused again...
        assert receipts.statuses() == {}, "told before the batch was anywhere durable"
        outgoing.spool._db.execute("PRAGMA max_page_count = 1073741823")  # room again
        wait_until(lambda: len(receipts.statuses()) == 5, timeout=5, message="5 receipts")
    finally:
        outgoing.stop()
    receipts.assert_once_each(5)
    assert set(receipts.statuses().values()) == {"spooled"}


def test_confirmed_by_rabbitmq_and_spooled_when_refused_in_flight(tmp_path, amqp_url, topic_name):
    """A refused envelope is held and its batch spooled ("spooled"); when it is confirmed
    later, its receipt is not told again. The others are told "confirmed"."""
    receipts = Receipts()
    count = 40
    with connect(amqp_url) as connection, full_queue_on(amqp_url, topic_name, room=5) as (channel, full_queue):
        outgoing = outgoing_on(connection, tmp_path, topic=topic_name)
        outgoing.start()
        try:
            for n in range(count):  # paced: many envelopes, some refused by the full queue
                outgoing.submit(receipts.message(n))
                time.sleep(0.002)
            wait_until(lambda: "spooled" in receipts.statuses().values(), timeout=10, message="a spooled receipt")
            channel.queue_delete(full_queue)
            wait_until(lambda: outgoing.stats.get("published_keys") == count, timeout=15, message="all confirmed")
            wait_until(lambda: len(receipts.statuses()) == count, timeout=5, message="every receipt")
        finally:
            outgoing.stop()
    receipts.assert_once_each(count)
    told = Counter(receipts.statuses().values())
    assert told["confirmed"] >= 1 and told["spooled"] >= 1 and set(told) == {"confirmed", "spooled"}, told


def test_stop_tells_what_it_publishes_or_spools_on_the_way_out(memory, tmp_path):
    receipts = Receipts()
    outgoing = outgoing_on(memory, tmp_path)
    for n in range(100):  # queued before the thread even starts: all of it goes out at stop
        outgoing.submit(receipts.message(n))
    outgoing.start()
    outgoing.stop()
    receipts.assert_once_each(100)
    assert set(receipts.statuses().values()) == {"confirmed"}
