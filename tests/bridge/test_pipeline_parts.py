"""The bridge's building blocks on their own: rules, coalescing, spool, sequence tracking,
and the publishing thread's idle loop."""

from __future__ import annotations

import sqlite3
import time

import pytest

from cachesync_cli.bridge.coalesce import coalesce
from cachesync_cli.bridge.rules import SyncRules
from cachesync_cli.bridge.sequence import RecentIds, SequenceTracker
from cachesync_cli.bridge.spool import Spool
from cachesync_cli.errors import ConfigError
from cachesync_cli.wire import Item, Tenant

T1, T2 = Tenant("a.com", 1), Tenant("b.com", 2)


def test_rules_allow_and_block_with_manager_patterns():
    rules = SyncRules(allow=("IdentityApplicationManagementCacheManager/*", "OAuthCache"),
                      block=("*/LocalOnly*",))
    assert rules.synced(Item("AppInfoCache", ("k",), manager="IdentityApplicationManagementCacheManager"))
    assert rules.synced(Item("OAuthCache", ("k",)))
    assert rules.synced(Item("OAuthCache", ("k",), manager="Any"))
    assert not rules.synced(Item("AppInfoCache", ("k",)))  # no manager: the manager pattern cannot match
    assert not rules.synced(Item("LocalOnlyCache", ("k",), manager="IdentityApplicationManagementCacheManager"))
    kept, dropped = rules.filter([Item("OAuthCache", all=True), Item("Other", ("x",))])
    assert [i.cache for i in kept] == ["OAuthCache"] and dropped == 1
    assert SyncRules().synced(Item("Anything", ("k",)))


def test_coalesce_merges_duplicates_and_all_absorbs_keys():
    batches = coalesce([
        (T1, [Item("C", ("k1", "k2"))]),
        (T1, [Item("C", ("k2", "k3")), Item("D", ("x",))]),
        (T2, [Item("C", ("k1",))]),
        (T1, [Item("D", all=True)]),
        (T1, [Item("D", ("y",))]),
        (None, [Item("C", ("k1",), manager="M")]),
    ])
    assert batches == [
        (T1, (Item("C", ("k1", "k2", "k3")), Item("D", all=True))),
        (T2, (Item("C", ("k1",)),)),
        (None, (Item("C", ("k1",), manager="M"),)),
    ]


def test_spool_keeps_order_survives_reopen_and_collapses(tmp_path):
    path = tmp_path / "spool.sqlite"
    spool = Spool(path, max_keys=10)
    first = spool.append(T1, (Item("C", ("a", "b")),))
    spool.append(None, (Item("D", all=True),))
    spool.close()
    spool = Spool(path, max_keys=10)
    assert spool.depth == 2 and spool.keys == 2
    rows = spool.peek()
    assert rows[0].row == first and rows[0].tenant == T1 and rows[0].items == (Item("C", ("a", "b")),)
    spool.remove(first)
    assert spool.depth == 1 and spool.keys == 0
    spool.append(T1, (Item("E", tuple(f"k{n}" for n in range(11)), manager="M"),))  # over max_keys
    assert spool.collapses == 1
    items = {(p.tenant, i) for p in spool.peek() for i in p.items}
    assert items == {(None, Item("D", all=True)), (T1, Item("E", all=True, manager="M"))}
    assert spool.keys == 0


def test_unwritable_spool_directory_is_a_clear_error(tmp_path):
    # (the tests run as root, who may write anywhere: a path through a file fails for everyone)
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    with pytest.raises(ConfigError, match=r"cannot open the spool .*not-a-directory/spool.sqlite") as caught:
        Spool(blocker / "spool.sqlite", max_keys=10)
    assert "spool_path" in caught.value.hint


def test_spool_write_refused_by_the_disk_raises(tmp_path):
    spool = Spool(tmp_path / "s.sqlite", max_keys=100)
    spool._db.execute("PRAGMA max_page_count = 1")  # the database file cannot grow: a full disk
    with pytest.raises(sqlite3.Error):
        spool.append(None, (Item("C", tuple("x" * 100 + str(n) for n in range(50))),))


def test_sequence_gaps_and_redeliveries():
    tracker = SequenceTracker()
    assert tracker.observe("a/1", 7) == 0  # first sight: baseline
    assert tracker.observe("a/1", 8) == 0
    assert tracker.observe("a/1", 8) == 0  # redelivered
    assert tracker.observe("a/1", 5) == 0  # old
    assert tracker.observe("a/1", 11) == 2  # 9 and 10 missed
    assert tracker.last("a/1") == 11
    assert tracker.observe("a/2", 1) == 0


def test_recent_ids_forget_the_oldest():
    recent = RecentIds(size=2)
    for message_id in ("x", "y", "z"):
        recent.add(message_id)
    assert not recent.seen("x") and recent.seen("y") and recent.seen("z")


@pytest.mark.parametrize("heartbeats", [True, False], ids=["native", "wso2-no-heartbeats"])
def test_idle_outgoing_thread_sleeps_between_rounds(tmp_path, heartbeats):
    """Without heartbeats (the wso2 codec) the publishing thread once spun on an empty
    queue, a whole core for an idle bridge. Idle for a second, it must wake a few times."""
    from cachesync_cli.bridge.outgoing import Outgoing
    from cachesync_cli.bridge.stats import BridgeStats
    from cachesync_cli.publisher import Publisher
    from cachesync_cli.transport.connection import BrokerConnection

    connection = BrokerConnection([f"memory://idle-{tmp_path.name}"]).open()
    outgoing = Outgoing(connection=connection, publisher=Publisher("cachesync", origin="a"),
                        spool=Spool(tmp_path / "spool.sqlite", max_keys=1000), rules=SyncRules(),
                        stats=BridgeStats(), heartbeat_interval=0.5, applied=dict, heartbeats=heartbeats)
    rounds = []
    gather = outgoing._gather
    outgoing._gather = lambda wait: (rounds.append(wait), gather(wait))[1]
    outgoing.start()
    try:
        time.sleep(1.0)
    finally:
        outgoing.stop()
        connection.close()
    assert 1 <= len(rounds) <= 10, f"{len(rounds)} rounds in one idle second"
    assert (outgoing.stats.get("heartbeats_sent") > 0) == heartbeats


def test_throttled_log_writes_the_first_of_a_kind_then_one_summary_per_interval(caplog):
    """A flood of bad local input once meant one warning per message."""
    import logging

    from cachesync_cli.bridge.throttled_log import ThrottledLog, clip

    log = ThrottledLog(logging.getLogger("test.throttled"), interval=0.3)
    with caplog.at_level(logging.WARNING, logger="test.throttled"):
        for n in range(1000):
            log.warning("rejected:malformed", "bad message %d", n)
        log.warning("rejected:invalid", "other kind")
        assert [r.getMessage() for r in caplog.records] == ["bad message 0", "other kind"]
        time.sleep(0.2)
        assert len(caplog.records) == 2  # the rest is counted, not written
        deadline = time.monotonic() + 5
        while len(caplog.records) == 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert caplog.records[-1].getMessage() == "999 more like this (logged at most every 0.3s), the latest: bad message 999"
        time.sleep(0.4)
        log.warning("rejected:malformed", "after the interval")  # logged at once: nothing is pending
        log.warning("rejected:malformed", "pending")
        log.flush()  # the bridge stops: what is pending is written now
    assert [r.getMessage() for r in caplog.records[-2:]] == [
        "after the interval", "1 more like this (logged at most every 0.3s), the latest: pending"]
    assert len(caplog.records) == 5
    assert clip("k" * 1_048_400) == "k" * 200 + "... (1,048,400 characters)"
