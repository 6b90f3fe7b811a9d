"""`doctor`'s `is-queues` check against a real RabbitMQ (issue 17): an IS node's durable
subscription is a queue named as the subscription, bound to jms.durable.topic with the topic
as routing key (../shared/wire/rmq-jms-vectors.json "subscriptions"). One without a consumer
that grows while doctor looks is a warning naming it; one with a consumer, or idle, is fine."""

from __future__ import annotations

import json
import secrets
import threading

import pytest

from cachesync_cli.wire.rmq_jms import encode_text_message
from tests.doctor.helpers import check, doctor

EXCHANGE = "jms.durable.topic"
BODY = json.dumps({"tenantDomain": "carbon.super", "tenantId": -1234, "cacheManagerName": "M",
                   "cacheName": "$__local__$.AppInfoCache", "cacheKeyBase64": "rO0ABXQAAWs="})


class IsSubscriptions:
    """Durable queues bound as the RabbitMQ JMS client binds an IS node's durable subscription."""

    def __init__(self, amqp_url: str, topic: str) -> None:
        import pika

        self.topic = topic
        self.connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
        self.channel = self.connection.channel()
        self.channel.exchange_declare(EXCHANGE, exchange_type="topic", durable=True, auto_delete=False)
        self.names: list[str] = []

    def durable(self, name: str) -> str:
        self.channel.queue_declare(name, durable=True, exclusive=False, auto_delete=False)
        self.channel.queue_bind(name, EXCHANGE, routing_key=self.topic)
        self.names.append(name)
        return name

    def consume(self, name: str) -> None:
        """A consumer that stays registered (messages pile up unread in this test's socket)."""
        self.channel.basic_consume(name, lambda *args: None, auto_ack=True)

    def close(self) -> None:
        channel = self.connection.channel()
        for name in self.names:
            channel.queue_delete(name)
        self.connection.close()


def publish_while(amqp_url: str, topic: str, stop: threading.Event) -> threading.Thread:
    """An IS node publishing invalidations (RMQ JMS framing) every 0.1 s until `stop`."""
    import pika

    def run() -> None:
        connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
        channel = connection.channel()
        body = encode_text_message(BODY, sender="is-node-2")
        for _ in range(300):  # bounded: 30 s at most
            if stop.wait(0.1):
                break
            channel.basic_publish(EXCHANGE, topic, body, pika.BasicProperties(delivery_mode=2))
        connection.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def is_queues_while_publishing(amqp_url: str, topic: str, config, only: str):
    """`doctor --only ONLY` while an IS node publishes on the topic: its exit code and is-queues' result."""
    stop = threading.Event()
    publisher = publish_while(amqp_url, topic, stop)
    try:
        code, report, _ = doctor("--config", str(config), "--only", only)
    finally:
        stop.set()
        publisher.join(5)
    return code, check(report, "is-queues")


@pytest.fixture
def subscriptions(amqp_url, topic_name):
    subs = IsSubscriptions(amqp_url, topic_name)
    yield subs
    subs.close()


def config_with(tmp_path, amqp_url, topic, names, interval=1.0):
    path = tmp_path / "cachesync.toml"
    path.write_text(f'''[cluster]
id = "dc-east"
[broker]
url = "{amqp_url.rstrip('/')}/?exchange={EXCHANGE}"
topic = "{topic}"
[codec]
name = "wso2"
producer = "cachesync-dc-east"
[doctor]
is_subscriptions = {json.dumps(names)}
is_interval = {interval}
''')
    return path


