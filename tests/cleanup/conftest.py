"""Fixtures of the cleanup tests: their own Redis databases (5-8), entries, cleaners."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from cachesync_cli.local.base import EchoGuard, LocalContext
from cachesync_cli.entries import build_cleaner, validate_entry

#: Redis databases of these tests (others use 0-4 and 9-15)
POLICY_DB, BIG_DB, CLI_DB, BRIDGE_DB = 5, 6, 7, 8


def db_url(redis_url: str, db: int) -> str:
    return urlsplit(redis_url)._replace(path=f"/{db}").geturl()


@pytest.fixture
def context() -> LocalContext:
    return LocalContext(cluster="test", echo_guard=EchoGuard(), environ={})


def entry(**fields) -> dict:
    """A [[cleanup]] entry as the config loader hands it over (defaults filled in)."""
    return validate_entry("cleanup", 0, fields, "test")


def cleaner(context, **fields):
    return build_cleaner(entry(**fields), context)


def redis_db(redis_url: str, db: int):
    """(url, client) of an emptied test database; emptied again afterwards."""
    import redis

    url = db_url(redis_url, db)
    client = redis.Redis.from_url(url)
    client.flushdb()
    return url, client


@pytest.fixture
def policy_db(redis_url):
    url, client = redis_db(redis_url, POLICY_DB)
    yield url, client
    client.flushdb()
    client.close()


def keys_of(client) -> set[str]:
    return {k.decode() for k in client.scan_iter(count=1000)}


def fill(client, count: int, prefix: str = "Big:", batch: int = 10_000) -> None:
    """`count` keys `{prefix}{n}`, by pipelined MSETs."""
    pipe = client.pipeline(transaction=False)
    for start in range(0, count, batch):
        pipe.mset({f"{prefix}{n}": "x" for n in range(start, min(start + batch, count))})
    pipe.execute()
