"""Invalidations an application makes in its own Redis, seen through keyspace notifications.

PSUBSCRIBEs `__keyspace@<db>__:*`; each notification whose event is in `events` and
whose key fits `template` (and whose cache is in `caches`) becomes one LocalMessage of
one key (the bridge coalesces). Keys the Redis target deleted a moment ago are echoes
of remote invalidations (`EchoGuard`, same namespace as the target) and are skipped.

With `configure` true, the source turns on the notify-keyspace-events flags it needs
(K plus g for del/unlink..., x for expired, e for evicted) with CONFIG SET, adding to
what is already set, and again after every reconnect (a restarted Redis forgets). With
`configure` false, missing flags are logged as a warning. Keys that are not UTF-8 are
rejected as invalid. Outages: one warning, reconnect with backoff, subscribe again.
"""

from __future__ import annotations

import fnmatch
import logging

from cachesync_cli.errors import ConfigError
from cachesync_cli.local.base import EmitFn, RejectFn
from cachesync_cli.local.key_template import KeyTemplate
from cachesync_cli.local.redis_common import decode_key, redis_db, redis_namespace
from cachesync_cli.local.redis_subscription import RedisSubscription, SubscribedSource
from cachesync_cli.wire.envelope import Item, Tenant
from cachesync_cli.wire.local import LocalMessage

log = logging.getLogger("cachesync.local")

#: notify-keyspace-events class of each event name (redis.io/docs/.../keyspace-notifications)
EVENT_CLASSES = {
    "del": "g", "unlink": "g", "rename_from": "g", "rename_to": "g", "move_from": "g", "move_to": "g",
    "copy_to": "g", "restore": "g", "expire": "g", "persist": "g",
    "expired": "x", "evicted": "e", "new": "n",
    "set": "$", "setrange": "$", "incrby": "$", "incrbyfloat": "$", "append": "$",
}
ALL_CLASSES = "g$lshzxetd"  # what the A alias stands for


def needed_flags(events: list[str]) -> set[str]:
    """The notify-keyspace-events flags for `events`: K and each event's class (A if unknown)."""
    flags = {"K"}
    for event in events:
        flags.add(EVENT_CLASSES.get(event, "A"))
    return flags


def missing_flags(current: str, needed: set[str]) -> set[str]:
    have = set(current)
    if "A" in have:
        have |= set(ALL_CLASSES)
    if "A" in needed and set(ALL_CLASSES) <= have:
        have.add("A")
    return needed - have


class RedisKeyspaceSource(SubscribedSource):
    type = "redis-keyspace"

    def __init__(self, name, options, context) -> None:
        super().__init__(name, options, context)
        self.url = options["url"]
        self.template = KeyTemplate(options["template"])
        if "cache" not in self.template.fields:
            raise ConfigError(f"{self.describe()}: template {self.template.template!r} must contain {{cache}} "
                              "(a key must name its cache)")
        self.caches = options.get("caches")
        self.events = frozenset(options["events"])
        self.configure = options["configure"]
        self.db = redis_db(self.url)
        self.namespace = redis_namespace(self.url)
        context.echo_guard.watch(self.namespace)
        self._prefix = f"__keyspace@{self.db}__:"
        self._emit: EmitFn | None = None
        self._reject: RejectFn | None = None
        self.subscription = RedisSubscription(
            self.url, label=self.describe(), client_name=f"cachesync-{context.cluster}-{name}",
            subscribe=lambda pubsub: pubsub.psubscribe(f"{self._prefix}*"),
            on_message=self._on_message, on_connect=self._ensure_notifications)

    def _ensure_notifications(self, client) -> None:
        """Turn on the flags `events` need; a refused CONFIG (managed Redis, ACL) is only a warning.
        Connection errors propagate: the subscription treats them as an outage."""
        from redis.exceptions import ResponseError

        needed = needed_flags(sorted(self.events))
        try:
            raw = client.config_get("notify-keyspace-events").get(b"notify-keyspace-events", b"")
        except ResponseError as exc:
            log.warning("%s: cannot read notify-keyspace-events (%s); it must contain %s", self.describe(),
                        exc, "".join(sorted(needed)))
            return
        current = decode_key(raw)
        missing = missing_flags(current, needed)
        if not missing:
            return
        if not self.configure:
            log.warning("%s: notify-keyspace-events is %r and lacks %s: no notifications will arrive "
                        "(set configure = true or configure Redis)", self.describe(), current,
                        "".join(sorted(missing)))
            return
        wanted = current + "".join(sorted(missing))
        try:
            client.config_set("notify-keyspace-events", wanted)
        except ResponseError as exc:
            log.warning("%s: cannot set notify-keyspace-events to %r (%s): no notifications will arrive",
                        self.describe(), wanted, exc)
            return
        log.info("%s: set notify-keyspace-events to %r", self.describe(), wanted)

    def _on_message(self, message: dict) -> None:
        event = decode_key(message["data"])
        if event not in self.events:
            return
        key = decode_key(message["channel"])[len(self._prefix):]
        if self.context.echo_guard.is_echo(self.namespace, key):
            return
        parts = self.template.parse(key)
        if parts is None or not self._wanted(parts["cache"], parts.get("manager")):
            return
        try:
            tenant = Tenant(parts["tenant"]) if "tenant" in parts else None
            item = Item(cache=parts["cache"], keys=(parts["key"],), manager=parts.get("manager"))
        except ValueError as exc:
            self._reject("invalid", f"Redis key {key!r}: {exc}")
            return
        self._emit(LocalMessage(items=(item,), tenant=tenant))

    def _wanted(self, cache: str, manager: str | None) -> bool:
        if not self.caches:
            return True
        full = f"{manager}/{cache}" if manager else None
        for pattern in self.caches:
            if "/" in pattern:
                if full is not None and fnmatch.fnmatchcase(full, pattern):
                    return True
            elif fnmatch.fnmatchcase(cache, pattern):
                return True
        return False
