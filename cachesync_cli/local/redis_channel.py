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
from cachesync_cli.local.base import EmitFn, Invalidation, RejectFn, Source, SourceError, Target, TargetError
from cachesync_cli.local.redis_common import redis_client, redis_errors, redis_safe_url
from cachesync_cli.local.redis_subscription import RedisSubscription
from cachesync_cli.wire.envelope import dumps_compact
from cachesync_cli.wire.local import LocalMessage, parse_local_message


class RedisChannelSource(Source):
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

    def start(self, emit: EmitFn, reject: RejectFn) -> None:
        self._emit, self._reject = emit, reject
        self.subscription.start()

    def stop(self) -> None:
        self.subscription.stop()

    def check(self) -> None:
        try:
            client = redis_client(self.url)
            try:
                client.ping()
            finally:
                client.close()
        except ValueError as exc:
            raise SourceError(f"{self.describe()}: bad Redis URL: {exc}") from None
        except redis_errors() as exc:
            raise SourceError(f"{self.describe()}: Redis {redis_safe_url(self.url)} unreachable: {exc}") from None

    def _on_message(self, message: dict) -> None:
        try:
            local = parse_local_message(message["data"])
        except DecodeError as exc:
            self._reject(exc.reason, str(exc))
            return
        if local.origin is None:  # with an origin it is a bridge's re-broadcast: not ours to publish
            self._emit(local)


class RedisChannelTarget(Target):
    type = "redis-channel"

    def __init__(self, name, options, context) -> None:
        super().__init__(name, options, context)
        self.url = options["url"]
        self.channel = options["channel"]
        self._client = None

    def _redis(self):
        if self._client is None:
            try:
                self._client = redis_client(self.url, client_name=f"cachesync-{self.context.cluster}-{self.name}")
            except ValueError as exc:
                raise TargetError(f"{self.describe()}: bad Redis URL: {exc}") from None
        return self._client

    def apply(self, invalidation: Invalidation) -> None:
        message = LocalMessage(invalidation.items, invalidation.tenant, origin=invalidation.origin)
        try:
            self._redis().publish(self.channel, dumps_compact(message.to_dict()))
        except redis_errors() as exc:
            raise TargetError(f"{self.describe()}: cannot publish on {self.channel!r} at "
                              f"{redis_safe_url(self.url)}: {exc}") from None

    def check(self) -> None:
        try:
            self._redis().ping()
        except redis_errors() as exc:
            raise TargetError(f"{self.describe()}: Redis {redis_safe_url(self.url)} unreachable: {exc}") from None

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
