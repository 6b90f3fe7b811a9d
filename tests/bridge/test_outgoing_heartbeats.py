"""The publishing thread's heartbeats: they keep going while a spool backlog drains (they
used to be skipped until it was empty: a long drain looked like silence to every other
cluster), they say how long the oldest unpublished invalidation has waited, an intake gap
is announced on a heartbeat of its own, and a clean stop ends with one that says so."""

from __future__ import annotations

import time

from cachesync_cli.bridge.outgoing import Outgoing
from cachesync_cli.bridge.rules import SyncRules
from cachesync_cli.bridge.spool import Spool
from cachesync_cli.bridge.stats import BridgeStats
from cachesync_cli.local.intake import IntakeGap
from cachesync_cli.publisher import Publisher
from cachesync_cli.wire import HEARTBEAT, Item, decode_message
from tests.transport.brokers import connect, subscribe

ROWS = 400


def envelopes(inbox, quiet: float = 1.0):
    return [decode_message(body, {"content-type": "application/json"}).envelope for body in inbox.quiet(quiet)]


def test_heartbeats_go_out_while_the_spool_drains_and_say_how_old_the_backlog_is(tmp_path, amqp_url, topic_name):
    spool = Spool(tmp_path / "spool.sqlite", max_keys=1_000_000)
    waited_since = time.time() - 60  # written a minute ago, while the broker was away
    for n in range(ROWS):
        spool.append(None, (Item("C", (f"k{n}",)),), since=waited_since)
    with connect(amqp_url) as watcher, connect(amqp_url) as connection:
        inbox = subscribe(watcher, topic_name)
        outgoing = Outgoing(connection=connection, publisher=Publisher(topic_name, origin="a"), spool=spool,
                            rules=SyncRules(), stats=BridgeStats(), heartbeat_interval=0.02, applied=dict)
        outgoing.start()
        try:
            deadline = time.monotonic() + 30
            while spool.depth and time.monotonic() < deadline:
                time.sleep(0.05)
            assert spool.depth == 0
        finally:
            outgoing.stop()
        received = envelopes(inbox)
    kinds = [e.type for e in received]
    last_row = max(i for i, kind in enumerate(kinds) if kind != HEARTBEAT)
    during = [e for e in received[:last_row] if e.type == HEARTBEAT]
    assert len(during) >= 2, f"{len(during)} heartbeat(s) while {ROWS} spooled batches drained"
    assert all(e.bridge is not None and e.bridge.pending >= 59_000 for e in during[1:])
    assert [e.seq for e in received] == list(range(1, len(received) + 1))  # in order, no gap
    final = received[-1]
    assert final.type == HEARTBEAT and final.bridge.stopping and final.bridge.pending == 0


def test_an_intake_gap_is_announced_at_once_on_its_own_heartbeat(tmp_path, amqp_url, topic_name):
    with connect(amqp_url) as watcher, connect(amqp_url) as connection:
        inbox = subscribe(watcher, topic_name)
        outgoing = Outgoing(connection=connection, publisher=Publisher(topic_name, origin="a"),
                            spool=Spool(tmp_path / "spool.sqlite", max_keys=1000), rules=SyncRules(),
                            stats=BridgeStats(), heartbeat_interval=3600, applied=dict,
                            intake_state=lambda: "down")
        outgoing.start()
        try:
            time.sleep(0.3)  # the first heartbeat, then none for an hour
            outgoing.announce_gap(IntakeGap("local", "reconnect", 1795374400000))
            time.sleep(0.5)
        finally:
            outgoing.stop()
        received = envelopes(inbox)
    gaps = [e for e in received if e.bridge is not None and e.bridge.intake_gap is not None]
    assert len(gaps) == 1
    assert (gaps[0].bridge.intake_gap.reason, gaps[0].bridge.intake_gap.since) == ("reconnect", 1795374400000)
    assert all(e.bridge.intake == "down" and not e.bridge.vouching for e in received)
    assert outgoing.stats.get("intake_gaps_announced", "reconnect") == 1
