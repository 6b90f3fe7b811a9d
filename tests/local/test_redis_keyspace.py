"""RedisKeyspaceSource against a real Redis: notifications on, key mapping, filters, echo suppression."""

from __future__ import annotations

import logging

import pytest

from cachesync_cli.local.base import Invalidation, SourceError
from cachesync_cli.local.redis_keyspace import RedisKeyspaceSource, missing_flags, needed_flags
from cachesync_cli.local.redis_target import RedisTarget
from cachesync_cli.wire.envelope import Item, Tenant

from .conftest import KEYSPACE_DB, entry, flushed_db

SENTINEL = "Sentinel:s"


@pytest.fixture
def db(redis_url):
    url, client = flushed_db(redis_url, KEYSPACE_DB)
    before = client.config_get("notify-keyspace-events")["notify-keyspace-events"]
    yield url, client
    client.config_set("notify-keyspace-events", before)
    client.flushdb()
    client.close()


def start(context, inbox, url, **fields) -> RedisKeyspaceSource:
    source = RedisKeyspaceSource("ks", entry("sources", type="redis-keyspace", url=url, **fields), context)
    source.start(inbox.emit, inbox.reject)
    assert source.subscription.subscribed.wait(5)
    return source


def delete_sentinel_and_expect_it(client, inbox) -> None:
    """Notifications arrive in order: when the sentinel's arrives, everything before it has."""
    client.set(SENTINEL, 1)
    client.delete(SENTINEL)
    message = inbox.next_message()
    assert message.items == (Item("Sentinel", ("s",)),), message


def test_turns_notifications_on_and_maps_deletes_to_items(db, context, inbox):
    url, client = db
    client.config_set("notify-keyspace-events", "")
    source = start(context, inbox, url)
    try:
        flags = client.config_get("notify-keyspace-events")["notify-keyspace-events"]
        assert {"K", "g"} <= set(flags)
        client.mset({"App:k1": 1, "App:user:1": 2, "Other:x": 3, "nocolon": 4})
        client.delete("App:k1")
        client.unlink("App:user:1")
        client.set("App:k1", 5)  # a set is not an invalidation
        client.delete("nocolon")  # does not fit "{cache}:{key}"
        assert inbox.next_message().items == (Item("App", ("k1",)),)
        assert inbox.next_message().items == (Item("App", ("user:1",)),)
        delete_sentinel_and_expect_it(client, inbox)
        inbox.assert_quiet()
    finally:
        source.stop()


def test_caches_filter_and_tenant_manager_template(db, context, inbox):
    url, client = db
    source = start(context, inbox, url, template="{tenant}|{manager}|{cache}|{key}",
                   caches=["M/OAuth*", "AppInfoCache", "Sentinel"])
    try:
        client.mset({"t.com|M|OAuthCache|tok:1": 1, "t.com|N|OAuthCache|x": 2, "t.com|N|AppInfoCache|a|b": 3,
                     "t.com|N|Ignored|z": 4, "t.com|M|Sentinel|s": 5})
        client.delete("t.com|M|OAuthCache|tok:1", "t.com|N|OAuthCache|x", "t.com|N|AppInfoCache|a|b",
                      "t.com|N|Ignored|z")
        first = inbox.next_message()
        assert first.items == (Item("OAuthCache", ("tok:1",), manager="M"),) and first.tenant == Tenant("t.com")
        assert inbox.next_message().items == (Item("AppInfoCache", ("a|b",), manager="N"),)
        client.delete("t.com|M|Sentinel|s")
        assert inbox.next_message().items[0].cache == "Sentinel"
        inbox.assert_quiet()
    finally:
        source.stop()


def test_deletes_of_the_redis_target_are_not_echoed(db, context, inbox):
    url, client = db
    source = start(context, inbox, url)
    target = RedisTarget("r", entry("targets", type="redis", url=url), context)  # same context: same guard
    try:
        client.mset({f"App:{i}": i for i in range(50)})
        target.apply(Invalidation("dc-west", (Item("App", ("0", "1", "2")),)))
        target.apply(Invalidation("dc-west", (Item("App", all=True),)))
        delete_sentinel_and_expect_it(client, inbox)
        inbox.assert_quiet()
        client.set("App:again", 1)
        client.delete("App:again")  # the application's own delete still counts
        assert inbox.next_message().items == (Item("App", ("again",)),)
    finally:
        target.close()
        source.stop()


def test_expired_events(db, context, inbox):
    url, client = db
    source = start(context, inbox, url, events=["del", "expired"])
    try:
        assert "x" in client.config_get("notify-keyspace-events")["notify-keyspace-events"]
        client.set("App:short", 1, px=20)
        assert inbox.next_message(timeout=5).items == (Item("App", ("short",)),)
    finally:
        source.stop()


def test_configure_false_leaves_redis_alone_and_warns(db, context, inbox, caplog):
    url, client = db
    client.config_set("notify-keyspace-events", "")
    with caplog.at_level(logging.WARNING, logger="cachesync.local"):
        source = start(context, inbox, url, configure=False)
        source.stop()
    assert client.config_get("notify-keyspace-events")["notify-keyspace-events"] == ""
    assert "lacks" in caplog.text


def test_flags():
    assert needed_flags(["del", "unlink"]) == {"K", "g"}
    assert needed_flags(["expired", "evicted"]) == {"K", "x", "e"}
    assert missing_flags("AK", {"K", "g", "x"}) == set()
    assert missing_flags("Eg", {"K", "g"}) == {"K"}


def test_unreachable_redis_is_a_source_error(context):
    source = RedisKeyspaceSource("ks", entry("sources", type="redis-keyspace", url="redis://127.0.0.1:1/0"),
                                 context)
    with pytest.raises(SourceError, match="unreachable"):
        source.check()
