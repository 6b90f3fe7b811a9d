"""A durable subscription receives exactly its topic (issue 16, item 2), on every broker.

A bridge's durable subscription is named after its cluster. Run on topic t1, stopped, run
again on t2 with the same cluster id: what is published on t1 must not reach it. And
`delete_durable_subscription` (used by `retire` and the demo) removes what waits in one.
"""

from __future__ import annotations

import secrets

import pika
import pytest

from cachesync_cli.transport.amqp import durable_queue_name, legacy_queue_name
from cachesync_cli.transport.base import durable_client_id

from .brokers import connect, delete_durable_subscription, subscribe


@pytest.fixture
def two_topics(broker_url):
    """(name, t1, t2), and both subscriptions deleted afterwards."""
    name = f"iso-{secrets.token_hex(4)}"
    t1, t2 = f"cachesync.test.{secrets.token_hex(5)}", f"cachesync.test.{secrets.token_hex(5)}"
    yield name, t1, t2
    if not broker_url.startswith("memory"):
        for topic in (t1, t2):
            delete_durable_subscription(broker_url, name, topic)


def test_a_durable_subscription_on_another_topic_gets_only_that_topic(broker_url, two_topics):
    name, t1, t2 = two_topics
    with connect(broker_url, client_id=durable_client_id(name)) as first:
        subscribe(first, t1, durable=name, manual_ack=True)
    with connect(broker_url, client_id=durable_client_id(name)) as second, connect(broker_url) as publisher:
        inbox = subscribe(second, t2, durable=name, manual_ack=True)
        publisher.publish(t1, b"for-t1", {}, confirm=True)
        publisher.publish(t2, b"for-t2", {}, confirm=True)
        assert [d.body for d in inbox.take(1)] == [b"for-t2"]
        assert inbox.quiet(1.0) == []


def test_deleting_a_durable_subscription_drops_what_waited_in_it(broker_url, two_topics):
    name, t1, _ = two_topics
    with connect(broker_url, client_id=durable_client_id(name)) as subscriber:
        subscribe(subscriber, t1, durable=name, manual_ack=True)
    with connect(broker_url) as publisher:
        publisher.publish(t1, b"waiting", {}, confirm=True)
    if broker_url.startswith("memory"):
        pytest.skip("memory:// forgets with the process")
    deleted = delete_durable_subscription(broker_url, name, t1)
    assert name in deleted
    with connect(broker_url, client_id=durable_client_id(name)) as subscriber:
        inbox = subscribe(subscriber, t1, durable=name, manual_ack=True)
        assert inbox.quiet(1.0) == []


def test_durable_queue_names_are_one_per_cluster_and_topic():
    assert durable_queue_name("dc-east", "cachesync") == "cachesync.dc-east@cachesync"
    assert durable_queue_name("a.b", "c") != durable_queue_name("a", "b.c")
    assert durable_queue_name("a@b", "c") != durable_queue_name("a", "b@c")
    long = durable_queue_name("x" * 300, "t")
    assert len(long.encode()) == 255 and long != durable_queue_name("x" * 300, "u")


def test_the_queue_of_an_older_version_is_moved_and_deleted(amqp_url, topic_name, request):
    """Upgrade: `cachesync.<cluster>`, bound to this topic and an earlier one, holds what was
    published while the bridge was stopped. The new subscription gets this topic's messages
    from it, not the earlier topic's, and the old queue is gone."""
    name = f"legacy-{secrets.token_hex(4)}"
    earlier = f"{topic_name}.earlier"
    request.addfinalizer(lambda: delete_durable_subscription(amqp_url, name, topic_name))
    admin = pika.BlockingConnection(pika.URLParameters(amqp_url))
    channel = admin.channel()
    channel.queue_declare(legacy_queue_name(name), durable=True)
    for topic in (topic_name, earlier):
        channel.queue_bind(legacy_queue_name(name), "amq.topic", routing_key=topic)
    with connect(amqp_url) as publisher:
        publisher.publish(topic_name, b"while-stopped-1", {}, confirm=True)
        publisher.publish(earlier, b"earlier-topic", {}, confirm=True)
        publisher.publish(topic_name, b"while-stopped-2", {}, confirm=True)
        with connect(amqp_url) as subscriber:
            inbox = subscribe(subscriber, topic_name, durable=name, manual_ack=True)
            publisher.publish(topic_name, b"after", {}, confirm=True)
            assert [d.body for d in inbox.take(3)] == [b"while-stopped-1", b"while-stopped-2", b"after"]
            assert inbox.quiet(0.5) == []
    with pytest.raises(pika.exceptions.ChannelClosedByBroker, match="NOT_FOUND"):
        admin.channel().queue_declare(legacy_queue_name(name), passive=True)
    admin.close()
