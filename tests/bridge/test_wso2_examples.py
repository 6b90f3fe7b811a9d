"""The WSO2 examples (examples/wso2-rabbitmq.toml, examples/wso2-activemq.toml) run as they are,
only their hosts, topic, names and secrets replaced: a bridge beside IS nodes on the nodes' own
topic drops from Redis what an IS node invalidates, and delivers the applications'
invalidations to the IS nodes in the connector's format (on RabbitMQ: into a durable queue bound
as the RabbitMQ JMS client binds an IS node's subscription, in that client's framing); doctor
passes with the RabbitMQ example. IS nodes are played by publishers of the connector's bodies."""

from __future__ import annotations

import json
import re
import secrets
import time
from pathlib import Path

import pytest

from cachesync_cli.wire.rmq_jms import decode_text_message, encode_text_message

from ..cli.run import Tail, cachesync
from .processes import BridgeProcess, wait_until

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
M = "IdentityApplicationManagementCacheManager"
DB = 14
EXCHANGE = "jms.durable.topic"


def sub(pattern: str, replacement: str, text: str) -> str:
    """`re.sub` on whole lines, which must match at least once (the example changed otherwise)."""
    result, count = re.subn(pattern, lambda _: replacement, text, flags=re.M)
    assert count, f"the example has no line matching {pattern!r} any more: update this test"
    return result


def run_example(name: str, tmp_path: Path, *, broker_url: str, topic: str, redis_url: str,
                is_subscriptions: list[str] | None = None) -> tuple[Path, str, str]:
    """The example as a config for the test services: (path, cluster id, local channel)."""
    text = (EXAMPLES / name).read_text(encoding="utf-8")
    cluster = f"is-{secrets.token_hex(3)}"
    channel = f"local.{cluster}"
    text = sub(r'^url = "(amqp|stomp)://[^"]*"$', f'url = "{broker_url}"', text)
    text = sub(r'^url = "redis://[^"]*"$', f'url = "{redis_url.rstrip("/")}/{DB}"', text)
    text = sub(r'^topic = "[^"]*"', f'topic = "{topic}"', text)
    text = sub(r'^channel = "[^"]*"', f'channel = "{channel}"', text)
    text = sub(r'^id = "[^"]*"', f'id = "{cluster}"', text)
    text = sub(r'^producer = "[^"]*"', f'producer = "cachesync-{cluster}"', text)
    text = sub(r'^(username|password_env|password_file) = .*\n', "", text)
    if is_subscriptions is not None:
        text = sub(r'^is_subscriptions = .*$', f"is_subscriptions = {json.dumps(is_subscriptions)}", text)
    text = sub(r'^\[sync\]$', f'[sync]\nspool_path = "{tmp_path}/spool.sqlite"\nstate_path = "{tmp_path}/state.json"',
               text)
    text += '\n[monitor]\nlisten = "127.0.0.1:0"\n'
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    path.chmod(0o600)  # as deployed: doctor warns about a config others can read
    return path, cluster, channel


def wso2_json(cache: str, key_base64: str) -> str:
    return json.dumps({"tenantDomain": "carbon.super", "tenantId": -1234, "cacheManagerName": M,
                       "cacheName": f"$__local__$.{cache}", "cacheKeyBase64": key_base64})


def java_string_base64(text: str) -> str:
    import base64

    from cachesync_cli.wire.javaser import serialize_string

    return base64.b64encode(serialize_string(text)).decode()


@pytest.fixture
def redis_client(redis_url):
    import redis

    client = redis.Redis.from_url(f"{redis_url.rstrip('/')}/{DB}")
    yield client
    client.close()


def test_rabbitmq_example(amqp_url, topic_name, redis_url, redis_client, tmp_path):
    import pika

    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    channel = connection.channel()
    channel.exchange_declare(EXCHANGE, exchange_type="topic", durable=True, auto_delete=False)
    is_queue = f"is-node-1-sub-{secrets.token_hex(3)}"  # an IS node's durable subscription, as the client binds it
    channel.queue_declare(is_queue, durable=True)
    channel.queue_bind(is_queue, EXCHANGE, routing_key=topic_name)
    config, cluster, local_channel = run_example("wso2-rabbitmq.toml", tmp_path, broker_url=amqp_url,
                                                 topic=topic_name, redis_url=redis_url,
                                                 is_subscriptions=[is_queue])
    key = f"app-{secrets.token_hex(3)}"
    redis_client.set(f"AppInfoCache:{key}", "cached")
    try:
        with BridgeProcess(config):
            # an IS node invalidates: the RabbitMQ JMS client's framing, its producer name as sender
            body = encode_text_message(wso2_json("AppInfoCache", java_string_base64(key)), sender="is-node-2")
            channel.basic_publish(EXCHANGE, topic_name, body, pika.BasicProperties(delivery_mode=2))
            wait_until(lambda: not redis_client.exists(f"AppInfoCache:{key}"), message="the IS key dropped")
            # an application invalidates: the IS node's queue gets a TextMessage it reads
            channel.queue_purge(is_queue)  # what the IS node sent itself
            local = {"cache": "AppInfoCache", "manager": M, "keys": ["from-app"]}
            redis_client.publish(local_channel, json.dumps(local))
            deadline = time.monotonic() + 20
            method = None
            while method is None and time.monotonic() < deadline:
                method, _, delivered = channel.basic_get(is_queue, auto_ack=True)
                time.sleep(0.1) if method is None else None
            assert method is not None, "nothing reached the IS node's queue"
        message = decode_text_message(delivered)
        assert message.sender == f"cachesync-{cluster}"
        assert json.loads(message.text) == json.loads(wso2_json("AppInfoCache", java_string_base64("from-app")))
        doctor = cachesync("doctor", "--config", str(config), "--format", "json", "--skip", "sources,targets")
        checks = {c["id"]: c for c in json.loads(doctor.stdout)["checks"]}
        assert checks["permissions"]["status"] == "ok", checks["permissions"]
        assert checks["is-queues"]["status"] == "ok", checks["is-queues"]  # idle: no consumer, not growing
        assert doctor.returncode == 0, doctor.stdout
    finally:
        channel.queue_delete(is_queue)
        connection.close()


def test_activemq_example(activemq_stomp_url, topic_name, redis_url, redis_client, tmp_path):
    from cachesync_cli.transport.base import ConnectOptions
    from cachesync_cli.transport.connection import BrokerConnection

    config, cluster, local_channel = run_example("wso2-activemq.toml", tmp_path, broker_url=activemq_stomp_url,
                                                 topic=topic_name, redis_url=redis_url)
    key = f"app-{secrets.token_hex(3)}"
    redis_client.set(f"AppInfoCache:{key}", "cached")
    with BridgeProcess(config), \
            Tail(activemq_stomp_url, topic_name, "--format", "raw", "--count", "2") as tail:
        is_node = BrokerConnection([activemq_stomp_url], ConnectOptions(client_id="is-node-2")).open(timeout=10)
        try:
            is_node.publish(topic_name, wso2_json("AppInfoCache", java_string_base64(key)).encode(),
                            {"sender": "is-node-2"}, confirm=True, timeout=10)
        finally:
            is_node.close()
        wait_until(lambda: not redis_client.exists(f"AppInfoCache:{key}"), message="the IS key dropped")
        redis_client.publish(local_channel, json.dumps({"cache": "AppInfoCache", "manager": M, "keys": ["from-app"]}))
        _, from_bridge = tail.lines(2)
    assert json.loads(from_bridge) == json.loads(wso2_json("AppInfoCache", java_string_base64("from-app")))
