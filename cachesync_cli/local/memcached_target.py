"""Delete invalidated keys from memcached.

Each (cache, key) is rendered through `template` and deleted on EVERY server in
`servers`, not only on the one a hash ring would pick: applications spread keys with
their own client's hashing (ketama, rendezvous, modulo...), which cachesync cannot
know, and a delete on a server that lacks the key is harmless. `all`: memcached cannot
list keys, so `on_all = "flush_all"` flushes every server and `"skip"` logs a warning.

Keys that memcached cannot store (empty, over 250 bytes in UTF-8, or containing
whitespace or control characters) are skipped with a warning: no entry can exist under
such a key, so there is nothing to delete (an application that hashes long keys must
use a template that matches its stored keys). A template needing a {tenant} or
{manager} the invalidation lacks skips the item with a warning. Deleting is idempotent.
A server that is down or refuses: the other servers are still done, then TargetError
names the failed ones.
"""

from __future__ import annotations

import logging

from cachesync_cli.local.base import Invalidation, Target, TargetError
from cachesync_cli.local.key_template import KeyTemplate, MissingValue

log = logging.getLogger("cachesync.local")

MAX_KEY_BYTES = 250
CONNECT_TIMEOUT = 3.0
COMMAND_TIMEOUT = 10.0
BATCH = 500


def memcached_key_problem(key: str) -> str | None:
    """Why memcached cannot hold `key`, or None when it can."""
    data = key.encode("utf-8")
    if not data:
        return "empty"
    if len(data) > MAX_KEY_BYTES:
        return f"{len(data)} bytes (memcached allows {MAX_KEY_BYTES})"
    if any(byte <= 0x20 or byte == 0x7F for byte in data):
        return "contains whitespace or control characters"
    return None


def memcached_errors() -> tuple[type[BaseException], ...]:
    """What pymemcache raises when a server is down, times out or answers with an error."""
    from pymemcache.exceptions import MemcacheError

    return (MemcacheError, OSError, ValueError)


def parse_server(server: str) -> tuple[str, int]:
    """HOST:PORT, [IPv6]:PORT or HOST (port 11211)."""
    if server.startswith("["):
        host, _, rest = server[1:].partition("]")
        return host, int(rest.lstrip(":") or 11211)
    host, sep, port = server.rpartition(":")
    if not sep:
        return server, 11211
    return host, int(port)


def memcached_client(server: str):
    """A pymemcache client for one server (connects on first use)."""
    from pymemcache.client.base import Client

    return Client(parse_server(server), connect_timeout=CONNECT_TIMEOUT, timeout=COMMAND_TIMEOUT,
                  no_delay=True, allow_unicode_keys=True, default_noreply=False)


class MemcachedTarget(Target):
    type = "memcached"

    def __init__(self, name, options, context) -> None:
        super().__init__(name, options, context)
        self.servers = list(options["servers"])
        self.template = KeyTemplate(options["template"])
        self.on_all = options["on_all"]
        self._clients: dict[str, object] = {}

    def _client(self, server: str):
        client = self._clients.get(server)
        if client is None:
            client = self._clients[server] = memcached_client(server)
        return client

    def apply(self, invalidation: Invalidation) -> None:
        tenant = invalidation.tenant.domain if invalidation.tenant else None
        keys: list[str] = []
        flush = False
        for item in invalidation.items:
            if item.all:
                if self.on_all == "flush_all":
                    flush = True
                else:
                    log.warning("%s: cannot drop all of %r (memcached cannot list keys; on_all = \"skip\")",
                                self.describe(), item.cache)
                continue
            for key in item.keys:
                try:
                    store_key = self.template.render(item.cache, key, tenant, item.manager)
                except MissingValue as exc:
                    log.warning("%s: skipping keys of %r: %s", self.describe(), item.cache, exc)
                    break
                problem = memcached_key_problem(store_key)
                if problem is None:
                    keys.append(store_key)
                else:
                    log.warning("%s: skipping key %r: not a valid memcached key (%s)", self.describe(),
                                store_key[:80], problem)
        keys = list(dict.fromkeys(keys))
        failures = []
        for server in self.servers:
            try:
                self._apply_on(server, keys, flush)
            except memcached_errors() as exc:
                self._forget(server)
                failures.append(f"{server}: {type(exc).__name__}: {exc}")
        if failures:
            raise TargetError(f"{self.describe()}: {len(failures)} of {len(self.servers)} server(s) failed: "
                              + "; ".join(failures))

    def _apply_on(self, server: str, keys: list[str], flush: bool) -> None:
        client = self._client(server)
        if flush:
            client.flush_all(noreply=False)
            return
        for start in range(0, len(keys), BATCH):
            client.delete_many(keys[start:start + BATCH], noreply=False)

    def check(self) -> None:
        for server in self.servers:
            try:
                self._client(server).version()
            except memcached_errors() as exc:
                self._forget(server)
                raise TargetError(f"{self.describe()}: memcached {server} unreachable: "
                                  f"{type(exc).__name__}: {exc}") from None

    def _forget(self, server: str) -> None:
        client = self._clients.pop(server, None)
        if client is not None:
            try:
                client.close()
            except Exception:  # noqa: BLE001 closing a broken connection
                pass

    def close(self) -> None:
        for server in list(self._clients):
            self._forget(server)
