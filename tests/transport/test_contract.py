"""The transport contract: one suite, run against memory:// and every real broker.

`broker_url` (tests/conftest.py) is memory://, RabbitMQ over AMQP, RabbitMQ over STOMP,
ActiveMQ over STOMP, Mosquitto (MQTT 5), RabbitMQ's and ActiveMQ's MQTT (3.1.1) in turn.
Checks of headers depend on the transport's `supports_headers`, not on the broker's name.
"""

from __future__ import annotations

import json
import secrets
import time

import pytest

from cachesync_cli.errors import AuthenticationFailed, ConnectionFailed
from cachesync_cli.transport.endpoint import parse_endpoint

from .brokers import Events, broker_kind, connect, delete_durable_subscription, restart_broker, subscribe

HEADERS = {"content-type": "application/json", "sender": "node-7"}


@pytest.fixture
def durable_name(broker_url, topic_name):
    name = f"test-{secrets.token_hex(4)}"
    yield name
    if not broker_url.startswith("memory"):
        delete_durable_subscription(broker_url, name, topic_name)


def supports_headers(connection) -> bool:
    return connection.wait_connected(5).supports_headers


def bodies(deliveries) -> list[bytes]:
    return [d.body for d in deliveries]


def test_publish_reaches_subscriber_with_headers_in_order(broker_url, topic_name):
    with connect(broker_url) as connection:
        inbox = subscribe(connection, topic_name)
        sent = [json.dumps({"n": n, "text": "ユーザー 😀"}).encode() for n in range(5)]
        for body in sent:
            connection.publish(topic_name, body, HEADERS, confirm=True)
        got = inbox.take(5)
        headers = supports_headers(connection)
    assert bodies(got) == sent
    if headers:
        assert got[0].headers["sender"] == "node-7"
        assert got[0].headers["content-type"] == "application/json"
    else:
        assert got[0].headers == {}
    assert got[0].destination == topic_name


def test_every_subscriber_gets_every_message(broker_url, topic_name):
    with connect(broker_url) as first, connect(broker_url) as second:
        inbox_1, inbox_2 = subscribe(first, topic_name), subscribe(second, topic_name)
        first.publish(topic_name, b'{"hello": 1}', HEADERS, confirm=True)
        assert bodies(inbox_1.take(1)) == [b'{"hello": 1}']
        assert bodies(inbox_2.take(1)) == [b'{"hello": 1}']


def test_other_topics_are_not_delivered(broker_url, topic_name):
    with connect(broker_url) as connection:
        inbox = subscribe(connection, topic_name)
        connection.publish(topic_name + ".other", b'{"other": 1}', HEADERS, confirm=True)
        connection.publish(topic_name, b'{"mine": 1}', HEADERS, confirm=True)
        assert bodies(inbox.take(1)) == [b'{"mine": 1}']
        assert inbox.quiet(0.5) == []


def test_durable_subscription_keeps_messages_while_away(broker_url, topic_name, durable_name):
    client_id = f"cachesync-{durable_name}"
    with connect(broker_url, client_id=client_id) as subscriber:
        subscribe(subscriber, topic_name, durable=durable_name, manual_ack=True)
        time.sleep(0.2)
    with connect(broker_url) as publisher:
        for n in range(5):
            publisher.publish(topic_name, f'{{"away": {n}}}'.encode(), HEADERS, confirm=True)
    with connect(broker_url, client_id=client_id) as subscriber:
        inbox = subscribe(subscriber, topic_name, durable=durable_name, manual_ack=True)
        got = inbox.take(5)
    assert bodies(got) == [f'{{"away": {n}}}'.encode() for n in range(5)]


