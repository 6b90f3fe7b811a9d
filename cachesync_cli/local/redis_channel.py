"""Local messages over a Redis pub/sub channel: a source (apps -> bridge) and a target (bridge -> apps).

`RedisChannelSource` subscribes to `channel` and emits each valid WIRE.md §4 message;
invalid ones are rejected (malformed, invalid, oversized). A message carrying `origin`
was re-broadcast by a bridge and is skipped silently: that is echo suppression, so a
source and a `RedisChannelTarget` may share a channel without looping. When Redis goes
away the source logs one warning, reconnects with backoff and subscribes again.

`RedisChannelTarget` PUBLISHes a remote invalidation as a local message with `origin`
set, for application nodes that keep in-memory caches (WSO2 "hybrid mode"). Publishing
again is harmless (idempotent for the listeners); an unreachable Redis is a TargetError.
"""

from __future__ import annotations

from cachesync_cli.errors import DecodeError
from cachesync_cli.local.base import EmitFn, Invalidation, RejectFn, TargetError
from cachesync_cli.local.redis_common import RedisBackedTarget, redis_errors, redis_safe_url
from cachesync_cli.local.redis_subscription import RedisSubscription, SubscribedSource
from cachesync_cli.wire.envelope import dumps_compact
from cachesync_cli.wire.local import LocalMessage, parse_local_message


class RedisChannelSource(SubscribedSource):
    type = "redis-channel"

    def __init__(self, name, options, context) -> None:
        super().__init__(name, options, context)
        self.url = options["url"]
        self.channel = options["channel"]
        self._emit: EmitFn | None = None
        self._reject: RejectFn | None = None
        self.subscription = RedisSubscription(
            self.url, label=self.describe(), client_name=f"cachesync-{context.cluster}-{name}",
            subscribe=lambda pubsub: pubsub.subscribe(self.channel), on_message=self._on_message)

    def _on_message(self, message: dict) -> None:
        try:
            local = parse_local_message(message["data"])
        except DecodeError as exc:
            self._reject(exc.reason, str(exc))
            return
        if local.origin is None:  # with an origin it is a bridge's re-broadcast: not ours to publish
            self._emit(local)


class RedisChannelTarget(RedisBackedTarget):
    type = "redis-channel"

    def __init__(self, name, options, context) -> None:
        super().__init__(name, options, context)
        self.channel = options["channel"]

    def apply(self, invalidation: Invalidation) -> None:
        message = LocalMessage(invalidation.items, invalidation.tenant, origin=invalidation.origin)
        try:
            self._redis().publish(self.channel, dumps_compact(message.to_dict()))
        except redis_errors() as exc:
            raise TargetError(f"{self.describe()}: cannot publish on {self.channel!r} at "
                              f"{redis_safe_url(self.url)}: {exc}") from None

