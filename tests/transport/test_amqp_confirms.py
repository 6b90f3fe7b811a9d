"""The AMQP transport on RabbitMQ: several messages awaiting confirms at once, refusals,
and a consumer the broker cancels.

A queue declared with `x-overflow: reject-publish` makes RabbitMQ refuse (nack) what does
not fit: the only way to get a real negative confirm from a healthy broker.
"""

from __future__ import annotations

import secrets
import time

import pika
import pytest

from cachesync_cli.errors import NotConfirmed
from cachesync_cli.transport.amqp import durable_queue_name
from tests.transport.brokers import Events, Inbox, connect, delete_amqp_queue, full_queue_on, subscribe

HEADERS = {"content-type": "application/json"}


def test_many_messages_in_flight_are_all_confirmed_and_arrive_in_order(amqp_url, topic_name):
    with connect(amqp_url) as subscriber, connect(amqp_url) as publisher:
        inbox: Inbox = subscribe(subscriber, topic_name)
        transport = publisher.wait_connected(5)
        futures = [publisher.publish_async(topic_name, f'{{"n": {n}}}'.encode(), HEADERS, timeout=5)
                   for n in range(200)]
        assert not all(future.done() for future in futures)  # sent without waiting for each
        for future in futures:
            assert future.result(10) is None
        assert transport._unconfirmed == {}  # every delivery tag was matched to its future
        got = inbox.take(200)
    assert [d.body for d in got] == [f'{{"n": {n}}}'.encode() for n in range(200)]


def test_a_refused_message_fails_its_future_and_only_its_own(amqp_url, topic_name):
    with full_queue_on(amqp_url, topic_name, room=2), connect(amqp_url) as publisher:
        futures = [publisher.publish_async(topic_name, b'{"n": 1}', HEADERS, timeout=5) for _ in range(4)]
        outcomes = []
        for future in futures:
            try:
                future.result(10)
                outcomes.append("confirmed")
            except NotConfirmed as exc:
                assert "negative confirm" in str(exc)
                outcomes.append("refused")
    assert outcomes == ["confirmed", "confirmed", "refused", "refused"]


def test_a_blocking_publish_raises_on_a_refusal(amqp_url, topic_name):
    with full_queue_on(amqp_url, topic_name, room=0), connect(amqp_url) as publisher:
        with pytest.raises(NotConfirmed, match="negative confirm"):
            publisher.publish(topic_name, b'{"n": 1}', HEADERS, confirm=True, timeout=5)


def test_without_confirm_a_publish_waits_for_the_broker_on_no_transport(amqp_url, topic_name):
    """`publish(confirm=False)` returns once the message is handed to the connection, as on
    STOMP and MQTT: a refusal by the broker goes unnoticed (base.py, Transport.publish)."""
    with full_queue_on(amqp_url, topic_name, room=0), connect(amqp_url) as publisher:
        publisher.publish(topic_name, b'{"n": 1}', HEADERS, confirm=False, timeout=5)
        with pytest.raises(NotConfirmed, match="negative confirm"):
            publisher.publish(topic_name, b'{"n": 2}', HEADERS, confirm=True, timeout=5)


def test_a_subscription_whose_queue_is_deleted_comes_back(amqp_url, topic_name, request):
    """RabbitMQ cancels the consumer of a deleted queue. The transport treats it as a lost
    connection, so the reconnection declares the queue again and messages flow."""
    durable_name = f"test-{secrets.token_hex(4)}"
    request.addfinalizer(lambda: delete_amqp_queue(amqp_url, durable_queue_name(durable_name, topic_name)))
    events = Events()
    with connect(amqp_url, events=events) as subscriber, connect(amqp_url) as publisher:
        inbox: Inbox = subscribe(subscriber, topic_name, durable=durable_name, manual_ack=True)
        publisher.publish(topic_name, b'{"n": 1}', HEADERS, confirm=True)
        assert [d.body for d in inbox.take(1)] == [b'{"n": 1}']
        admin = pika.BlockingConnection(pika.URLParameters(amqp_url))
        admin.channel().queue_delete(durable_queue_name(durable_name, topic_name))
        admin.close()
        deadline = time.monotonic() + 15
        while events.kinds().count("connected") < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "cancelled the subscription" in str(next(e.error for e in events if e.kind == "lost"))
        publisher.publish(topic_name, b'{"n": 2}', HEADERS, confirm=True)
        assert [d.body for d in inbox.take(1)] == [b'{"n": 2}']
