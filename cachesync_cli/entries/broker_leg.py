"""The settings of a cluster-local broker leg (`type = "broker"` source and target, docs/local.md):
their fields and checkers."""

from __future__ import annotations

from typing import Any

from cachesync_cli.entries.fields import (
    Field,
    broker_urls,
    choice,
    nonempty_text,
    nonempty_text_list,
    positive_number,
    secret_source,
)
from cachesync_cli.wire.envelope import Tenant

ECHO_WINDOW = 10.0
"""Seconds a leg remembers what it delivered, by default (`echo_window`)."""
SUBSCRIPTION_PREFIX = "cachesync"
"""A leg's durable subscription name starts with it: never an IS node's."""


def subscription_name(value: Any) -> str:
    name = nonempty_text(value)
    if not name.startswith(SUBSCRIPTION_PREFIX):
        raise ValueError(f"must start with {SUBSCRIPTION_PREFIX!r} (the subscription is the bridge's own, never an "
                         "IS node's: on RabbitMQ it is the queue of that name)")
    return name


def leg_urls(value: Any) -> list[str]:
    """`broker_urls`, its errors as ValueError, so that they name the file, entry and key."""
    from cachesync_cli.errors import UsageError

    try:
        return broker_urls(value)
    except UsageError as exc:
        raise ValueError(f"{exc}" + (f" ({exc.hint})" if exc.hint else "")) from None


def tenant_list(value: Any) -> list[dict[str, Any]]:
    """`[{domain = "carbon.super", id = -1234}, ...]`: both are required (an id is never guessed)."""
    if not isinstance(value, list) or not value:
        raise ValueError('must be a non-empty list of tables, e.g. [{domain = "carbon.super", id = -1234}]')
    for tenant in value:
        if not isinstance(tenant, dict) or set(tenant) != {"domain", "id"}:
            raise ValueError('each tenant needs domain and id, and nothing else: {domain = "carbon.super", '
                             'id = -1234} (IS tenant ids are never guessed)')
        try:
            Tenant(tenant["domain"], tenant["id"])
        except (TypeError, ValueError) as exc:
            raise ValueError(f"tenant {tenant!r}: {exc}") from None
        if tenant["id"] is None:
            raise ValueError(f"tenant {tenant['domain']!r}: id is required")
    return [dict(tenant) for tenant in value]


def literal_caches(value: Any) -> list[str]:
    """Literal `manager/cache` names (IS creates any cache it is told about: no patterns)."""
    names = nonempty_text_list(value)
    for name in names:
        manager, slash, cache = name.partition("/")
        if not slash or not manager or not cache or "/" in cache or "*" in name or "?" in name:
            raise ValueError(f"{name!r} is not a literal manager/cache name, e.g. "
                             '"IdentityApplicationManagementCacheManager/AppInfoCache" (no patterns)')
    return names


def _common(direction: str) -> tuple[Field, ...]:
    return (
        Field("url", leg_urls, None, "The cluster-local broker: a URL, or a list in failover order (any "
              "transport; amqp://...?exchange=jms.durable.topic for IS nodes on RabbitMQ).", required=True,
              example='"stomp://is-broker.internal:61613"'),
        Field("topic", nonempty_text, None, f"The topic {direction} (the IS nodes' cache-sync topic).",
              required=True, example='"cachesync.is"'),
        Field("codec", choice("wso2", "native"), "wso2", "wso2: IS nodes' messages (JSON or legacy text; RabbitMQ "
              "JMS framing on jms.durable.topic); native: cachesync envelopes.", example='"wso2"'),
        Field("username", nonempty_text, None, "The user on that broker (default: as in the URL, or none).",
              example='"cachesync"'),
        Field("password", secret_source, None, 'Its password: "env:NAME" or "file:PATH".',
              example='"env:IS_BROKER_PASSWORD"'),
    )


SOURCE_FIELDS = (
    *_common("read"),
    Field("subscription", subscription_name, None, "The leg's durable subscription (the queue on RabbitMQ, the "
          "subscription name and client id on ActiveMQ); must start with 'cachesync'. Default: "
          "cachesync-leg-<cluster id>.", example='"cachesync-leg-dc-east"'),
)

TARGET_FIELDS = (
    *_common("written"),
    Field("wso2_format", choice("json", "legacy", "both"), "json", "WSO2 body written: json (connector 2.1.9+), "
          "legacy (2.0.x-2.1.8), or both.", example='"json"'),
    Field("tenants", tenant_list, None, "The IS tenants a flush is sent for, and the ids of tenants "
          "invalidations name only by domain (wso2: required).", example='[{domain = "carbon.super", id = -1234}]'),
    Field("flush", literal_caches, None, "Literal manager/cache names cleared (a clear-all marker per tenant) "
          "when the other clusters' messages may be lost. Required.", required=True,
          example='["IdentityApplicationManagementCacheManager/AppInfoCache"]'),
    Field("flush_interval", positive_number, 30.0, "Seconds at least between two rounds of flushes; one asked "
          "for meanwhile is sent when the interval is over.", example="30"),
    Field("echo_window", positive_number, ECHO_WINDOW, "Seconds during which what came back equal to what "
          "this leg delivered is taken for its echo.", example="10"),
)


def check_target(entry: dict[str, Any]) -> None:
    if entry["codec"] == "wso2" and not entry["tenants"]:
        raise ValueError('tenants is required with codec "wso2": [{domain = "carbon.super", id = -1234}, ...] '
                         "(IS tenant ids are never guessed)")
