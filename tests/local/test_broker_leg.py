"""The cluster-local broker leg (issue 17): two clusters, each a bridge whose broker source and
target sit on its IS nodes' topic, the central topic native. On ActiveMQ (STOMP) and on
RabbitMQ (AMQP on jms.durable.topic, the RabbitMQ JMS client's framing); the IS nodes are
played by `cachesync invalidate --codec wso2` and by observers reading the topic as IS does,
one of them re-publishing what it receives as IS hybrid mode does."""

from __future__ import annotations

import secrets
import time
import uuid

from cachesync_cli.publisher import Publisher
from cachesync_cli.transport.base import ConnectOptions
from cachesync_cli.transport.connection import BrokerConnection
from cachesync_cli.wire import Item

from ..bridge.processes import BridgeProcess, bridge_config, wait_until
from ..redis_dbs import flushed_dbs
from .leg_helpers import FLUSH, M, IsTopic, invalidate, leg_toml, object_key_body, oauth_key_stream

DB_A, DB_B = 11, 12


def two_clusters(tmp_path, central, leg, redis_url):
    topic = f"central-{uuid.uuid4().hex[:8]}"
    tag = secrets.token_hex(3)
    configs, is_topics = {}, {}
    for cluster, db in (("a", DB_A), ("b", DB_B)):
        name = f"{cluster}-{tag}"
        is_topics[cluster] = f"is-{cluster}-{uuid.uuid4().hex[:8]}"
        configs[cluster] = bridge_config(tmp_path, name, central, topic, redis_db=db, redis_url=redis_url,
                                         sources=leg_toml(leg, is_topics[cluster], subscription=f"cachesync-leg-{name}"),
                                         extra="")
    return topic, configs, is_topics


def test_is_invalidations_cross_through_the_legs_and_nothing_echoes(tmp_path, leg_brokers, redis_url):
    central, leg = leg_brokers
    _, configs, is_topics = two_clusters(tmp_path, central, leg, redis_url)
    stream = oauth_key_stream()
    side_a = IsTopic(leg, is_topics["a"])
    side_b = IsTopic(leg, is_topics["b"], republish_as="is-b-hybrid")
    try:
        with flushed_dbs(redis_url, DB_A, DB_B) as (_, redis_b), BridgeProcess(configs["b"]) as bridge_b, \
                BridgeProcess(configs["a"]):
            redis_b.mset({"AppInfoCache:app-1": "x", "AppInfoCache:app-2": "x"})
            invalidate(leg, is_topics["a"], "AppInfoCache", "app-1", "--manager", M)
            wait_until(lambda: side_b.from_bridges("AppInfoCache"), message="the string key on b's IS topic")
            [delivered] = side_b.from_bridges("AppInfoCache")
            assert (delivered.key, delivered.tenant_id, delivered.manager) == ("app-1", -1234, M)
            wait_until(lambda: not redis_b.exists("AppInfoCache:app-1"), message="b's Redis applies it")

            side_a.publish(object_key_body(stream))
            wait_until(lambda: side_b.from_bridges("OAuthCache"), message="the object key on b's IS topic")
            assert side_b.from_bridges("OAuthCache")[0].key_stream == stream  # the exact bytes

            invalidate(leg, is_topics["a"], "AppInfoCache", "--all", "--manager", M)
            wait_until(lambda: any(m.clear_all for m in side_b.from_bridges("AppInfoCache")),
                       message="the clear-all on b's IS topic")
            wait_until(lambda: not redis_b.exists("AppInfoCache:app-2"), message="b's Redis clears the cache")

            time.sleep(3)  # room for an echo: b's hybrid node re-published all three
            assert len([s for s, _ in side_b.seen if s == "is-b-hybrid"]) == 3
            assert len(side_b.from_bridges()) == 3, side_b.seen
            assert side_a.from_bridges() == [], "nothing came back to a's IS topic"
            assert "rejected" not in bridge_b.text
    finally:
        side_a.close()
        side_b.close()


def lose_a_central_message(central: str, topic: str, publisher: Publisher) -> None:
    """`publisher` sends two messages and skips a number between them: a gap for every receiver."""
    with BrokerConnection([central], ConnectOptions()).open(timeout=10) as connection:
        publisher.publish(connection, next(publisher.messages([Item(cache="Unrelated", keys=("k",))])), confirm=True)
        publisher.next_seq()  # a message lost on the central topic
        publisher.publish(connection, next(publisher.messages([Item(cache="Unrelated", keys=("k2",))])), confirm=True)


