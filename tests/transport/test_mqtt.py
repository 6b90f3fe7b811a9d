"""What only MQTT has: protocol versions, headers that MQTT 3.1.1 cannot carry, topics written
with `/`, RabbitMQ's AMQP and MQTT clients seeing each other, acknowledgements held back
until a delivery is acked, client ids taken over, TLS. The shared contract (test_contract.py)
runs on Mosquitto, RabbitMQ's and ActiveMQ's MQTT as well.
"""

from __future__ import annotations

import logging
import secrets
import time

import pytest

from cachesync_cli.errors import ClientIdInUse, ConnectionFailed, UsageError
from cachesync_cli.transport.base import TlsOptions
from cachesync_cli.transport.mqtt import cachesync_topic, mqtt_topic

from .brokers import Events, connect, end_mqtt_session, subscribe

HEADERS = {"content-type": "application/json", "sender": "node-7"}


def test_topic_dots_are_written_as_slashes():
    assert mqtt_topic("cachesync") == "cachesync"
    assert mqtt_topic("cachesync.dc-east.x") == "cachesync/dc-east/x"
    assert cachesync_topic("cachesync/dc-east/x") == "cachesync.dc-east.x"


def test_mosquitto_speaks_mqtt5_and_carries_headers(mosquitto_url, topic_name):
    with connect(mosquitto_url) as connection:
        transport = connection.wait_connected(5)
        assert (connection.server, transport.supports_headers) == ("MQTT/5.0", True)
        inbox = subscribe(connection, topic_name)
        connection.publish(topic_name, b'{"v5": 1}', HEADERS, confirm=True)
        [got] = inbox.take(1)
    assert got.headers == HEADERS


def test_version_311_on_request_loses_headers_but_not_the_body(mosquitto_url, topic_name):
    with connect(f"{mosquitto_url}?version=3.1.1") as connection:
        assert connection.server == "MQTT/3.1.1"
        assert connection.wait_connected(5).supports_headers is False
        inbox = subscribe(connection, topic_name)
        connection.publish(topic_name, b'{"v311": 1}', HEADERS, confirm=True)
        [got] = inbox.take(1)
    assert (got.body, got.headers) == (b'{"v311": 1}', {})


@pytest.mark.parametrize("kind", ["rabbit_mqtt", "activemq_mqtt"])
def test_auto_falls_back_to_311_where_the_broker_has_no_mqtt5(kind, request):
    with connect(request.getfixturevalue(f"{kind}_url")) as connection:
        assert connection.server == "MQTT/3.1.1"


def test_unknown_version_is_a_usage_error(mosquitto_url):
    with pytest.raises(UsageError, match="unknown MQTT version '4'"):
        connect(f"{mosquitto_url}?version=4")


def test_rabbitmq_amqp_and_mqtt_clients_see_each_other(amqp_url, rabbit_mqtt_url, topic_name):
    with connect(amqp_url) as amqp, connect(rabbit_mqtt_url) as mqtt:
        mqtt_inbox, amqp_inbox = subscribe(mqtt, topic_name), subscribe(amqp, topic_name)
        amqp.publish(topic_name, b'{"from": "amqp"}', HEADERS, confirm=True)
        mqtt.publish(topic_name, b'{"from": "mqtt"}', HEADERS, confirm=True)
        got_by_mqtt, got_by_amqp = mqtt_inbox.take(2), amqp_inbox.take(2)
    expected = [b'{"from": "amqp"}', b'{"from": "mqtt"}']
    assert [d.body for d in got_by_mqtt] == [d.body for d in got_by_amqp] == expected
    # MQTT topic a/b/c is AMQP routing key a.b.c, and back
    assert {d.destination for d in got_by_mqtt + got_by_amqp} == {topic_name}


def test_rabbitmq_stomp_publisher_reaches_an_mqtt_subscriber(rabbit_stomp_url, rabbit_mqtt_url, topic_name):
    with connect(rabbit_stomp_url) as stomp, connect(rabbit_mqtt_url) as mqtt:
        inbox = subscribe(mqtt, topic_name)
        stomp.publish(topic_name, b'{"from": "stomp"}', HEADERS, confirm=True)
        assert [d.body for d in inbox.take(1)] == [b'{"from": "stomp"}']


