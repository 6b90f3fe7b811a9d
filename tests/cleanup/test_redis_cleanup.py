"""Redis cleanup against a real Redis: all, max_idle (OBJECT IDLETIME), ttl, dry run, locks,
200,000 keys, stop between batches."""

from __future__ import annotations

import threading
import time

from cachesync_cli.cleanup.locks import LOCK_PREFIX
from cachesync_cli.local.redis_common import redis_namespace

from .conftest import BIG_DB, cleaner, fill, keys_of, redis_db


def test_all_removes_the_named_caches_and_nothing_else(policy_db, context):
    url, client = policy_db
    client.mset({"App:1": 1, "App:2": 2, "AppX:1": 3, "Other:1": 4, "nocolon": 5, "C:1": 6})
    # "M/C" is cache C of manager M: the template has no {manager}, so any C:* key
    context.echo_guard.watch(redis_namespace(url))  # as a keyspace source on this db would
    result = cleaner(context, type="redis", url=url, caches=["App", "M/C"]).run()
    assert (result.status, result.scanned, result.removed, result.errors) == ("ok", 3, 3, [])
    assert keys_of(client) == {"AppX:1", "Other:1", "nocolon"}
    assert context.echo_guard.is_echo(redis_namespace(url), "App:1")  # a keyspace source would not publish it
    result = cleaner(context, type="redis", url=url, caches=["App*"]).run()
    assert result.removed == 1 and keys_of(client) == {"Other:1", "nocolon"}
    result = cleaner(context, type="redis", url=url).run()  # no caches: every key the template matches
    assert result.removed == 1 and keys_of(client) == {"nocolon"}
    assert result.bytes_freed is None and result.to_json()["bytes_freed"] is None


def test_templates_with_tenant_and_manager(policy_db, context):
    url, client = policy_db
    client.mset({"t1/M/App/k": 1, "t2/N/App/k": 2, "t1/M/Other/k": 3})
    result = cleaner(context, type="redis", url=url, template="{tenant}/{manager}/{cache}/{key}",
                     caches=["App"]).run()
    assert result.removed == 2 and keys_of(client) == {"t1/M/Other/k"}


def test_dry_run_lists_and_deletes_nothing(policy_db, context):
    url, client = policy_db
    client.mset({"App:1": 1, "App:2": 2, "Other:1": 3})
    listed = []
    result = cleaner(context, type="redis", url=url, caches=["App"]).run(dry_run=True, listing=listed.append)
    assert result.dry_run and result.removed == 2 and sorted(listed) == ["App:1", "App:2"]
    assert keys_of(client) == {"App:1", "App:2", "Other:1"}


def test_max_idle_removes_only_keys_unused_for_that_long(policy_db, context):
    url, client = policy_db
    assert client.config_get("maxmemory-policy")["maxmemory-policy"] != "allkeys-lfu"
    client.mset({f"App:{n}": n for n in range(10)})
    time.sleep(2.1)
    for n in (0, 1, 2):
        client.get(f"App:{n}")  # used: stays
    client.set("App:new", 1)
    result = cleaner(context, type="redis", url=url, policy="max_idle", max_idle="2s").run()
    assert (result.status, result.scanned, result.removed) == ("ok", 11, 7)
    assert keys_of(client) == {"App:0", "App:1", "App:2", "App:new"}


def test_ttl_gives_keys_without_one_a_ttl_and_leaves_the_others(policy_db, context):
    url, client = policy_db
    client.mset({"App:1": 1, "App:2": 2})
    client.set("App:3", 3, ex=1000)
    dry = cleaner(context, type="redis", url=url, policy="ttl", ttl="100s").run(dry_run=True)
    assert dry.removed == 2 and client.ttl("App:1") == -1
    result = cleaner(context, type="redis", url=url, policy="ttl", ttl="100s").run()
    assert (result.scanned, result.removed) == (3, 2)
    assert 90 < client.ttl("App:1") <= 100 and 90 < client.ttl("App:2") <= 100 and client.ttl("App:3") > 900
    assert keys_of(client) == {"App:1", "App:2", "App:3"}
    assert cleaner(context, type="redis", url=url, policy="ttl", ttl="100s").run().removed == 0


def test_a_held_lock_skips_the_run_visibly_and_locks_are_never_cleaned(policy_db, context):
    url, client = policy_db
    client.mset({"App:1": 1})
    client.set(LOCK_PREFIX + "busy", "someone-else", px=10_000)
    result = cleaner(context, type="redis", url=url, name="busy").run()
    assert result.status == "locked" and not result.failed and result.removed == 0
    assert "another run holds cachesync:cleanup-lock:busy" in result.errors[0]
    assert keys_of(client) == {"App:1", LOCK_PREFIX + "busy"}
    result = cleaner(context, type="redis", url=url, name="free").run()  # its template matches lock keys too
    assert result.removed == 1 and keys_of(client) == {LOCK_PREFIX + "busy"}  # its own lock is released


def test_the_lock_is_held_during_a_run(policy_db, context):
    url, client = policy_db
    seen = []
    run = cleaner(context, type="redis", url=url, name="mine")
    client.mset({"App:1": 1})
    run.run(listing=lambda key: seen.append(client.get(LOCK_PREFIX + "mine")), dry_run=True)
    assert seen and seen[0] and client.get(LOCK_PREFIX + "mine") is None


def test_unreachable_redis_fails_with_a_message(context):
    result = cleaner(context, type="redis", url="redis://127.0.0.1:1/0").run()
    assert result.failed and "Connection" in result.errors[0] and "127.0.0.1:1" in result.errors[0]


def test_200000_keys_all(redis_url, context, capsys):
    url, client = redis_db(redis_url, BIG_DB)
    try:
        began = time.monotonic()
        fill(client, 200_000)
        filled = time.monotonic() - began
        client.set("Keep:1", 1)
        result = cleaner(context, type="redis", url=url, caches=["Big"]).run()
        assert (result.status, result.removed) == ("ok", 200_000)
        assert result.scanned >= 200_000
        assert client.dbsize() == 1
        with capsys.disabled():
            print(f"\n200,000 Redis keys: created in {filled:.2f} s (pipelined MSET), "
                  f"cleaned in {result.seconds:.2f} s (SCAN COUNT 1000 + UNLINK per batch)")
        assert result.seconds < 60
    finally:
        client.flushdb()
        client.close()


def test_stop_flag_ends_a_run_between_batches(redis_url, context):
    url, client = redis_db(redis_url, BIG_DB)
    try:
        fill(client, 50_000)
        stop = threading.Event()
        done = []

        def run():
            done.append(cleaner(context, type="redis", url=url, scan_count=100).run(stop))

        thread = threading.Thread(target=run)
        thread.start()
        while client.dbsize() > 45_000:
            time.sleep(0.005)
        stop.set()
        thread.join(10)
        result = done[0]
        assert result.status == "stopped" and not result.failed
        # Stopped early, between batches (not always a multiple of 100: SCAN may return a key
        # twice while the table shrinks under the deletes, and UNLINK counts it once).
        assert 0 < result.removed < 50_000
        assert client.dbsize() == 50_000 - result.removed
        assert client.get(LOCK_PREFIX + "redis-1") is None  # released on the way out
    finally:
        client.flushdb()
        client.close()
