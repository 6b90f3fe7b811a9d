"""The chaos harness of issue 15: invalidations flow both ways between clusters a and b while
a fault is injected into a real process, and a recorder measures how long each revoked key
stayed readable in the other cluster.

The model of an application: every key is cached in both clusters' Redis; the owning
cluster's app deletes its own copy and PUBLISHes the invalidation on its channel
(`local.<cluster>`), at a steady rate (`InvalidationStream`). The `StalenessRecorder`
(staleness_recorder.py) says what became of each far copy: applied, flushed or stale, and
how long it stayed readable. The pass mark is `within_bound`: max staleness <= BOUND and
0 stale.

`benchmarks/staleness.py` (the issue's table) runs on the same classes: one copy of the logic.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from .helpers import set_broker_options, two_configs
from .staleness_recorder import CACHE, Revocation, StalenessRecorder

#: The staleness bound in the scenarios: `[sync] max_silence` (seconds). Small so that faults
#: of twice the bound keep the suite short.
MAX_SILENCE = 3
#: `[sync] heartbeat_interval`: a receiver hears each sender at least this often.
HEARTBEAT_INTERVAL = 0.5
#: `[broker] heartbeat`: the broker connection's own liveness check (seconds, an integer).
BROKER_HEARTBEAT = 2
#: What the bound allows beyond max_silence (docs/concepts.md, "The staleness bound"):
#: detection (the last word heard may be one heartbeat interval older than the revocation's
#: publish, the receiver looks every 0.2 s, a poll of the recorder every 50 ms: 1 s) and the
#: flush itself (0.5 s: a SCAN and UNLINK of a few thousand keys on a local Redis).
SLACK = HEARTBEAT_INTERVAL + 1.0 + 0.5
#: The pass mark: no revoked key may stay readable longer than this.
BOUND = MAX_SILENCE + SLACK


def within_bound(summary: dict) -> bool:
    """The pass mark of every chaos scenario (a StalenessRecorder.summary): nothing stale,
    nothing readable past BOUND."""
    return summary["stale"] == 0 and summary["max_staleness_s"] <= BOUND


#: The staleness bound's settings in every scenario.
SILENCE_SETTINGS = {"sync.max_silence": MAX_SILENCE}


def unretried_redis(url: str):
    """A client that fails at once when its Redis is down (redis-py retries 10 times with
    backoff by default: an application's thread would hang instead of failing)."""
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    return redis.Redis.from_url(url, retry=Retry(NoBackoff(), 0), socket_timeout=2, socket_connect_timeout=1)


def add_sync_settings(config: Path, settings: dict[str, object]) -> None:
    """Write `[sync]` settings (dotted keys) into a bridge_config file."""
    lines = [f"{key.split('.', 1)[1]} = {json.dumps(value)}" for key, value in settings.items()]
    text = config.read_text()
    config.write_text(text.replace("[sync]\n", "[sync]\n" + "".join(f"{line}\n" for line in lines), 1))


def move_source(config: Path, url: str) -> None:
    """Point the redis-channel source of a bridge_config file at another Redis."""
    _move(config, 'type = "redis-channel"\nurl = ', url)


def move_target(config: Path, cluster: str, url: str) -> None:
    """Point the Redis target of a bridge_config file at another Redis."""
    _move(config, f'name = "redis-{cluster}"\nurl = ', url)


def _move(config: Path, prefix: str, url: str) -> None:
    text = config.read_text()
    start = text.index(prefix) + len(prefix)
    end = text.index("\n", start)
    config.write_text(text[:start] + json.dumps(url) + text[end:])


def chaos_configs(tmp_path: Path, broker: str, topic: str, redis_url: str, clusters, **options) -> tuple[Path, Path]:
    """Configs of a and b with the scenarios' small bounds (two_configs' other options pass through)."""
    configs = two_configs(tmp_path, broker, topic, redis_url, clusters, heartbeat=HEARTBEAT_INTERVAL,
                          silence_flush="[]", **options)  # the product's default: every cache
    for config in configs:
        set_broker_options(config, heartbeat=BROKER_HEARTBEAT)
        add_sync_settings(config, SILENCE_SETTINGS)
    return configs


# -- the application and what it revoked --------------------------------------------------------


@dataclass
class Cluster:
    """One cluster as its application sees it: its cache and the channel its bridge reads."""

    name: str
    cache: object  # redis.Redis of the cluster's cache (its bridge's Redis target)
    channel_redis: object  # redis.Redis the app PUBLISHes on (its bridge's source)

    @property
    def channel(self) -> str:
        return f"local.{self.name}"


class Application:
    """`near`'s application: caches each key in both clusters, then revokes it (deletes its own
    copy, PUBLISHes the invalidation), and hands the far copy to the recorder."""

    def __init__(self, near: Cluster, far: Cluster, recorder: StalenessRecorder) -> None:
        self.near, self.far, self.recorder = near, far, recorder
        self.serial = 0
        self._precached: list[tuple[str, float]] = []  # (key, cached at), oldest first

    def _next_keys(self, count: int) -> list[str]:
        keys = []
        for _ in range(count):
            self.serial += 1
            keys.append(f"{CACHE}:{self.near.name}-{self.serial:06d}")
        return keys

    def precache(self, count: int) -> None:
        """Cache the far copies of the next `count` keys now; `revoke` takes them first
        (for a fault during which the far cache cannot be written)."""
        if not count:
            return
        keys = self._next_keys(count)
        self.far.cache.mset({key: "cached" for key in keys})
        self._precached += [(key, time.monotonic()) for key in keys]

    def revoke(self, count: int = 1) -> list[Revocation]:
        """Revoke `count` keys: the far copy cached just before (or earlier, by `precache`),
        the own copy deleted, the invalidation PUBLISHed."""
        import redis

        taken, self._precached = self._precached[:count], self._precached[count:]
        keys = self._next_keys(count - len(taken))
        cached = time.monotonic()
        try:
            if keys:
                self.far.cache.mset({key: "cached" for key in keys})
        except redis.RedisError:
            self.recorder.uncached += len(keys)
            keys = []
        cached_at = {**dict(taken), **{key: cached for key in keys}}
        keys = [key for key, _ in taken] + keys
        if not keys:
            return []
        try:
            self.near.cache.delete(*keys)
        except redis.RedisError:
            pass  # its own cache is down: nothing to delete
        now = time.monotonic()
        revocations = [Revocation(key, self.near.name, self.far.name, now, cached_at[key]) for key in keys]
        try:
            pipe = self.near.channel_redis.pipeline(transaction=False)
            for key in keys:
                pipe.publish(self.near.channel, json.dumps({"cache": CACHE, "keys": [key.split(":", 1)[1]]}))
            for revocation, subscribers in zip(revocations, pipe.execute()):
                revocation.subscribers = subscribers
        except redis.RedisError as exc:
            for revocation in revocations:
                revocation.publish_error = type(exc).__name__
        for revocation in revocations:
            self.recorder.track(revocation)
        return revocations

    def recache(self, revocation: Revocation) -> Revocation:
        """This app caches again, in its own cluster, an entry the other cluster revoked
        (`revocation.far` is this cluster): how long does it survive?"""
        assert revocation.far == self.near.name
        self.near.cache.set(revocation.key, "cached again")
        now = time.monotonic()
        again = Revocation(revocation.key, revocation.near, self.near.name, now, now, kind="recache")
        self.recorder.track(again)
        return again


class InvalidationStream:
    """An application revoking keys at `rate` per second in a thread, until `stop()` or `total`."""

    def __init__(self, application: Application, rate: float, total: int | None = None) -> None:
        self.application, self.rate, self.total = application, rate, total
        self.sent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"app-{application.near.name}")

    def start(self) -> InvalidationStream:
        self._thread.start()
        return self

    def _run(self) -> None:
        started = time.monotonic()
        while not self._stop.is_set() and (self.total is None or self.sent < self.total):
            due = int((time.monotonic() - started) * self.rate) + 1 - self.sent
            if self.total is not None:
                due = min(due, self.total - self.sent)
            if due > 0:
                self.application.revoke(due)
                self.sent += due
            self._stop.wait(min(0.02, 1 / self.rate))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)


@dataclass
class BothWays:
    """Both applications revoking at `rate` per second each while a fault is injected."""

    clusters: list[Cluster]
    rate: float
    precache: int = 0  # far copies each app caches before it starts (see Application.precache)
    recorder: StalenessRecorder = field(init=False)
    streams: list[InvalidationStream] = field(init=False)

    def __post_init__(self) -> None:
        a, b = self.clusters
        self.recorder = StalenessRecorder(self.clusters)
        self.streams = [InvalidationStream(Application(a, b, self.recorder), self.rate),
                        InvalidationStream(Application(b, a, self.recorder), self.rate)]

    def __enter__(self) -> BothWays:
        for stream in self.streams:
            stream.application.precache(self.precache)
        self.recorder.start()
        for stream in self.streams:
            stream.start()
        return self

    def finish(self, settle: float) -> None:
        """Stop revoking, give the far caches `settle` seconds to drop the rest, stop polling."""
        for stream in self.streams:
            stream.stop()
        self.recorder.settle(settle)
        self.recorder.stop()

    def __exit__(self, *exc_info) -> None:
        if not self.recorder.stopped:
            self.finish(0)
