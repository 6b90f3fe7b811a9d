"""The benchmark scenario: local source (Redis channel) -> bridge -> broker -> bridge ->
local target (Redis), between N simulated clusters, every key checked gone at the end.

Cluster 1 is the sender; clusters 2..N hold the keys and apply. Latency is measured per
key, from just before its local message is published on cluster 1's channel to the
moment the far Redis announces its deletion (keyspace notification), so it covers the
whole path. Keys are named for this run only; nothing else in Redis is touched.
"""

from __future__ import annotations

import json
import secrets
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from cachesync_cli.bench.clusters import BenchCluster, bridge_env, db_of, db_url, start_all, write_config
from cachesync_cli.bench.histogram import LatencyHistogram
from cachesync_cli.errors import CachesyncError, UsageError

CHUNK = 500  # local messages per Redis pipeline when unpaced


@dataclass
class BenchOptions:
    brokers: list[str]
    topic: str
    redis_url: str = "redis://127.0.0.1:6379/0"
    clusters: int = 2
    count: int = 100_000  # invalidations (keys)
    rate: float | None = None  # offered invalidations/s; None: as fast as possible
    keys_per_message: int = 1
    codec: str = "native"
    sign: bool = False
    drain_timeout: float = 60.0
    heartbeat: float = 2.0  # the bridge's default: max_silence (10 s) needs 4 per bound
    idle: float = 0.0  # > 0: measure idle bridges for this long instead of a load


@dataclass
class BenchResult:
    options: BenchOptions
    sent: int = 0
    send_seconds: float = 0.0
    total_seconds: float = 0.0
    applied: int = 0
    lost: int = 0
    broker_messages: int = 0
    latency: LatencyHistogram = field(default_factory=LatencyHistogram)
    bridges: list[dict] = field(default_factory=list)
    silence_flushes: int = 0  # false alarms: no fault is injected in a bench run

    def to_json(self) -> dict:
        opts = self.options
        return {
            "clusters": opts.clusters, "codec": opts.codec, "signed": opts.sign,
            "keys_per_message": opts.keys_per_message, "rate": opts.rate,
            "invalidations": self.sent, "applied": self.applied, "lost": self.lost,
            "offered_per_second": round(self.sent / self.send_seconds, 1) if self.send_seconds else None,
            "achieved_per_second": round(self.applied / self.total_seconds, 1) if self.total_seconds else None,
            "broker_messages": self.broker_messages,
            "broker_messages_per_second": (round(self.broker_messages / self.total_seconds, 1)
                                           if self.total_seconds else None),
            "latency_ms": self.latency.summary_ms(),
            "seconds": round(self.total_seconds, 3),
            "silence_flushes": self.silence_flushes,
            "bridges": self.bridges,
        }


