"""RedisStreamSource against a real Redis: acknowledged only after the receipt, read again
after a restart, rejects, takeover, trimming, and the losses it announces as intake gaps."""

from __future__ import annotations

import json
import queue
import secrets

import pytest
import redis as redis_driver

from cachesync_cli.local import redis_stream
from cachesync_cli.local.base import EchoGuard, LocalContext, SourceError
from cachesync_cli.local.redis_stream import RedisStreamSource
from cachesync_cli.wire.envelope import Item

from .conftest import Inbox, db_url, entry, wait_until

STREAM_DB = 9


@pytest.fixture
def url(redis_url):
    return db_url(redis_url, STREAM_DB)


@pytest.fixture
def stream(url):
    name = f"cachesync:test:{secrets.token_hex(6)}"
    client = redis_driver.Redis.from_url(url)
    yield name
    client.delete(name)
    client.close()


@pytest.fixture
def app(url):
    """The application's client: XADDs local messages."""
    client = redis_driver.Redis.from_url(url)
    yield client
    client.close()


@pytest.fixture(autouse=True)
def quick(monkeypatch):
    monkeypatch.setattr(redis_stream, "STOP_WAIT", 0.3)  # receipts the tests leave untold: do not wait
    monkeypatch.setattr(redis_stream, "MAINTENANCE_INTERVAL", 0.2)


class Sources:
    """Sources made by a test, with one context (and its intake gaps), all stopped at the end."""

    def __init__(self, url: str, stream: str) -> None:
        self.url, self.stream = url, stream
        self.context = LocalContext(cluster="test", echo_guard=EchoGuard(), environ={})
        self.gaps = []
        self.context.intake.on_gap(self.gaps.append)
        self.started: list[RedisStreamSource] = []

    def start(self, inbox: Inbox, **fields) -> RedisStreamSource:
        fields = {"consumer": "bridge-1", **fields}
        source = RedisStreamSource("stream", entry("sources", type="redis-stream", url=self.url, stream=self.stream,
                                                   **fields), self.context)
        source.start(inbox.emit, inbox.reject)
        self.started.append(source)
        return source


@pytest.fixture
def sources(url, stream):
    made = Sources(url, stream)
    yield made
    for source in made.started:
        source.stop()


def add(app, stream, *keys, cache="C"):
    return [app.xadd(stream, {"m": json.dumps({"cache": cache, "keys": [key]})}) for key in keys]


def pending(app, stream, group="test") -> int:
    return app.xpending(stream, group)["pending"]


def take(inbox: Inbox, count: int) -> list:
    return [inbox.next_message() for _ in range(count)]


def test_entries_are_acknowledged_only_once_their_receipt_is_told(sources, app, stream, inbox):
    sources.start(inbox)
    add(app, stream, "k1", "k2", "k3")
    messages = take(inbox, 3)
    assert [m.items for m in messages] == [(Item("C", (k,)),) for k in ("k1", "k2", "k3")]
    assert pending(app, stream) == 3
    messages[0].receipt("confirmed")
    messages[2].receipt("spooled")
    wait_until(lambda: pending(app, stream) == 1)
    [(entry_id, _)] = [(e["message_id"], e) for e in app.xpending_range(stream, "test", "-", "+", 10)]
    assert app.xrange(stream, entry_id, entry_id)[0][1] == {b"m": b'{"cache": "C", "keys": ["k2"]}'}
    messages[1].receipt("filtered")
    wait_until(lambda: pending(app, stream) == 0)
    inbox.assert_quiet()


def test_entries_added_while_stopped_and_unacknowledged_ones_are_read_at_start(sources, app, stream, inbox):
    first = sources.start(inbox)
    add(app, stream, "a1", "a2")
    read = take(inbox, 2)
    read[0].receipt("confirmed")
    wait_until(lambda: pending(app, stream) == 1)
    first.stop()  # a2 was handed on but never confirmed
    add(app, stream, "b1", "b2", "b3")  # while no bridge reads
    again = Inbox()
    sources.start(again)  # the same consumer name, as a restarted bridge
    keys = [m.items[0].keys[0] for m in take(again, 4)]
    assert keys == ["a2", "b1", "b2", "b3"]
    again.assert_quiet()


def test_bad_entries_are_rejected_and_acknowledged(sources, app, stream, inbox):
    sources.start(inbox)
    app.xadd(stream, {"m": b"{not json"})
    app.xadd(stream, {"m": b'{"cache": "C"}'})
    app.xadd(stream, {"other": b'{"cache": "C", "keys": ["k"]}'})
    app.xadd(stream, {"m": json.dumps({"origin": "dc-west", "cache": "C", "keys": ["echo"]})})
    add(app, stream, "good")
    assert [inbox.next_rejection()[0] for _ in range(3)] == ["malformed", "invalid", "invalid"]
    good = inbox.next_message()
    assert good.items == (Item("C", ("good",)),)
    wait_until(lambda: pending(app, stream) == 1)  # only the good one waits for its receipt
    inbox.assert_quiet()


def test_a_dead_consumers_pending_entries_are_taken_over(sources, app, stream, inbox):
    app.xgroup_create(stream, "test", id="0", mkstream=True)
    add(app, stream, "orphan-1", "orphan-2")
    assert len(app.xreadgroup("test", "bridge-gone", {stream: ">"}, count=10)[0][1]) == 2  # read, never acked
    sources.start(inbox, consumer="bridge-2", claim_idle=0.3)
    assert [m.items[0].keys[0] for m in take(inbox, 2)] == ["orphan-1", "orphan-2"]
    consumers = {c["name"]: c["pending"] for c in app.xinfo_consumers(stream, "test")}
    assert consumers == {b"bridge-gone": 0, b"bridge-2": 2}


