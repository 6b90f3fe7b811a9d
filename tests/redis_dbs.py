"""Redis databases a test owns: emptied before and after it."""

from __future__ import annotations

from contextlib import contextmanager


@contextmanager
def flushed_dbs(redis_url: str, *dbs: int):
    """Clients of `dbs` on the Redis at `redis_url`, each FLUSHDB'd before and after."""
    import redis

    clients = [redis.Redis.from_url(f"{redis_url.rstrip('/')}/{db}") for db in dbs]
    for client in clients:
        client.flushdb()
    try:
        yield clients
    finally:
        for client in clients:
            client.flushdb()
            client.close()
