"""The broker leg's safety (issue 17): two bridges on one IS topic with a hybrid-mode IS node
re-publishing what they deliver do not loop; a leg whose durable subscription had to be
re-created makes the other clusters flush; a leg refuses a subscription another consumer
reads (RabbitMQ: the queue of that name). Real brokers, real bridges."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
import uuid

import pika

from ..bridge.processes import BridgeProcess, bridge_config, wait_until
from ..redis_dbs import flushed_dbs
from .leg_helpers import M, IsTopic, invalidate, leg_toml

DB_A, DB_B = 13, 14


def test_two_bridges_on_one_is_topic_with_a_hybrid_republisher_do_not_loop(tmp_path, leg_brokers, redis_url):
    central, leg = leg_brokers
    topic, is_topic, tag = f"central-{uuid.uuid4().hex[:8]}", f"is-{uuid.uuid4().hex[:8]}", secrets.token_hex(3)
    configs = [bridge_config(tmp_path, f"{c}-{tag}", central, topic, redis_db=db, redis_url=redis_url,
                             sources=leg_toml(leg, is_topic, subscription=f"cachesync-leg-{c}-{tag}"))
               for c, db in (("a", DB_A), ("b", DB_B))]
    hybrid = IsTopic(leg, is_topic, republish_as="is-hybrid")
    try:
        with flushed_dbs(redis_url, DB_A, DB_B), BridgeProcess(configs[0]), BridgeProcess(configs[1]):
            invalidate(leg, is_topic, "AppInfoCache", "app-1", "--manager", M)
            # a and b each relay it; each delivers the other's relay; the hybrid node re-publishes both
            wait_until(lambda: len(hybrid.seen) >= 5, message="the relays and their re-publications")
            time.sleep(2)  # a loop would keep adding messages (a round trip takes milliseconds)
            senders = sorted(sender for sender, _ in hybrid.seen)
            assert senders == sorted(["is-node-1", f"cachesync-bridge/a-{tag}", f"cachesync-bridge/b-{tag}",
                                      "is-hybrid", "is-hybrid"]), senders
    finally:
        hybrid.close()


def test_a_recreated_leg_subscription_makes_the_other_clusters_flush(tmp_path, amqp_url, redis_url):
    """On RabbitMQ the leg can tell: its queue did not exist (first start, or deleted while the
    bridge was away) is announced as an intake gap; a queue that survived is not."""
    leg = f"{amqp_url}?exchange=jms.durable.topic"
    topic, tag = f"central-{uuid.uuid4().hex[:8]}", secrets.token_hex(3)
    queue = f"cachesync-leg-a-{tag}"
    config_a = bridge_config(tmp_path, f"a-{tag}", amqp_url, topic, redis_db=DB_A, redis_url=redis_url,
                             sources=leg_toml(leg, f"is-a-{uuid.uuid4().hex[:8]}", subscription=queue))
    config_b = bridge_config(tmp_path, f"b-{tag}", amqp_url, topic, redis_db=DB_B, redis_url=redis_url,
                             silence_flush='["AppInfoCache"]')
    with flushed_dbs(redis_url, DB_B) as (redis_b,), BridgeProcess(config_b) as bridge_b:
        for run, recreated in enumerate((True, False, True)):
            redis_b.set("AppInfoCache:app-1", "x")
            if run == 2:
                _delete_queue(amqp_url, queue)
            with BridgeProcess(config_a):
                if recreated:
                    bridge_b.wait_for_log("(recreated of broker-1)")
                    wait_until(lambda: not redis_b.exists("AppInfoCache:app-1"), message="b flushes")
                else:
                    time.sleep(3)
                    assert redis_b.exists("AppInfoCache:app-1"), "a surviving queue lost nothing: no flush"
            assert bridge_b.text.count("(recreated of broker-1)") == (1 if run < 2 else 2)


def test_a_leg_refuses_a_subscription_another_consumer_reads(tmp_path, amqp_url, redis_url):
    leg = f"{amqp_url}?exchange=jms.durable.topic"
    queue = f"cachesync-is-node-{secrets.token_hex(3)}"
    params = pika.URLParameters(amqp_url)
    with pika.BlockingConnection(params) as other:  # another consumer, e.g. an IS node given that name
        channel = other.channel()
        channel.queue_declare(queue, durable=True)
        channel.basic_consume(queue, lambda *args: None)
        config = bridge_config(tmp_path, f"a-{secrets.token_hex(3)}", amqp_url, f"central-{uuid.uuid4().hex[:8]}",
                               redis_db=DB_A, redis_url=redis_url,
                               sources=leg_toml(leg, f"is-{uuid.uuid4().hex[:8]}", subscription=queue))
        bridge = BridgeProcess(config)
        assert exit_status(bridge) == 2, bridge.text
        assert f"the durable subscription '{queue}'" in bridge.text and "already has 1 consumer" in bridge.text
        channel.queue_delete(queue)


def test_on_activemq_a_leg_refuses_a_subscription_another_bridge_reads(tmp_path, activemq_stomp_url, redis_url):
    """ActiveMQ keys a durable subscription by client id, the leg's subscription name: the broker
    refuses a second connection with it, and the second bridge exits 2."""
    tag, is_topic = secrets.token_hex(3), f"is-{uuid.uuid4().hex[:8]}"
    configs = [bridge_config(tmp_path, f"{c}-{tag}", activemq_stomp_url, f"central-{tag}", redis_db=DB_A,
                             redis_url=redis_url, sources=leg_toml(activemq_stomp_url, is_topic,
                                                                   subscription=f"cachesync-leg-{tag}"))
               for c in "ab"]
    with BridgeProcess(configs[0]):
        second = BridgeProcess(configs[1])
        assert exit_status(second) == 2, second.text
        assert f"another client already reads the durable subscription 'cachesync-leg-{tag}'" in second.text


def exit_status(bridge: BridgeProcess) -> int:
    """Start a bridge expected to refuse to run: its exit status (it may exit before or just after
    `start` sees its log end)."""
    try:
        bridge.start(timeout=30)
    except AssertionError:
        pass
    try:
        return bridge.process.wait(30)
    finally:
        bridge.kill()


def _delete_queue(amqp_url: str, queue: str) -> None:
    with pika.BlockingConnection(pika.URLParameters(amqp_url)) as connection:
        connection.channel().queue_delete(queue)


def test_doctor_connects_to_each_leg(tmp_path, activemq_stomp_url, redis_url):
    config = bridge_config(tmp_path, f"a-{secrets.token_hex(3)}", activemq_stomp_url, f"central-{uuid.uuid4().hex[:8]}",
                           redis_db=DB_A, redis_url=redis_url,
                           sources=leg_toml(activemq_stomp_url, f"is-{uuid.uuid4().hex[:8]}",
                                            subscription="cachesync-leg-doctor"))
    config.write_text(config.read_text().replace(
        'type = "broker"\nname = "is-nodes"\nurl = "' + activemq_stomp_url, 'type = "broker"\nname = "is-nodes"\nurl = '
        '"stomp://127.0.0.1:1'))
    environ = {k: v for k, v in os.environ.items() if not k.startswith("CACHESYNC_")}
    result = subprocess.run([sys.executable, "-m", "cachesync_cli", "doctor", "--config", str(config)], env=environ,
                            capture_output=True, text=True, timeout=120)
    lines = {line.split()[1]: line for line in result.stdout.splitlines() if len(line.split()) > 1}
    assert lines["sources"].startswith("ok"), result.stdout
    assert lines["targets"].startswith("FAIL") and "is-nodes" in result.stdout, result.stdout
    assert "stomp://127.0.0.1:1" in result.stdout


def test_sync_rules_and_the_all_limit_apply_to_what_the_leg_reads(tmp_path, activemq_stomp_url, redis_url):
    """`[sync] block` drops an IS cache; clear-alls over `all_rate` from one IS sender are held
    and coalesced, then published: none is lost."""
    topic, tag = f"central-{uuid.uuid4().hex[:8]}", secrets.token_hex(3)
    is_topics = {c: f"is-{c}-{uuid.uuid4().hex[:8]}" for c in "ab"}
    configs = {c: bridge_config(tmp_path, f"{c}-{tag}", activemq_stomp_url, topic, redis_db=db, redis_url=redis_url,
                                sources=leg_toml(activemq_stomp_url, is_topics[c], subscription=f"cachesync-leg-{c}-{tag}"))
               for c, db in (("a", DB_A), ("b", DB_B))}
    configs["a"].write_text(configs["a"].read_text().replace(
        "[sync]\n", '[sync]\nblock = ["*/LocalOnlyCache"]\nall_rate = 0.2\nall_burst = 1\n', 1))
    side_b = IsTopic(activemq_stomp_url, is_topics["b"])
    try:
        with flushed_dbs(redis_url, DB_A, DB_B), BridgeProcess(configs["b"]), BridgeProcess(configs["a"]) as bridge_a:
            invalidate(activemq_stomp_url, is_topics["a"], lines=[
                {"manager": M, "cache": "LocalOnlyCache", "keys": ["k1"]},
                {"manager": M, "cache": "AppInfoCache", "all": True},
                {"manager": M, "cache": "ServiceProviderCache", "all": True},
                {"manager": M, "cache": "AppInfoCache", "all": True},
                {"manager": M, "cache": "AppInfoCache", "keys": ["k-after"]}])
            wait_until(lambda: len(side_b.from_bridges()) >= 4, timeout=30, message="every invalidation on b's side")
            time.sleep(2)
            shown = [(m.cache, "<all>" if m.clear_all else m.key) for m in side_b.from_bridges()]
            assert shown[0] == ("AppInfoCache", "<all>") and ("AppInfoCache", "k-after") in shown
            assert sorted(shown[shown.index(("AppInfoCache", "k-after")) + 1:]) == [
                ("AppInfoCache", "<all>"), ("ServiceProviderCache", "<all>")], shown  # held, coalesced, sent
            assert "LocalOnlyCache" not in {cache for cache, _ in shown}
            assert "exceed [sync] all_rate" in bridge_a.text
    finally:
        side_b.close()
