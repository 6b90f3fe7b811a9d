"""The bridge's end-to-end tests inject no fault of the kind the staleness bound watches
for (a cluster cut off, a bridge gone): in them, a silence flush is a false alarm, and
fails the test (issue 15: no silence flush where no fault is injected). A test that stops
a bridge or a target for long enough says so with `@pytest.mark.silence_expected`.

`clusters` and `redis_dbs` are the two clusters a and b of a test module: unique ids (their
durable queues deleted afterwards on RabbitMQ), and clients of the module's `DB_A` and `DB_B`.
The broker is the module's `broker` fixture when it has one, else RabbitMQ (`amqp_url`)."""

from __future__ import annotations

import secrets

import pytest

from ..redis_dbs import flushed_dbs
from ..transport.brokers import delete_bridge_queue
from .processes import BridgeProcess


@pytest.fixture(autouse=True)
def no_false_silence_alarm(request):
    BridgeProcess.started.clear()
    yield
    if request.node.get_closest_marker("silence_expected") is not None:
        return
    alarms = [line for bridge in BridgeProcess.started for line in bridge.silence_flushes()]
    assert not alarms, f"silence flush without a fault: {alarms}"


@pytest.fixture
def clusters(request, topic_name):
    broker = request.getfixturevalue("broker" if "broker" in request.fixturenames else "amqp_url")
    suffix = secrets.token_hex(3)
    names = (f"a-{suffix}", f"b-{suffix}")
    yield names
    if broker.startswith("amqp"):
        for name in names:
            delete_bridge_queue(broker, name, topic_name)


@pytest.fixture
def redis_dbs(request, redis_url):
    with flushed_dbs(redis_url, request.module.DB_A, request.module.DB_B) as clients:
        yield clients
