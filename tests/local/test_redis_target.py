"""RedisTarget against a real Redis: keys, all (SCAN), templates, echo guard, outages."""

from __future__ import annotations

import logging

import pytest

from cachesync_cli.local.base import Invalidation, TargetError
from cachesync_cli.local.redis_common import redis_namespace
from cachesync_cli.local.redis_target import RedisTarget
from cachesync_cli.wire.envelope import Item, Tenant

from .conftest import TARGET_DB, entry, flushed_db


@pytest.fixture
def db(redis_url):
    url, client = flushed_db(redis_url, TARGET_DB)
    yield url, client
    client.flushdb()
    client.close()


def target(context, url, **fields):
    return RedisTarget("redis-test", entry("targets", type="redis", url=url, **fields), context)


def keys_of(client) -> set[str]:
    return {k.decode() for k in client.scan_iter(count=1000)}


def test_deletes_the_keys_and_nothing_else_idempotently(db, context):
    url, client = db
    client.mset({"App:a": 1, "App:b": 2, "App:c": 3, "Other:a": 4, "App:user:1": 5})
    context.echo_guard.watch(redis_namespace(url))  # as a keyspace source on this db would
    redis = target(context, url)
    invalidation = Invalidation("dc-west", (Item("App", ("a", "b", "user:1", "missing")),), id="e1")
    redis.apply(invalidation)
    assert keys_of(client) == {"App:c", "Other:a"}
    redis.apply(invalidation)  # again: nothing left to delete, no error
    assert keys_of(client) == {"App:c", "Other:a"}
    namespace = redis_namespace(url)
    assert context.echo_guard.is_echo(namespace, "App:a")
    assert not context.echo_guard.is_echo(namespace, "App:c")


def test_all_scans_only_the_cache_with_glob_characters_escaped(db, context):
    url, client = db
    client.mset({"a*b:1": 1, "a*b:2": 2, "axb:1": 3, "a*bc:1": 4, "Other:1": 5})
    context.echo_guard.watch(redis_namespace(url))
    target(context, url).apply(Invalidation("dc-west", (Item("a*b", all=True),)))
    assert keys_of(client) == {"axb:1", "a*bc:1", "Other:1"}
    assert context.echo_guard.is_echo(redis_namespace(url), "a*b:1")


def test_templates_with_tenant_and_manager(db, context):
    url, client = db
    client.mset({"t1.com/M/App/k": 1, "t2.com/M/App/k": 2, "t1.com/N/App/k": 3, "t1.com/M/App/j": 4})
    redis = target(context, url, template="{tenant}/{manager}/{cache}/{key}")
    redis.apply(Invalidation("dc-west", (Item("App", ("k",), manager="M"),), tenant=Tenant("t1.com", 1)))
    assert keys_of(client) == {"t2.com/M/App/k", "t1.com/N/App/k", "t1.com/M/App/j"}
    redis.apply(Invalidation("dc-west", (Item("App", all=True, manager="M"),), tenant=Tenant("t1.com")))
    assert keys_of(client) == {"t2.com/M/App/k", "t1.com/N/App/k"}


def test_an_item_without_the_tenant_its_template_needs_is_skipped_with_a_warning(db, context, caplog):
    url, client = db
    client.mset({"t1.com:App:k": 1, "plain": 2})
    redis = target(context, url, template="{tenant}:{cache}:{key}")
    with caplog.at_level(logging.WARNING, logger="cachesync.local"):
        redis.apply(Invalidation("dc-west", (Item("App", ("k",)), Item("App", all=True))))
    assert keys_of(client) == {"t1.com:App:k", "plain"}
    assert "needs {tenant}" in caplog.text


def test_ten_thousand_keys_in_one_invalidation(db, context):
    url, client = db
    pipe = client.pipeline(transaction=False)
    for i in range(10_000):
        pipe.set(f"Big:{i}", i)
    pipe.set("Big2:0", 0)
    pipe.execute()
    target(context, url, scan_count=500).apply(
        Invalidation("dc-west", (Item("Big", tuple(str(i) for i in range(10_000))),)))
    assert keys_of(client) == {"Big2:0"}


def test_all_over_twenty_thousand_keys_with_scan(db, context):
    url, client = db
    pipe = client.pipeline(transaction=False)
    for i in range(20_000):
        pipe.set(f"Huge:{i}", i)
    for i in range(100):
        pipe.set(f"Kept:{i}", i)
    pipe.execute()
    context.echo_guard.watch(redis_namespace(url))
    target(context, url).apply(Invalidation("dc-west", (Item("Huge", all=True),)))
    assert client.dbsize() == 100
    assert context.echo_guard.is_echo(redis_namespace(url), "Huge:19999")


def test_flushdb_only_when_asked(db, context):
    url, client = db
    client.mset({"App:1": 1, "Other:1": 1})
    target(context, url, flushdb_on_all=True).apply(Invalidation("dc-west", (Item("App", all=True),)))
    assert client.dbsize() == 0


def test_unreachable_redis_is_a_target_error(context):
    redis = target(context, "redis://127.0.0.1:1/0")  # building never connects
    with pytest.raises(TargetError, match="redis target 'redis-test'"):
        redis.apply(Invalidation("dc-west", (Item("App", ("k",)),)))
    with pytest.raises(TargetError):
        redis.apply(Invalidation("dc-west", (Item("App", all=True),)))
    with pytest.raises(TargetError, match="unreachable"):
        redis.check()


def test_check_passes_when_redis_answers(db, context):
    target(context, db[0]).check()


def test_gap_flush_patterns_match_every_tenant(db, context):
    url, client = db
    client.mset({"t1.com:OAuthCache:k": 1, "t2.com:OAuthScope:k": 1, "t1.com:App:k": 1, "plain": 1})
    redis = target(context, url, template="{tenant}:{cache}:{key}")
    redis.apply(Invalidation("x", (Item("OAuth*", all=True),), reason="gap-flush"))
    assert keys_of(client) == {"t1.com:App:k", "plain"}
    redis.apply(Invalidation("x", (Item("*", all=True),), reason="gap-flush"))
    assert keys_of(client) == {"plain"}