def test_a_growing_subscription_without_consumer_warns(amqp_url, topic_name, tmp_path, subscriptions):
    stalled = subscriptions.durable(f"is-node-1-sub-{secrets.token_hex(3)}")
    live = subscriptions.durable(f"is-node-2-sub-{secrets.token_hex(3)}")
    subscriptions.consume(live)
    config = config_with(tmp_path, amqp_url, topic_name, [stalled, live])
    code, result = is_queues_while_publishing(amqp_url, topic_name, config, "auth,is-queues")
    assert result["status"] == "warn" and code == 1, result
    assert stalled in result["message"] and "no consumer and growing" in result["message"]
    assert live not in result["message"]
    assert "rabbitmqctl delete_queue" in result["hint"]
    details = {d["name"]: d for d in result["details"]}
    assert details[stalled]["status"] == "warn" and "grew by" in details[stalled]["message"]
    assert details[live]["status"] == "ok" and "1 consumer(s)" in details[live]["message"]


def test_idle_and_consumed_subscriptions_are_ok_and_a_wrong_name_is_named(amqp_url, topic_name, tmp_path,
                                                                         subscriptions):
    idle = subscriptions.durable(f"is-node-1-sub-{secrets.token_hex(3)}")
    live = subscriptions.durable(f"is-node-2-sub-{secrets.token_hex(3)}")
    subscriptions.consume(live)
    config = config_with(tmp_path, amqp_url, topic_name, [idle, live], interval=0.5)
    code, report, _ = doctor("--config", str(config), "--only", "auth,is-queues")
    result = check(report, "is-queues")
    assert result["status"] == "ok" and code == 0, result
    assert {d["name"]: d["status"] for d in result["details"]} == {idle: "ok", live: "ok"}

    missing = f"no-such-sub-{secrets.token_hex(3)}"
    config = config_with(tmp_path, amqp_url, topic_name, [idle, missing], interval=0.5)
    code, report, _ = doctor("--config", str(config), "--only", "auth,is-queues")
    result = check(report, "is-queues")
    assert result["status"] == "warn" and code == 1, result
    assert "list_bindings" in result["hint"]
    assert "no such queue" in {d["name"]: d for d in result["details"]}[missing]["message"]


def test_not_configured_or_not_amqp_is_not_applicable(activemq_stomp_url, amqp_url, topic_name, tmp_path):
    _, report, _ = doctor("--broker", amqp_url, "--topic", topic_name, "--only", "is-queues")
    assert check(report, "is-queues")["status"] == "skip"
    assert "is_subscriptions unset" in check(report, "is-queues")["message"]
    path = tmp_path / "cachesync.toml"
    path.write_text(f'[broker]\nurl = "{activemq_stomp_url}"\ntopic = "{topic_name}"\n'
                    f'[doctor]\nis_subscriptions = ["is-node-1"]\n')
    code, report, _ = doctor("--config", str(path), "--only", "is-queues")
    result = check(report, "is-queues")
    assert result["status"] == "skip" and code == 0, result
    assert "amqp:// only" in result["message"]


def test_with_a_broker_leg_it_looks_on_the_legs_broker(activemq_stomp_url, amqp_url, topic_name, tmp_path,
                                                       subscriptions):
    """The central topic on ActiveMQ, the IS nodes behind a leg on RabbitMQ: the queues are looked
    at on the leg's broker (with its own URL), where they are, and each detail names the leg."""
    stalled = subscriptions.durable(f"is-node-1-sub-{secrets.token_hex(3)}")
    path = tmp_path / "cachesync.toml"
    path.write_text(f'''[cluster]
id = "dc-east"
[broker]
url = "{activemq_stomp_url}"
topic = "{topic_name}-central"
[doctor]
is_subscriptions = ["{stalled}"]
is_interval = 1
[[targets]]
type = "broker"
name = "is-nodes"
url = "{amqp_url.rstrip('/')}/?exchange={EXCHANGE}"
topic = "{topic_name}"
tenants = [{{domain = "carbon.super", id = -1234}}]
flush = ["M/AppInfoCache"]
''')
    code, result = is_queues_while_publishing(amqp_url, topic_name, path, "is-queues")
    assert result["status"] == "warn" and code == 1, result
    assert "no consumer and growing" in result["message"] and "1 leg broker(s)" in result["message"]
    assert [d["name"] for d in result["details"]] == [f"{stalled} ([[targets]] 'is-nodes')"]
