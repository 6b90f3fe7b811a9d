"""What the Redis sources and targets share: client creation, the echo namespace, driver errors.

`redis` is imported only here and in the modules that use these helpers, never at the
top of the package, so `cachesync --help` does not pay for it. Clients connect lazily:
creating one never fails because Redis is down; the first command does.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit
from cachesync_cli.local.base import Target, TargetError
from cachesync_cli.transport.backoff import Backoff

CONNECT_TIMEOUT = 3.0
COMMAND_TIMEOUT = 10.0
#: a Redis source's reconnects: 0.5 s doubling to 10 s
RECONNECT = Backoff(base=0.5, cap=10.0, jitter=False)


def redis_db(url: str) -> int:
    """The database number a Redis URL selects: the path ("/3"), a ?db= query, or 0."""
    parts = urlsplit(url)
    path = parts.path.strip("/")
    if path.isdigit():
        return int(path)
    query = parse_qs(parts.query).get("db")
    return int(query[0]) if query and query[0].isdigit() else 0


def redis_namespace(url: str) -> str:
    """The echo-guard namespace of the Redis database `url` points at: redis://HOST:PORT/DB.

    The Redis target notes the keys it deletes under it and the keyspace source looks
    them up under it, so both must configure the same server and db (credentials, TLS
    and other options do not matter)."""
    parts = urlsplit(url)
    host = (parts.hostname or "127.0.0.1").lower()
    if host == "localhost":
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port or 6379
    except ValueError:
        port = 6379
    return f"redis://{host}:{port}/{redis_db(url)}"


def redis_safe_url(url: str) -> str:
    """`url` with any password replaced by ***, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    netloc = f"{user}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return parts._replace(netloc=netloc).geturl()


def redis_client(url: str, *, client_name: str | None = None, command_timeout: float | None = COMMAND_TIMEOUT):
    """A redis-py client for `url` (not connected yet). Raises ValueError for a bad URL."""
    import redis

    return redis.Redis.from_url(
        url,
        socket_connect_timeout=CONNECT_TIMEOUT,
        socket_timeout=command_timeout,
        client_name=client_name,
        decode_responses=False,
        health_check_interval=30,
    )


def open_redis(url: str, *, what: str, error: type[Exception], client_name: str | None = None):
    """`redis_client(url)`, or `error` naming `what` (e.g. a target's `describe()`) when the URL is bad."""
    try:
        return redis_client(url, client_name=client_name)
    except ValueError as exc:
        raise error(f"{what}: bad Redis URL {redis_safe_url(url)}: {exc}") from None


def redis_errors() -> tuple[type[BaseException], ...]:
    """The driver exceptions that mean "Redis could not do it" (connection lost, refused, error reply)."""
    import redis

    return (redis.RedisError, OSError)


def scan_batches(client, pattern: str, count: int):
    """Batches of up to `count` keys matching the glob `pattern`, by SCAN MATCH ... COUNT (never
    KEYS). A key may come twice (SCAN's promise); each batch is yielded before the next SCAN."""
    cursor, pending = None, []
    while cursor != 0:
        cursor, keys = client.scan(cursor=cursor or 0, match=encode_key(pattern), count=count)
        pending.extend(keys)
        while len(pending) >= count:
            yield pending[:count]
            pending = pending[count:]
    if pending:
        yield pending


def decode_key(raw: bytes | str) -> str:
    """A Redis key as text. Bytes that are not UTF-8 become lone surrogates (round-trips with
    `encode_key`); such keys are never valid cache keys, so sources skip them."""
    return raw if isinstance(raw, str) else raw.decode("utf-8", "surrogateescape")


def encode_key(key: str) -> bytes:
    return key.encode("utf-8", "surrogateescape")


class RedisBackedTarget(Target):
    """A target that writes to one Redis (`options["url"]`): the client is made on first use,
    and checked and closed here; subclasses apply."""

    def __init__(self, name, options, context) -> None:
        super().__init__(name, options, context)
        self.url = options["url"]
        self._client = None

    def _redis(self):
        if self._client is None:
            self._client = open_redis(self.url, what=self.describe(), error=TargetError,
                                      client_name=f"cachesync-{self.context.cluster}-{self.name}")
        return self._client

    def check(self) -> None:
        try:
            self._redis().ping()
        except redis_errors() as exc:
            raise TargetError(f"{self.describe()}: Redis {redis_safe_url(self.url)} unreachable: {exc}") from None

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
