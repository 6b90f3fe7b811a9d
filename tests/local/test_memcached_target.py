"""MemcachedTarget against a real memcached: deletes, invalid keys, all, down servers."""

from __future__ import annotations

import logging
import secrets

import pytest
from pymemcache.client.base import Client

from cachesync_cli.local.base import Invalidation, TargetError
from cachesync_cli.local.memcached_target import MemcachedTarget, memcached_key_problem, parse_server
from cachesync_cli.wire.envelope import Item, Tenant

from .conftest import entry


@pytest.fixture
def memcached(memcached_address):
    # default_noreply=False: a `set` sent without waiting for its reply could reach memcached
    # after the target's `delete` (another connection) and the key would still be there.
    client = Client(parse_server(memcached_address), allow_unicode_keys=True, default_noreply=False)
    yield memcached_address, client
    client.close()


@pytest.fixture
def cache() -> str:
    return f"C{secrets.token_hex(4)}"


def target(context, servers, **fields):
    return MemcachedTarget("mc", entry("targets", type="memcached", servers=servers, **fields), context)


def test_deletes_the_keys_on_every_server_idempotently(memcached, context, cache):
    address, client = memcached
    for key in ("a", "b", "c", "ünï"):
        client.set(f"{cache}:{key}", b"v")
    client.set(f"other{cache}:a", b"v")
    mc = target(context, [address, address.replace("127.0.0.1", "localhost")])
    invalidation = Invalidation("dc-west", (Item(cache, ("a", "b", "ünï", "missing")),))
    mc.apply(invalidation)
    mc.apply(invalidation)
    assert client.get(f"{cache}:a") is None and client.get(f"{cache}:ünï") is None
    assert client.get(f"{cache}:c") == b"v" and client.get(f"other{cache}:a") == b"v"
    mc.check()
    mc.close()


def test_keys_memcached_cannot_hold_are_skipped_with_a_warning(memcached, context, cache, caplog):
    address, client = memcached
    client.set(f"{cache}:ok", b"v")
    with caplog.at_level(logging.WARNING, logger="cachesync.local"):
        target(context, [address]).apply(
            Invalidation("dc-west", (Item(cache, ("with space", "tab\t", "x" * 300, "ok")),)))
    assert client.get(f"{cache}:ok") is None
    assert caplog.text.count("not a valid memcached key") == 3
    assert memcached_key_problem("x" * 250) is None and memcached_key_problem("é" * 126)


def test_tenant_template(memcached, context, cache):
    address, client = memcached
    client.set(f"t.com:{cache}:k", b"v")
    target(context, [address], template="{tenant}:{cache}:{key}").apply(
        Invalidation("dc-west", (Item(cache, ("k",)),), tenant=Tenant("t.com")))
    assert client.get(f"t.com:{cache}:k") is None


def test_all_flushes_or_skips(private_memcached, context, cache, caplog):
    """On a memcached of its own: a flush_all must not wipe the keys of tests running beside it."""
    client = Client(parse_server(private_memcached), default_noreply=False)
    client.set(f"{cache}:a", b"v")
    with caplog.at_level(logging.WARNING, logger="cachesync.local"):
        target(context, [private_memcached], on_all="skip").apply(Invalidation("dc-west", (Item(cache, all=True),)))
    assert client.get(f"{cache}:a") == b"v"
    assert "cannot drop all" in caplog.text
    target(context, [private_memcached]).apply(Invalidation("dc-west", (Item(cache, all=True),)))
    assert client.get(f"{cache}:a") is None
    client.close()


def test_a_down_server_is_a_target_error_after_the_others_are_done(memcached, context, cache):
    address, client = memcached
    client.set(f"{cache}:a", b"v")
    mc = target(context, ["127.0.0.1:1", address])
    with pytest.raises(TargetError, match="1 of 2 server.*127.0.0.1:1"):
        mc.apply(Invalidation("dc-west", (Item(cache, ("a",)),)))
    assert client.get(f"{cache}:a") is None
    with pytest.raises(TargetError, match="127.0.0.1:1 unreachable"):
        mc.check()


def test_down_without_memcached_running(context):
    with pytest.raises(TargetError):
        target(context, ["127.0.0.1:1"]).apply(Invalidation("dc-west", (Item("C", all=True),)))
    assert parse_server("[::1]:11311") == ("::1", 11311) and parse_server("cache-1") == ("cache-1", 11211)
