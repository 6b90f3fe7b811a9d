"""Fixtures of the local sources and targets tests: real Redis dbs, entries, an inbox for sources."""

from __future__ import annotations

import queue
import secrets
import time
from urllib.parse import urlsplit

import pytest

from cachesync_cli.local.base import EchoGuard, LocalContext
from cachesync_cli.entries import validate_entry

#: Redis databases of these tests (db 0 and the low ones belong to others)
TARGET_DB, KEYSPACE_DB, CHANNEL_DB = 11, 12, 15  # the bridge tests use 13 and 14


def db_url(redis_url: str, db: int) -> str:
    parts = urlsplit(redis_url)
    return parts._replace(path=f"/{db}").geturl()


def flushed_db(redis_url: str, db: int):
    import redis

    url = db_url(redis_url, db)
    client = redis.Redis.from_url(url)
    client.flushdb()
    return url, client


def entry(array: str, **fields) -> dict:
    """A [[sources]]/[[targets]] entry as the config loader hands it over (defaults filled in)."""
    return validate_entry(array, 0, fields, "test")


@pytest.fixture
def context() -> LocalContext:
    return LocalContext(cluster="test", echo_guard=EchoGuard(), environ={})


@pytest.fixture
def channel_name() -> str:
    return f"cachesync.test.{secrets.token_hex(6)}"


class Inbox:
    """What a source emitted and rejected, with waits."""

    def __init__(self) -> None:
        self.messages: queue.Queue = queue.Queue()
        self.rejected: queue.Queue = queue.Queue()

    def emit(self, message) -> None:
        self.messages.put(message)

    def reject(self, reason: str, detail: str) -> None:
        self.rejected.put((reason, detail))

    def next_message(self, timeout: float = 5.0):
        return self.messages.get(timeout=timeout)

    def next_rejection(self, timeout: float = 5.0):
        return self.rejected.get(timeout=timeout)

    def assert_quiet(self) -> None:
        assert self.messages.empty(), list(self.messages.queue)
        assert self.rejected.empty(), list(self.rejected.queue)


@pytest.fixture
def inbox() -> Inbox:
    return Inbox()


def wait_until(predicate, timeout: float = 5.0, interval: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(interval)


@pytest.fixture(params=["activemq", "rabbitmq"])
def leg_brokers(request) -> tuple[str, str]:
    """(central URL, IS leg URL) on one broker kind: ActiveMQ over STOMP, or RabbitMQ with the
    central topic on amq.topic and the IS nodes on jms.durable.topic (the RabbitMQ JMS client's)."""
    if request.param == "activemq":
        url = request.getfixturevalue("activemq_stomp_url")
        return url, url
    url = request.getfixturevalue("amqp_url")
    return url, f"{url}?exchange=jms.durable.topic"