def test_a_lost_central_message_ends_in_clear_alls_on_the_far_is_side(tmp_path, leg_brokers, redis_url):
    central, leg = leg_brokers
    topic, configs, is_topics = two_clusters(tmp_path, central, leg, redis_url)
    side_b = IsTopic(leg, is_topics["b"])
    try:
        with flushed_dbs(redis_url, DB_B), BridgeProcess(configs["b"]) as bridge_b:
            lose_a_central_message(central, topic, Publisher(topic, origin=f"x-{secrets.token_hex(3)}"))
            bridge_b.wait_for_log("gap: 1 message(s)")
            wait_until(lambda: len(side_b.from_bridges()) >= 2, message="clear-alls on b's IS topic")
            cleared = {(m.manager, m.cache, m.tenant_domain, m.tenant_id) for m in side_b.from_bridges()}
            assert all(m.clear_all for m in side_b.from_bridges())
            assert cleared == {(f.split("/")[0], f.split("/")[1], "carbon.super", -1234) for f in FLUSH}
    finally:
        side_b.close()


def test_flushes_towards_is_are_limited_by_flush_interval_and_none_is_dropped(tmp_path, activemq_stomp_url,
                                                                               redis_url):
    topic, tag = f"central-{uuid.uuid4().hex[:8]}", secrets.token_hex(3)
    is_topic = f"is-b-{uuid.uuid4().hex[:8]}"
    config = bridge_config(tmp_path, f"b-{tag}", activemq_stomp_url, topic, redis_db=DB_B, redis_url=redis_url,
                           sources=leg_toml(activemq_stomp_url, is_topic, subscription=f"cachesync-leg-b-{tag}",
                                            flush_interval=2))
    side_b = IsTopic(activemq_stomp_url, is_topic)
    try:
        with flushed_dbs(redis_url, DB_B), BridgeProcess(config) as bridge_b:
            for origin in ("x", "y", "z"):  # three gaps at once: one round now, the others merged into one later
                lose_a_central_message(activemq_stomp_url, topic, Publisher(topic, origin=f"{origin}-{tag}"))
            wait_until(lambda: len(side_b.from_bridges()) >= 2 * len(FLUSH), timeout=30,
                       message="two rounds of clear-alls")
            bridge_b.wait_for_log("within 2s of the last one: sending it in")
            time.sleep(3)  # more than flush_interval: a third round would have come by now
            assert len(side_b.from_bridges()) == 2 * len(FLUSH), [(m.cache, m.clear_all) for m in side_b.seen]
    finally:
        side_b.close()


def test_a_native_leg_carries_envelopes_and_skips_its_own(tmp_path, amqp_url, redis_url):
    """`codec = "native"` on both halves: cachesync envelopes on the cluster-local topic."""
    topic, tag = f"central-{uuid.uuid4().hex[:8]}", secrets.token_hex(3)
    is_topics = {c: f"local-{c}-{uuid.uuid4().hex[:8]}" for c in "ab"}
    configs = {c: bridge_config(tmp_path, f"{c}-{tag}", amqp_url, topic, redis_db=db, redis_url=redis_url,
                                sources=leg_toml(amqp_url, is_topics[c], subscription=f"cachesync-leg-{c}-{tag}",
                                                 codec="native"))
               for c, db in (("a", DB_A), ("b", DB_B))}
    side_a = IsTopic(amqp_url, is_topics["a"], codec="native")
    side_b = IsTopic(amqp_url, is_topics["b"], codec="native")
    try:
        with flushed_dbs(redis_url, DB_A, DB_B), BridgeProcess(configs["b"]), BridgeProcess(configs["a"]):
            app = Publisher(is_topics["a"], origin="apps-a")
            with BrokerConnection([amqp_url], ConnectOptions()).open(timeout=10) as connection:
                app.publish(connection, next(app.messages([Item(cache="AppInfoCache", keys=("app-1",), manager=M)])),
                            confirm=True)
            wait_until(lambda: side_b.seen, message="the envelope on b's local topic")
            [(origin, envelope)] = side_b.seen
            assert origin == f"cachesync-bridge/b-{tag}" and envelope.items[0].keys == ("app-1",)
            time.sleep(2)
            assert [o for o, _ in side_a.seen] == ["apps-a"], "nothing came back to a's topic"
    finally:
        side_a.close()
        side_b.close()
