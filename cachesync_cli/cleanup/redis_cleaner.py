"""Cleanup of a Redis database: SCAN the caches' keys in batches, then per batch

- `all`: UNLINK them;
- `max_idle`: OBJECT IDLETIME of each (one pipeline), UNLINK those idle >= max_idle;
- `ttl`: PEXPIRE ... NX (one pipeline): keys without a TTL get one, the others keep theirs.

SCAN MATCH uses the key template as the Redis target does (`KeyTemplate.glob_of_patterns`:
cache names are patterns, any tenant and manager). KEYS and FLUSHDB are never used; each
command touches one batch (`scan_count` keys), so the server is never blocked for long.
The stop flag and the lock are checked between batches. The lock key itself is never
touched. Keys UNLINKed are noted in the bridge's echo guard, so a keyspace source on the
same database does not publish them to the other clusters (inside `cachesync run` only).
"""

from __future__ import annotations

import threading

from cachesync_cli.cleanup.base import Cleaner, CleanupError, ListFn, RunResult
from cachesync_cli.cleanup.locks import LOCK_PREFIX, RedisLock
from cachesync_cli.local.key_template import KeyTemplate, split_flush_pattern
from cachesync_cli.local.redis_common import (decode_key, open_redis, redis_errors, redis_namespace,
                                              redis_safe_url, scan_batches)

_LOCK_PREFIX = LOCK_PREFIX.encode()


class RedisCleaner(Cleaner):
    type = "redis"

    def __init__(self, name, options, context) -> None:
        super().__init__(name, options, context)
        self.url = options["url"]
        self.template = KeyTemplate(options["template"])
        self.batch = options["scan_count"]
        self.max_idle = options.get("max_idle")
        self.ttl_ms = int(options["ttl"] * 1000) if options.get("ttl") else None
        self.namespace = redis_namespace(self.url)
        self._client = None
        self._held: RedisLock | None = None

    def describe(self) -> str:
        return f"redis cleanup {self.name!r} ({redis_safe_url(self.url)})"

    def _redis(self):
        if self._client is None:
            self._client = open_redis(self.url, what=self.describe(), error=CleanupError,
                                      client_name=f"cachesync-cleanup-{self.name}")
        return self._client

    def driver_errors(self):
        return redis_errors()

    def _lock(self):
        self._held = RedisLock(self._redis(), self.name)
        return self._held

    def patterns(self) -> list[str]:
        """The SCAN MATCH globs of the caches (every key the template matches without caches)."""
        if not self.caches:
            return [self.template.glob_of_patterns("*")]
        globs = []
        for pattern in self.caches:
            cache, manager = split_flush_pattern(pattern)
            globs.append(self.template.glob_of_patterns(cache, None, manager))
        return list(dict.fromkeys(globs))

    def _clean(self, result: RunResult, stop: threading.Event, dry_run: bool, listing: ListFn | None) -> None:
        client = self._redis()
        for pattern in self.patterns():
            for batch in scan_batches(client, pattern, self.batch):
                if stop.is_set():
                    result.status = "stopped"
                    return
                self._held.check()
                batch = [key for key in batch if not key.startswith(_LOCK_PREFIX)]
                result.scanned += len(batch)
                if batch:
                    self._one_batch(client, batch, result, dry_run, listing)

    def _one_batch(self, client, batch: list[bytes], result: RunResult, dry_run: bool,
                   listing: ListFn | None) -> None:
        if self.policy == "ttl":
            pipe = client.pipeline(transaction=False)
            for key in batch:
                pipe.pttl(key) if dry_run else pipe.pexpire(key, self.ttl_ms, nx=True)
            answers = pipe.execute()
            doomed = [k for k, a in zip(batch, answers) if (a == -1 if dry_run else bool(a))]
            if listing:
                for key in doomed:
                    listing(decode_key(key))
            result.removed += len(doomed)
            return
        if self.policy == "max_idle":
            pipe = client.pipeline(transaction=False)
            for key in batch:
                pipe.object("idletime", key)
            idle = pipe.execute()
            batch = [k for k, seconds in zip(batch, idle) if seconds is not None and seconds >= self.max_idle]
        if listing:
            for key in batch:
                listing(decode_key(key))
        if dry_run or not batch:
            result.removed += len(batch)
            return
        self.context.echo_guard.note(self.namespace, [decode_key(k) for k in batch])
        result.removed += client.unlink(*batch)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