class KeyWatcher(threading.Thread):
    """Records when each key of the run disappears from one far Redis (keyspace notifications)."""

    def __init__(self, redis_url: str, db: int, prefix: str, sent_at: list[float], kpm: int,
                 histogram: LatencyHistogram, lock: threading.Lock) -> None:
        super().__init__(daemon=True)
        import redis

        self.db = db
        self.client = redis.Redis.from_url(db_url(redis_url, db))
        self.pubsub = self.client.pubsub()
        self.pubsub.psubscribe(f"__keyspace@{db}__:{prefix}*")
        from cachesync_cli.local.redis_subscription import skip_push_logging

        skip_push_logging(self.pubsub)  # read as the bridges read: the watcher must keep up
        self.prefix_len = len(f"__keyspace@{db}__:{prefix}")
        self.sent_at, self.kpm, self.histogram, self.lock = sent_at, kpm, histogram, lock
        self.deleted = 0
        self.last = 0.0
        self.error: Exception | None = None  # why the watcher stopped early, if it did
        self.stopping = threading.Event()

    def run(self) -> None:
        try:
            self._watch()
        except Exception as exc:  # reported by the bench: its figures would be wrong
            self.error = exc

    def _watch(self) -> None:
        from cachesync_cli.local.redis_subscription import next_message

        while not self.stopping.is_set():
            message = next_message(self.pubsub, 0.2)
            if message is None or message["data"] not in (b"del", b"unlink"):
                continue
            now = time.monotonic()
            index = int(message["channel"][self.prefix_len:])
            sent = self.sent_at[index // self.kpm]
            with self.lock:
                self.histogram.record(max(0.0, now - sent))
            self.deleted += 1
            self.last = now

    def close(self) -> None:
        self.stopping.set()
        self.join(5)
        self.pubsub.close()
        self.client.close()


def run_bench(opts: BenchOptions, progress=lambda text: None) -> BenchResult:
    import redis

    if opts.clusters < 2:
        raise UsageError("--clusters must be 2 or more (one sends, the others apply)")
    run = secrets.token_hex(3)
    prefix = f"bench{run}:"  # the redis target's template is {cache}:{key}; cache = bench<run>
    tmp = Path(tempfile.mkdtemp(prefix="cachesync-bench-"))
    base_db = db_of(opts.redis_url)
    clusters = [BenchCluster(f"bench-{run}-{i + 1}", (base_db + i) % 16, tmp / f"{i + 1}.toml", tmp / f"{i + 1}.log")
                for i in range(opts.clusters)]
    for cluster in clusters:
        write_config(cluster, brokers=opts.brokers, topic=opts.topic, redis_url=opts.redis_url, codec=opts.codec,
                     sign=opts.sign, spool_dir=tmp, heartbeat=opts.heartbeat)
    result = BenchResult(opts)
    control = redis.Redis.from_url(opts.redis_url)
    notify = control.config_get("notify-keyspace-events").get("notify-keyspace-events", "")
    buffers = control.config_get("client-output-buffer-limit").get("client-output-buffer-limit", "")
    progress(f"starting {opts.clusters} bridges on {opts.brokers[0]}")
    start_all(clusters, bridge_env())
    try:
        if opts.idle:
            return _idle(clusters, opts, result, progress)
        control.config_set("notify-keyspace-events", "".join(sorted(set(notify) | set("Kg"))))
        # A keyspace notification per key: at 100,000 keys/s the watcher's pub/sub buffer
        # passes Redis's default pubsub limit (32 MB) and Redis cuts it off. Lifted for the run.
        control.config_set("client-output-buffer-limit", "pubsub 0 0 0")
        return _load(clusters, opts, result, prefix, control, progress)
    finally:
        control.config_set("notify-keyspace-events", notify)
        if buffers:
            control.config_set("client-output-buffer-limit", buffers)
        for cluster in clusters:
            cluster.stop()
        _delete_keys(opts.redis_url, clusters[1:], prefix)
        _delete_subscriptions(opts.brokers[0], clusters, opts.topic)
        control.close()


def _idle(clusters, opts, result, progress) -> BenchResult:
    progress(f"measuring {len(clusters)} idle bridges for {opts.idle:g}s")
    time.sleep(min(opts.idle, 2 * opts.heartbeat))  # let every heartbeat flow once
    for cluster in clusters:
        cluster.mark()
    time.sleep(opts.idle)
    for cluster in clusters:
        cluster.measure()
    result.total_seconds = opts.idle
    result.bridges = [_bridge_json(c, opts.idle) for c in clusters]
    result.silence_flushes = _silence_flushes(clusters)
    return result


def _load(clusters, opts, result, prefix, control, progress) -> BenchResult:
    import redis

    kpm = opts.keys_per_message
    messages = -(-opts.count // kpm)
    total_keys = messages * kpm
    sent_at = [0.0] * messages
    lock = threading.Lock()
    progress(f"writing {total_keys} keys into {len(clusters) - 1} far Redis database(s)")
    for cluster in clusters[1:]:
        client = redis.Redis.from_url(db_url(opts.redis_url, cluster.db))
        for start in range(0, total_keys, 10_000):
            client.mset({f"{prefix}{k}": b"1" for k in range(start, min(total_keys, start + 10_000))})
        client.close()
    watchers = [KeyWatcher(opts.redis_url, c.db, prefix, sent_at, kpm, result.latency, lock) for c in clusters[1:]]
    for watcher in watchers:
        watcher.start()
    sender = redis.Redis.from_url(db_url(opts.redis_url, clusters[0].db))
    cache = prefix[:-1]
    bodies = [json.dumps({"cache": cache, "keys": [str(m * kpm + j) for j in range(kpm)]}).encode()
              for m in range(messages)]
    for cluster in clusters:
        cluster.mark()
    published_before = clusters[0].metric("cachesync_published_messages_total")
    progress(f"sending {total_keys} invalidations in {messages} local messages"
             + (f" at {opts.rate:g}/s" if opts.rate else " unpaced"))
    started = time.monotonic()
    if opts.rate:
        _send_paced(sender, clusters[0].channel, bodies, sent_at, opts.rate / kpm)
    else:
        _send_unpaced(sender, clusters[0].channel, bodies, sent_at)
    result.send_seconds = time.monotonic() - started
    result.sent = total_keys
    deadline = time.monotonic() + opts.drain_timeout
    expected = total_keys * len(watchers)
    while time.monotonic() < deadline and sum(w.deleted for w in watchers) < expected:
        if any(w.error for w in watchers):
            break
        time.sleep(0.05)
    last = max((w.last for w in watchers), default=started)
    result.total_seconds = max(last, started + result.send_seconds) - started
    for cluster in clusters:
        cluster.measure()
    result.broker_messages = int(clusters[0].metric("cachesync_published_messages_total") - published_before)
    for watcher in watchers:
        watcher.close()
    result.applied = sum(w.deleted for w in watchers) // len(watchers)
    result.lost = _count_remaining(opts.redis_url, clusters[1:], prefix, total_keys)
    failed = next((w for w in watchers if w.error), None)
    if failed is not None:
        raise CachesyncError(f"bench: the watcher of Redis db {failed.db} stopped ({failed.error}); "
                             f"{result.applied} of {total_keys} deletes timed, {result.lost} keys left: "
                             "no figures from this run", hint="check the Redis server's log and limits")
    if result.lost == 0 and result.applied < total_keys:
        raise CachesyncError(f"bench: every key is gone but only {result.applied} of {total_keys} deletes were "
                             "seen as keyspace notifications: no figures from this run",
                             hint="is something else deleting the bench's keys, or notify-keyspace-events "
                                  "being changed during the run?")
    result.bridges = [_bridge_json(c, result.total_seconds) for c in clusters]
    result.silence_flushes = _silence_flushes(clusters)
    sender.close()
    return result


def _silence_flushes(clusters) -> int:
    """Silence flushes in every bridge: each one is a false alarm here (no fault injected)."""
    return int(sum(c.metric("cachesync_silence_flushes_total") for c in clusters))


def _send_unpaced(sender, channel: str, bodies: list[bytes], sent_at: list[float]) -> None:
    for start in range(0, len(bodies), CHUNK):
        pipe = sender.pipeline(transaction=False)
        for body in bodies[start:start + CHUNK]:
            pipe.publish(channel, body)
        now = time.monotonic()
        for index in range(start, min(len(bodies), start + CHUNK)):
            sent_at[index] = now
        pipe.execute()


def _send_paced(sender, channel: str, bodies: list[bytes], sent_at: list[float], per_second: float) -> None:
    started = time.monotonic()
    index = 0
    while index < len(bodies):
        elapsed = time.monotonic() - started
        due = min(len(bodies), int(elapsed * per_second) + 1)
        if due <= index:
            time.sleep(min(0.001, max(0.0, (index + 1) / per_second - elapsed)))
            continue
        pipe = sender.pipeline(transaction=False)
        now = time.monotonic()
        for i in range(index, due):
            sent_at[i] = now
            pipe.publish(channel, bodies[i])
        pipe.execute()
        index = due


def _count_remaining(redis_url: str, clusters, prefix: str, total_keys: int) -> int:
    import redis

    remaining = 0
    for cluster in clusters:
        client = redis.Redis.from_url(db_url(redis_url, cluster.db))
        for start in range(0, total_keys, 10_000):
            remaining += client.exists(*[f"{prefix}{k}" for k in range(start, min(total_keys, start + 10_000))])
        client.close()
    return remaining


def _delete_keys(redis_url: str, clusters, prefix: str) -> None:
    import redis

    for cluster in clusters:
        client = redis.Redis.from_url(db_url(redis_url, cluster.db))
        batch = []
        for key in client.scan_iter(match=f"{prefix}*", count=1000):
            batch.append(key)
            if len(batch) >= 1000:
                client.unlink(*batch)
                batch.clear()
        if batch:
            client.unlink(*batch)
        client.close()


def _delete_subscriptions(broker: str, clusters, topic: str) -> None:
    """The bench's durable subscriptions (and what waits in them) must not stay on the broker."""
    from cachesync_cli.transport.durable import delete_durable_subscriptions

    delete_durable_subscriptions(broker, [c.name for c in clusters], topic)


def _bridge_json(cluster: BenchCluster, seconds: float) -> dict:
    return {"cluster": cluster.name, "cpu_seconds": round(cluster.cpu_used, 3),
            "cpu_percent": round(100 * cluster.cpu_used / seconds, 2) if seconds else None,
            "peak_rss_mb": round(cluster.peak_rss, 1)}