def test_unacknowledged_message_is_redelivered(broker_url, topic_name, durable_name):
    client_id = f"cachesync-{durable_name}"
    with connect(broker_url, client_id=client_id) as subscriber:
        inbox = subscribe(subscriber, topic_name, durable=durable_name, manual_ack=True)
        subscriber.publish(topic_name, b'{"apply": "me"}', HEADERS, confirm=True)
        first = inbox.take(1, ack=False)
        assert bodies(first) == [b'{"apply": "me"}']
    with connect(broker_url, client_id=client_id) as subscriber:
        inbox = subscribe(subscriber, topic_name, durable=durable_name, manual_ack=True)
        again = inbox.take(1)
    assert bodies(again) == [b'{"apply": "me"}']
    if broker_kind(broker_url) != "activemq":  # ActiveMQ's STOMP frames do not flag redeliveries
        assert again[0].redelivered


def test_transient_subscription_misses_what_came_while_away(broker_url, topic_name):
    with connect(broker_url) as subscriber:
        subscribe(subscriber, topic_name)
    with connect(broker_url) as connection:
        connection.publish(topic_name, b'{"missed": 1}', HEADERS, confirm=True)
        inbox = subscribe(connection, topic_name)
        connection.publish(topic_name, b'{"seen": 1}', HEADERS, confirm=True)
        assert bodies(inbox.take(1)) == [b'{"seen": 1}']
        assert inbox.quiet(0.5) == []


def test_reconnects_and_resubscribes_after_broker_restart(broker_url, topic_name, durable_name):
    if broker_url.startswith("memory"):
        broker_url = f"memory://restart-{durable_name}"
    events = Events()
    client_id = f"cachesync-{durable_name}"
    with connect(broker_url, client_id=client_id, events=events) as connection:
        inbox = subscribe(connection, topic_name, durable=durable_name, manual_ack=True)
        connection.publish(topic_name, b'{"before": 1}', HEADERS, confirm=True)
        assert bodies(inbox.take(1)) == [b'{"before": 1}']
        restart_broker(broker_url)
        connection.publish(topic_name, b'{"after": 1}', HEADERS, confirm=True, timeout=60)
        got = inbox.take(1, timeout=30)
    assert bodies(got) == [b'{"after": 1}']
    assert "lost" in events.kinds()
    reconnected = [e for e in events if e.kind == "connected" and e.reconnect]
    assert reconnected and reconnected[0].durable


@pytest.mark.parametrize("kind", ["amqp", "rabbit_stomp", "activemq_stomp", "mosquitto"])
def test_failover_skips_a_dead_url(kind, request, topic_name):
    good = request.getfixturevalue(f"{kind}_url")
    endpoint = parse_endpoint(good)
    dead = good.replace(f":{endpoint.port}", ":1", 1)
    events = Events()
    with connect([dead, good], events=events) as connection:
        assert connection.endpoint.port == endpoint.port
        inbox = subscribe(connection, topic_name)
        connection.publish(topic_name, b'{"via": "second"}', HEADERS, confirm=True)
        assert bodies(inbox.take(1)) == [b'{"via": "second"}']


@pytest.mark.parametrize("kind", ["amqp", "rabbit_stomp", "rabbit_mqtt"])
def test_wrong_password_stops_at_once(kind, request):
    good = request.getfixturevalue(f"{kind}_url")
    bad = good.replace("guest:guest@", "guest:Sup3rSecretPw@", 1)
    started = time.monotonic()
    with pytest.raises(AuthenticationFailed) as caught:
        connect(bad)
    assert time.monotonic() - started < 10
    assert "Sup3rSecretPw" not in str(caught.value)  # the password never shows in a message
    assert "guest" in str(caught.value)


@pytest.mark.parametrize("kind", ["amqp", "rabbit_stomp", "activemq_stomp", "mosquitto"])
def test_unreachable_broker_is_a_connection_error(kind, request):
    good = request.getfixturevalue(f"{kind}_url")
    dead = good.replace(f":{parse_endpoint(good).port}", ":1", 1)
    with pytest.raises(ConnectionFailed) as caught:
        connect(dead)
    assert "127.0.0.1:1" in str(caught.value)
