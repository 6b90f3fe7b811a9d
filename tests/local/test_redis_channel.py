"""RedisChannelSource and RedisChannelTarget against a real Redis: delivery, rejects, no loop, outages."""

from __future__ import annotations

import json
import logging

import pytest
import redis as redis_driver

from cachesync_cli.local.base import Invalidation, SourceError, TargetError
from cachesync_cli.local.redis_channel import RedisChannelSource, RedisChannelTarget
from cachesync_cli.wire.envelope import Item, Tenant

from .conftest import CHANNEL_DB, db_url, entry, wait_until


@pytest.fixture
def url(redis_url):
    return db_url(redis_url, CHANNEL_DB)


@pytest.fixture
def publisher(url):
    client = redis_driver.Redis.from_url(url)
    yield client
    client.close()


@pytest.fixture
def source(url, channel_name, context, inbox):
    src = RedisChannelSource("chan", entry("sources", type="redis-channel", url=url, channel=channel_name),
                             context)
    src.start(inbox.emit, inbox.reject)
    assert src.subscription.subscribed.wait(5)
    yield src
    src.stop()


def test_source_emits_valid_messages(source, publisher, channel_name, inbox):
    publisher.publish(channel_name, b'{"cache": "App", "keys": ["k1", "k2"]}')
    publisher.publish(channel_name, json.dumps({"tenant": {"domain": "t.com", "id": 7}, "items": [
        {"cache": "A", "all": True}, {"manager": "M", "cache": "B", "keys": ["x"]}]}))
    first = inbox.next_message()
    assert first.items == (Item("App", ("k1", "k2")),) and first.tenant is None and first.origin is None
    second = inbox.next_message()
    assert second.tenant == Tenant("t.com", 7)
    assert second.items == (Item("A", all=True), Item("B", ("x",), manager="M"))


def test_source_rejects_bad_messages(source, publisher, channel_name, inbox):
    publisher.publish(channel_name, b"{not json")
    publisher.publish(channel_name, b'{"cache": "App"}')
    publisher.publish(channel_name, b'{"cache": "App", "keys": ["' + b"x" * (1024 * 1024) + b'"]}')
    reasons = [inbox.next_rejection()[0] for _ in range(3)]
    assert reasons == ["malformed", "invalid", "oversized"]
    publisher.publish(channel_name, b'{"cache": "App", "keys": ["still-alive"]}')
    assert inbox.next_message().items[0].keys == ("still-alive",)


def test_target_rebroadcast_is_not_looped_back(source, url, publisher, channel_name, context, inbox):
    listener = publisher.pubsub()
    listener.subscribe(channel_name)
    assert listener.get_message(timeout=5)["type"] == "subscribe"
    target = RedisChannelTarget("rebroadcast", entry("targets", type="redis-channel", url=url,
                                                     channel=channel_name), context)
    invalidation = Invalidation("dc-west", (Item("App", ("k",), manager="M"),), tenant=Tenant("t.com"), id="e1")
    target.apply(invalidation)
    target.apply(invalidation)  # idempotent for listeners: the same message again
    seen = json.loads(listener.get_message(timeout=5)["data"])
    assert seen == {"origin": "dc-west", "tenant": {"domain": "t.com", "id": None},
                    "items": [{"manager": "M", "cache": "App", "keys": ["k"]}]}
    publisher.publish(channel_name, b'{"cache": "Sentinel", "keys": ["s"]}')
    assert inbox.next_message().items[0].cache == "Sentinel"  # in order: the re-broadcasts were skipped
    inbox.assert_quiet()
    target.check()
    target.close()
    listener.close()


def test_source_resubscribes_after_its_connection_is_killed(source, publisher, channel_name, inbox, caplog):
    name = "cachesync-test-chan"
    with caplog.at_level(logging.WARNING, logger="cachesync.local"):
        killed = 0
        for client in publisher.client_list():
            if client["name"] == name and "subscribe" in client["cmd"]:
                publisher.client_kill_filter(_id=client["id"])
                killed += 1
        assert killed == 1
        wait_until(lambda: not source.subscription.subscribed.is_set() or "back" in caplog.text)
        assert source.subscription.subscribed.wait(5)
        wait_until(lambda: "back" in caplog.text)
    publisher.publish(channel_name, b'{"cache": "App", "keys": ["after"]}')
    assert inbox.next_message().items[0].keys == ("after",)
    assert caplog.text.count("unreachable") == 1


def test_source_with_redis_down_warns_once_and_stops(context, inbox, caplog):
    src = RedisChannelSource("down", entry("sources", type="redis-channel", url="redis://127.0.0.1:1/0"), context)
    with pytest.raises(SourceError, match="unreachable"):
        src.check()
    with caplog.at_level(logging.WARNING, logger="cachesync.local"):
        src.start(inbox.emit, inbox.reject)
        wait_until(lambda: "unreachable" in caplog.text)
        src.stop()
    assert caplog.text.count("unreachable") == 1
    inbox.assert_quiet()


def test_target_with_redis_down_is_a_target_error(context):
    target = RedisChannelTarget("down", entry("targets", type="redis-channel", url="redis://127.0.0.1:1/0"),
                                context)
    with pytest.raises(TargetError, match="cannot publish"):
        target.apply(Invalidation("dc-west", (Item("App", ("k",)),)))
    with pytest.raises(TargetError, match="unreachable"):
        target.check()
