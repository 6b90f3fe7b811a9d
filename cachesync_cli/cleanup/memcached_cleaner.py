"""Cleanup of memcached: flush_all on every server (the only policy: memcached cannot list
keys or tell their ages). Before flushing, `stats` gives each server's item count and bytes,
reported as scanned/removed and bytes_freed. A server that fails does not stop the others.
The lock is a file lock in the state directory, named after the servers."""

from __future__ import annotations

import threading

from cachesync_cli.cleanup.base import Cleaner, ListFn, RunResult
from cachesync_cli.cleanup.locks import FileLock
from cachesync_cli.local.memcached_target import memcached_client, memcached_errors


class MemcachedCleaner(Cleaner):
    type = "memcached"

    def __init__(self, name, options, context) -> None:
        super().__init__(name, options, context)
        self.servers = list(options["servers"])

    def driver_errors(self):
        return memcached_errors()

    def _lock(self):
        return FileLock(",".join(sorted(self.servers)), "memcached")

    def _clean(self, result: RunResult, stop: threading.Event, dry_run: bool, listing: ListFn | None) -> None:
        result.bytes_freed = 0
        for server in self.servers:
            if stop.is_set():
                result.status = "stopped"
                return
            client = memcached_client(server)
            try:
                stats = client.stats()
                items, size = int(stats.get(b"curr_items", 0)), int(stats.get(b"bytes", 0))
                result.scanned += items
                if listing:
                    listing(f"flush_all {server} ({items} items)")
                if not dry_run:
                    client.flush_all(noreply=False)
                result.removed += items
                result.bytes_freed += size
            except memcached_errors() as exc:
                result.errors.append(f"{self.describe()}: memcached {server}: {type(exc).__name__}: {exc}")
            finally:
                client.close()
