"""A broker leg's settings are checked with errors naming the file, entry and key, and its echo
guard knows an invalidation by (topic, tenant, manager, cache, key bytes) for its window."""

from __future__ import annotations

import pytest

from cachesync_cli.errors import ConfigError
from cachesync_cli.local.leg_guard import LegGuard, is_leg_producer, leg_producer
from cachesync_cli.entries import validate_entry
from cachesync_cli.wire import Item, Tenant
from cachesync_cli.wire.javaser import serialize_string

TARGET = {"type": "broker", "url": "stomp://127.0.0.1:61613", "topic": "is",
          "tenants": [{"domain": "carbon.super", "id": -1234}], "flush": ["M/AppInfoCache"]}


@pytest.mark.parametrize("change, message", [
    ({"tenants": None}, 'tenants is required with codec "wso2"'),
    ({"tenants": [{"domain": "carbon.super"}]}, "tenants: each tenant needs domain and id"),
    ({"flush": ["M/App*"]}, "flush: 'M/App*' is not a literal manager/cache name"),
    ({"flush": ["AppInfoCache"]}, "flush: 'AppInfoCache' is not a literal manager/cache name"),
    ({"flush": None}, "flush is required"),
    ({"url": "nats://x"}, "url"),
])
def test_a_broker_target_refuses_what_it_cannot_use(change, message):
    entry = {k: v for k, v in {**TARGET, **change}.items() if v is not None}
    with pytest.raises(ConfigError, match="cachesync.toml: \\[\\[targets\\]\\] #1 \\(broker\\)") as error:
        validate_entry("targets", 0, entry, "cachesync.toml")
    assert message in str(error.value)


def test_a_broker_source_subscription_is_the_bridges_own():
    with pytest.raises(ConfigError, match="subscription: must start with 'cachesync'"):
        validate_entry("sources", 0, {"type": "broker", "url": "stomp://h:1", "topic": "is",
                                      "subscription": "is-node-durable"}, "cachesync.toml")
    native = {k: v for k, v in TARGET.items() if k != "tenants"} | {"codec": "native"}
    assert validate_entry("targets", 0, native, "cachesync.toml")["tenants"] is None  # no IS tenants there


def test_the_guard_knows_an_invalidation_by_its_bytes_for_its_window():
    guard = LegGuard(window=60)
    tenant = Tenant("carbon.super", -1234)
    guard.note("is", tenant, [Item(cache="AppInfoCache", manager="M", keys=("app-1",)),
                              Item(cache="OAuthCache", manager="O", java_keys=(serialize_string("x"),))])
    assert guard.is_echo("is", tenant, Item(cache="AppInfoCache", manager="M", keys=("app-1",)))
    assert guard.is_echo("is", tenant, Item(cache="OAuthCache", manager="O", java_keys=(serialize_string("x"),)))
    assert guard.is_echo("is", tenant, Item(cache="OAuthCache", manager="O", keys=("x",)))  # the same bytes
    assert not guard.is_echo("is", tenant, Item(cache="AppInfoCache", manager="M", keys=("app-1", "app-2")))
    assert not guard.is_echo("other", tenant, Item(cache="AppInfoCache", manager="M", keys=("app-1",)))
    assert not guard.is_echo("is", Tenant("t.com", 3), Item(cache="AppInfoCache", manager="M", keys=("app-1",)))
    assert not guard.is_echo("is", tenant, Item(cache="AppInfoCache", manager="M", all=True))
    expired = LegGuard(window=60)
    expired.note("is", tenant, [Item(cache="C", manager="M", all=True)], window=0)
    assert not expired.is_echo("is", tenant, Item(cache="C", manager="M", all=True))


def test_the_reserved_producer_prefix():
    assert leg_producer("dc-east") == "cachesync-bridge/dc-east" and is_leg_producer("cachesync-bridge/x")
    assert not is_leg_producer("cachesync-dc-east") and not is_leg_producer(None)
