"""Publisher confirms on RabbitMQ: several messages in flight at once, and refusals.

A queue declared with `x-overflow: reject-publish` makes RabbitMQ refuse (nack) what does
not fit: the only way to get a real negative confirm from a healthy broker.
"""

from __future__ import annotations

import pytest

from cachesync_cli.errors import NotConfirmed
from tests.transport.brokers import Inbox, connect, full_queue_on, subscribe

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