def test_trimming_keeps_what_the_group_has_not_acknowledged(sources, app, stream, inbox):
    sources.start(inbox)
    ids = add(app, stream, *(f"k{n}" for n in range(400)))
    messages = take(inbox, 400)
    for message in messages[:300]:
        message.receipt("confirmed")
    wait_until(lambda: pending(app, stream) == 100)
    wait_until(lambda: app.xlen(stream) < 400, timeout=5)  # trimmed (by whole nodes: ~)
    remaining = {e[0] for e in app.xrange(stream)}
    assert set(ids[300:]) <= remaining, "an unacknowledged entry was trimmed"
    assert not sources.gaps


def test_entries_trimmed_before_they_were_read_are_an_intake_gap(sources, app, stream, inbox):
    first = sources.start(inbox)  # creates the group
    first.stop()
    add(app, stream, *(f"lost{n}" for n in range(10)))
    app.xtrim(stream, maxlen=3, approximate=False)  # 7 entries gone unread
    sources.start(inbox)
    read = take(inbox, 3)
    assert [m.items[0].keys[0] for m in read] == ["lost7", "lost8", "lost9"]
    wait_until(lambda: len(sources.gaps) == 1)
    gap = sources.gaps[0]
    assert gap.source == "stream" and gap.reason == "trimmed" and gap.detail.startswith("7 entries")
    for message in read:
        message.receipt("confirmed")
    wait_until(lambda: pending(app, stream) == 0)
    sources.started[-1].stop()
    app.xtrim(stream, maxlen=0, approximate=False)  # everything read is trimmed: no loss this time
    sources.start(Inbox())  # announced once: the group's counter was corrected
    add(app, stream, "after")
    wait_until(lambda: pending(app, stream) >= 1)
    assert len(sources.gaps) == 1, sources.gaps


def test_a_stream_that_vanishes_is_a_failover_gap_and_reading_goes_on(sources, app, stream, inbox):
    sources.start(inbox)
    add(app, stream, "before")
    take(inbox, 1)[0].receipt("confirmed")
    app.delete(stream)  # as after a failover to a replica that never had it
    wait_until(lambda: len(sources.gaps) == 1)
    assert sources.gaps[0].reason == "failover"
    add(app, stream, "after")
    assert inbox.next_message().items == (Item("C", ("after",)),)


def test_a_group_ahead_of_the_stream_is_a_failover_gap_and_new_entries_are_read(sources, app, stream, inbox):
    sources.start(inbox)
    add(app, stream, "before")
    take(inbox, 1)[0].receipt("confirmed")
    app.xgroup_setid(stream, "test", "99999999999999-0")  # a replica that was behind: ids went back
    wait_until(lambda: len(sources.gaps) == 1)
    assert sources.gaps[0].reason == "failover"
    add(app, stream, "after")  # an id below the group's: read only because the group was moved
    assert inbox.next_message().items == (Item("C", ("after",)),)


def test_redis_down_is_reported_and_reading_resumes_without_a_gap(tmp_path, inbox):
    from tests.redis_dbs import PrivateRedis

    private = PrivateRedis(tmp_path)  # keeps its data over a restart
    private.start()
    try:
        made = Sources(f"redis://127.0.0.1:{private.port}/0", "cachesync:invalidations")
        source = made.start(inbox)
        app = redis_driver.Redis(port=private.port)
        add(app, made.stream, "k1")
        take(inbox, 1)[0].receipt("confirmed")
        wait_until(lambda: pending(app, made.stream) == 0)
        private.stop()
        wait_until(lambda: "stream" in made.context.intake.not_receiving(), timeout=10)
        assert "unreachable" in made.context.intake.not_receiving()["stream"]
        private.start()
        add(app, made.stream, "k2")
        assert inbox.next_message(timeout=15).items == (Item("C", ("k2",)),)
        assert made.context.intake.working and not made.gaps
        source.stop()
        app.close()
    finally:
        private.stop()


def test_reading_pauses_while_too_many_entries_await_their_receipt(sources, app, stream, inbox, monkeypatch):
    monkeypatch.setattr(redis_stream, "MAX_AWAITING", 5)
    add(app, stream, *(f"k{n}" for n in range(10)))  # before the start: the first read takes 5
    sources.start(inbox, count=5)
    first = take(inbox, 5)
    with pytest.raises(queue.Empty):  # the other 5 stay in the stream
        inbox.next_message(timeout=0.5)
    assert pending(app, stream) == 5
    for message in first:
        message.receipt("confirmed")
    assert [m.items[0].keys[0] for m in take(inbox, 5)] == [f"k{n}" for n in range(5, 10)]


def test_check_reports_an_unreachable_redis(url, context):
    RedisStreamSource("stream", entry("sources", type="redis-stream", url=url), context).check()  # Redis 7 here
    down = RedisStreamSource("down", entry("sources", type="redis-stream", url="redis://127.0.0.1:1/0"), context)
    with pytest.raises(SourceError, match=r"redis-stream source 'down': Redis redis://127.0.0.1:1/0 unreachable"):
        down.check()