@pytest.fixture
def client_id(mosquitto_url):
    name = f"cachesync-test-{secrets.token_hex(4)}"
    yield name
    end_mqtt_session(mosquitto_url, name)


def test_acked_message_is_not_sent_again(mosquitto_url, topic_name, client_id):
    """PUBACK goes out on ack() and only then: what was acked does not come back, what was not does."""
    durable = client_id.removeprefix("cachesync-")
    with connect(mosquitto_url, client_id=client_id) as subscriber:
        inbox = subscribe(subscriber, topic_name, durable=durable, manual_ack=True)
        subscriber.publish(topic_name, b'{"n": 1}', HEADERS, confirm=True)
        subscriber.publish(topic_name, b'{"n": 2}', HEADERS, confirm=True)
        first, second = inbox.take(2, ack=False)
        first.ack()
        time.sleep(0.3)  # let the PUBACK leave before the connection closes
    with connect(mosquitto_url, client_id=client_id) as subscriber:
        inbox = subscribe(subscriber, topic_name, durable=durable, manual_ack=True)
        [again] = inbox.take(1)
        assert (again.body, again.redelivered) == (b'{"n": 2}', True)
        assert inbox.quiet(0.5) == []


def test_durable_subscription_needs_a_client_id(mosquitto_url, topic_name):
    from cachesync_cli.errors import PermissionDenied

    with connect(mosquitto_url) as connection, pytest.raises(PermissionDenied, match="client id"):
        subscribe(connection, topic_name, durable="no-id", manual_ack=True)


@pytest.mark.parametrize("kind", ["mosquitto", "rabbit_mqtt"])
def test_two_clients_with_one_client_id_are_reported_and_one_gives_up(kind, request, topic_name, caplog):
    url = request.getfixturevalue(f"{kind}_url")
    client_id = f"cachesync-test-{secrets.token_hex(4)}"
    caplog.set_level(logging.ERROR, logger="cachesync.transport")
    first = connect(url, client_id=client_id, events=Events())
    second, failures = None, []
    try:
        # The first one takes the session back at once, so the second may lose it while it is
        # still being opened (a failed open, tried again), or be the one that gives up.
        for _ in range(10):
            try:
                second = connect(url, client_id=client_id, events=Events())
                break
            except ClientIdInUse as exc:
                failures = [exc]
                break
            except ConnectionFailed:
                continue
        if second is not None:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and not (first.failure or second.failure):
                time.sleep(0.1)
            failures = [c.failure for c in (first, second) if c.failure]
        assert failures and isinstance(failures[0], ClientIdInUse), failures
        assert client_id in str(failures[0]) and "one bridge per cluster" in failures[0].hint
        assert any(client_id in record.getMessage() for record in caplog.records)
        survivor = first if second is None or second.failure else second
        time.sleep(1)
        assert survivor.failure is None and survivor.connected  # the other one keeps the session
        inbox = subscribe(survivor, topic_name)
        survivor.publish(topic_name, b'{"still": "here"}', HEADERS, confirm=True)
        assert [d.body for d in inbox.take(1)] == [b'{"still": "here"}']
    finally:
        for connection in (first, second):
            if connection is not None:
                connection.close()
        end_mqtt_session(url, client_id)


def test_tls_with_the_test_ca(rabbit_mqtts_url, tls_ca, topic_name):
    with connect(rabbit_mqtts_url, tls=TlsOptions(ca_file=tls_ca)) as connection:
        inbox = subscribe(connection, topic_name)
        connection.publish(topic_name, b'{"over": "tls"}', HEADERS, confirm=True)
        assert [d.body for d in inbox.take(1)] == [b'{"over": "tls"}']


def test_tls_with_the_wrong_ca_fails_the_handshake(rabbit_mqtts_url, tls_other_ca):
    with pytest.raises(ConnectionFailed, match="TLS handshake failed"):
        connect(rabbit_mqtts_url, tls=TlsOptions(ca_file=tls_other_ca))
