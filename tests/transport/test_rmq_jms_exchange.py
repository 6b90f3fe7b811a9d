"""IS nodes on RabbitMQ (issue 17): the RabbitMQ JMS client's exchange `jms.durable.topic`
carries its own body framing. cachesync reads and writes it from the command line, refuses to
publish anything else there, and declares the exchange as the client does. The JVM side is
played by bytes the RabbitMQ JMS client really put on the wire (tests/wire/data)."""

from __future__ import annotations

import base64
import json
import secrets

import pytest

from cachesync_cli.wire.rmq_jms import decode_text_message, encode_text_message

from ..cli.run import Tail, cachesync
from ..wire.conftest import RMQ_JMS_VECTORS_PATH

EXCHANGE = "jms.durable.topic"
M = "IdentityApplicationManagementCacheManager"


@pytest.fixture
def jms_url(amqp_url) -> str:
    return f"{amqp_url.rstrip('/')}/?exchange={EXCHANGE}"


class JmsTopicConsumer:
    """What an IS node's RabbitMQ JMS consumer has: a queue bound to jms.durable.topic/topic."""

    def __init__(self, amqp_url: str, topic: str) -> None:
        import pika

        self.connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
        self.channel = self.connection.channel()
        # what the client's createTopic declares; fails with PRECONDITION_FAILED if ours differed
        self.channel.exchange_declare(EXCHANGE, exchange_type="topic", durable=True, auto_delete=False)
        self.queue = self.channel.queue_declare("", exclusive=True).method.queue
        self.channel.queue_bind(self.queue, EXCHANGE, routing_key=topic)

    def bodies(self) -> list[bytes]:
        found = []
        while True:
            method, _, body = self.channel.basic_get(self.queue, auto_ack=True)
            if method is None:
                return found
            found.append(body)

    def close(self) -> None:
        self.connection.close()


def publish_raw(amqp_url: str, topic: str, body: bytes) -> None:
    import pika

    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        connection.channel().basic_publish(EXCHANGE, topic, body,
                                           pika.BasicProperties(content_type="application/octet-stream",
                                                                delivery_mode=2))
    finally:
        connection.close()


def test_invalidate_writes_the_text_message_an_rmq_jms_consumer_reads(amqp_url, jms_url, topic_name):
    consumer = JmsTopicConsumer(amqp_url, topic_name)
    try:
        dry = cachesync("invalidate", "AppInfoCache", "tok-1", "--codec", "wso2", "--manager", M, "--sender",
                        "cachesync-dc-east", "--dry-run", "--broker", jms_url, "--topic", topic_name)
        assert dry.returncode == 0, dry.stderr
        sent = cachesync("invalidate", "AppInfoCache", "tok-1", "--codec", "wso2", "--manager", M, "--sender",
                         "cachesync-dc-east", "--confirm", "--broker", jms_url, "--topic", topic_name)
        assert sent.returncode == 0, sent.stderr
        [body] = consumer.bodies()
        # byte for byte the `accepted` form of rmq-jms-vectors.json: what the JVM consumer read
        assert body == encode_text_message(dry.stdout.strip(), sender="cachesync-dc-east")
        message = decode_text_message(body)
        assert json.loads(message.text)["cacheName"] == "$__local__$.AppInfoCache"
        assert message.sender == "cachesync-dc-east"
    finally:
        consumer.close()


def test_nothing_native_is_ever_published_there(amqp_url, jms_url, topic_name, tmp_path):
    consumer = JmsTopicConsumer(amqp_url, topic_name)
    try:
        refused = cachesync("invalidate", "AppInfoCache", "k", "--confirm", "--broker", jms_url, "--topic", topic_name)
        assert refused.returncode == 2, refused.stderr
        assert "only WSO2 TextMessages may be published" in refused.stderr
        config = tmp_path / "native.toml"
        config.write_text(f'[cluster]\nid = "n-{secrets.token_hex(3)}"\n[broker]\nurl = "{jms_url}"\n'
                          f'topic = "{topic_name}"\n[monitor]\nlisten = "127.0.0.1:0"\n'
                          f'[sync]\nspool_path = "{tmp_path}/spool.sqlite"\nstate_path = "{tmp_path}/state"\n')
        run = cachesync("run", "--config", str(config), timeout=60)
        assert run.returncode == 2, run.stderr
        assert "cannot publish its envelopes and heartbeats there" in run.stderr
        doctor = cachesync("doctor", "--config", str(config), "--only", "permissions", "--format", "json")
        [check] = [c for c in json.loads(doctor.stdout)["checks"] if c["id"] == "permissions"]
        assert check["status"] == "fail" and "would stop their consumers" in check["message"]
        assert consumer.bodies() == []  # no envelope, heartbeat, probe or announcement reached IS
    finally:
        consumer.close()


def test_tail_reads_what_the_rmq_jms_client_put_on_the_wire(amqp_url, jms_url, topic_name):
    vectors = json.loads(RMQ_JMS_VECTORS_PATH.read_text(encoding="utf-8"))["produced"]
    chosen = [v for v in vectors if v["name"] in ("json/ascii", "json/unicode-astral", "legacy/ascii",
                                                  "json/clear-all-marker")]
    with Tail(jms_url, topic_name, "--format", "ndjson", "--count", str(len(chosen)), "--idle-timeout", "8") as tail:
        for vector in chosen:
            publish_raw(amqp_url, topic_name, base64.b64decode(vector["body_base64"]))
    seen = [json.loads(line) for line in tail.process_output()]
    assert [m["codec"] for m in seen] == ["wso2"] * len(chosen)
    assert {m["origin"] for m in seen} == {"is-node-1"}
    assert [m["items"][0].get("keys", ["ALL"])[0] for m in seen] == \
        [v["key"] if "clear-all" not in v["name"] else "ALL" for v in chosen]


def _open_connections(user: str) -> int:
    import subprocess

    listed = subprocess.run(["rabbitmqctl", "-q", "list_connections", "user"], capture_output=True, text=True,
                            timeout=30, check=True).stdout.split()
    return listed.count(user)


def test_a_connection_that_fails_while_declaring_the_exchange_is_closed(restricted_amqp_url):
    """The restricted user may log in but not declare jms.durable.topic: the connect fails
    after the connection opened, and that connection is closed, not left open."""
    import time
    from urllib.parse import urlsplit

    from cachesync_cli.errors import TransportError
    from cachesync_cli.transport.amqp import AmqpTransport
    from cachesync_cli.transport.base import ConnectOptions
    from cachesync_cli.transport.endpoint import parse_endpoint

    user = urlsplit(restricted_amqp_url).username
    before = _open_connections(user)
    transport = AmqpTransport(parse_endpoint(f"{restricted_amqp_url.rstrip('/')}/?exchange={EXCHANGE}"),
                              ConnectOptions(), lambda error: None)
    with pytest.raises(TransportError):
        transport.connect()
    deadline = time.monotonic() + 5
    while _open_connections(user) > before and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _open_connections(user) == before, "the failed connection was left open"
    del transport
