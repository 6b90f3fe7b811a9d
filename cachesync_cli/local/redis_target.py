"""Delete invalidated keys from a Redis database.

Keys: each (cache, key) is rendered through `template` and UNLINKed, `scan_count` keys
per command, all commands of an item in one pipeline. `all`: SCAN MATCH over the cache's
keys (the template with its cache, tenant and manager parts glob-escaped and {key} -> *),
UNLINKing each batch as it is found; KEYS is never used. FLUSHDB (async) only when
`flushdb_on_all` is true.
A gap flush (reason "gap-flush") names caches by glob pattern ("*": every cache); its SCAN
keeps the pattern and matches any tenant or manager the invalidation does not name. Every key is noted in the echo guard before it is deleted, so a
keyspace source on the same db does not publish the delete back as this cluster's own.

An item whose template needs {tenant} or {manager} that the invalidation lacks is
skipped with a warning (no key can be computed; retrying would not help). Deleting a
missing key is a no-op, so `apply` is idempotent. Redis errors become TargetError.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from cachesync_cli.local.base import Invalidation, TargetError
from cachesync_cli.local.key_template import KeyTemplate, MissingValue, is_flush_pattern, split_flush_pattern
from cachesync_cli.local.redis_common import (RedisBackedTarget, decode_key, encode_key, redis_errors, redis_namespace, redis_safe_url, scan_batches)
from cachesync_cli.wire.envelope import Item

log = logging.getLogger("cachesync.local")


def _chunks(values: list, size: int) -> Iterator[list]:
    for start in range(0, len(values), size):
        yield values[start:start + size]


class RedisTarget(RedisBackedTarget):
    type = "redis"

    def __init__(self, name, options, context) -> None:
        super().__init__(name, options, context)
        self.template = KeyTemplate(options["template"])
        self.batch = options["scan_count"]
        self.flushdb_on_all = options["flushdb_on_all"]
        self.namespace = redis_namespace(self.url)

    def apply(self, invalidation: Invalidation) -> None:
        tenant = invalidation.tenant.domain if invalidation.tenant else None
        flushed = False
        try:
            for item in invalidation.items:
                try:
                    if item.all and self.flushdb_on_all:
                        if not flushed:
                            self._redis().flushdb(asynchronous=True)
                            flushed = True
                    elif is_flush_pattern(invalidation, item):
                        cache, manager = split_flush_pattern(item.cache)
                        self._unlink_scanned(self.template.glob_of_patterns(cache, tenant, manager or item.manager))
                    elif item.all:
                        self._unlink_scanned(self.template.glob(item.cache, tenant, item.manager))
                    else:
                        self._unlink([self.template.render(item.cache, key, tenant, item.manager)
                                      for key in item.keys])
                except MissingValue as exc:
                    log.warning("%s: skipping %s of %s: %s", self.describe(), _what(item), invalidation.id
                                or invalidation.origin, exc)
        except redis_errors() as exc:
            raise TargetError(f"{self.describe()}: Redis {redis_safe_url(self.url)}: {exc}") from None

    def _unlink(self, keys: list[str]) -> None:
        keys = list(dict.fromkeys(keys))
        if len(keys) <= self.batch:  # one command, no pipeline object (the usual case)
            self.context.echo_guard.note(self.namespace, keys)
            self._redis().unlink(*(encode_key(k) for k in keys))
            return
        pipe = self._redis().pipeline(transaction=False)
        for chunk in _chunks(keys, self.batch):
            self.context.echo_guard.note(self.namespace, chunk)
            pipe.unlink(*(encode_key(k) for k in chunk))
        pipe.execute()

    def _unlink_scanned(self, pattern: str) -> int:
        client = self._redis()
        deleted = 0
        for chunk in scan_batches(client, pattern, self.batch):
            self.context.echo_guard.note(self.namespace, [decode_key(k) for k in chunk])
            deleted += client.unlink(*chunk)
        return deleted



def _what(item: Item) -> str:
    return f"all of {item.cache!r}" if item.all else f"{len(item.keys)} key(s) of {item.cache!r}"
