"""Test helpers around real brokers: collect deliveries, restart a broker, clean up queues."""

from __future__ import annotations

import os
import queue
import secrets
import socket
import subprocess
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from cachesync_cli.transport.base import ConnectOptions, Delivery, SubscriptionSpec
from cachesync_cli.transport.connection import Backoff, BrokerConnection, ConnectionEvent
from cachesync_cli.transport.endpoint import parse_endpoint

ROOT = Path(__file__).resolve().parents[2]


class Inbox:
    """Deliveries from one subscription, in arrival order."""

    def __init__(self) -> None:
        self.queue: queue.Queue[Delivery] = queue.Queue()

    def __call__(self, delivery: Delivery) -> None:
        self.queue.put(delivery)

    def take(self, count: int, timeout: float = 10.0, ack: bool = True) -> list[Delivery]:
        got: list[Delivery] = []
        deadline = time.monotonic() + timeout
        while len(got) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"expected {count} messages, got {len(got)}: {[d.body for d in got]}")
            try:
                delivery = self.queue.get(timeout=remaining)
            except queue.Empty:
                continue
            if ack:
                delivery.ack()
            got.append(delivery)
        return got

    def quiet(self, seconds: float) -> list[bytes]:
        """Bodies of whatever arrives within `seconds` (expected: nothing)."""
        bodies = []
        deadline = time.monotonic() + seconds
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                bodies.append(self.queue.get(timeout=remaining).body)
            except queue.Empty:
                break
        return bodies


class Events(list):
    def __call__(self, event: ConnectionEvent) -> None:
        self.append(event)

    def kinds(self) -> list[str]:
        return [e.kind for e in self]


def connect(url: str | list[str], *, client_id: str | None = None, events=None, **options) -> BrokerConnection:
    urls = [url] if isinstance(url, str) else url
    connection = BrokerConnection(urls, ConnectOptions(client_id=client_id, heartbeat=5, connect_timeout=5,
                                                        **options),
                                  on_event=events, backoff=Backoff(base=0.2, cap=2.0))
    return connection.open()


def subscribe(connection: BrokerConnection, topic: str, *, durable: str | None = None,
              manual_ack: bool = False) -> Inbox:
    inbox = Inbox()
    connection.subscribe(SubscriptionSpec(topic, inbox, durable_name=durable, manual_ack=manual_ack))
    return inbox


def broker_kind(url: str) -> str:
    if url.startswith("memory"):
        return "memory"
    if url.startswith("amqp"):
        return "rabbitmq"
    if url.startswith("mqtt"):
        port = parse_endpoint(url).port
        mqtt_ports = {_env_port("CACHESYNC_TEST_RABBIT_MQTT_URL", 1884): "rabbitmq",
                      _env_port("CACHESYNC_TEST_RABBIT_MQTTS_URL", 8884): "rabbitmq",
                      _env_port("CACHESYNC_TEST_ACTIVEMQ_MQTT_URL", 1885): "activemq"}
        return mqtt_ports.get(port, "mosquitto")
    return "activemq" if parse_endpoint(url).port == int(os.environ.get("ACTIVEMQ_STOMP_PORT", "61623")) else "rabbitmq"


def wait_port(url: str, timeout: float = 90.0) -> None:
    endpoint = parse_endpoint(url)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((endpoint.host, endpoint.port), timeout=1):
                return
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"{endpoint} did not come back within {timeout}s")


def restart_broker(url: str) -> None:
    """Stop and start the broker behind `url` for real (memory: drop every connection)."""
    kind = broker_kind(url)
    if kind == "memory":
        from cachesync_cli.transport.memory import memory_broker

        memory_broker(parse_endpoint(url).host).drop_connections()
        return
    if kind == "mosquitto":
        subprocess.run([str(ROOT / "scripts" / "services"), "restart-mosquitto"], check=True,
                       capture_output=True, timeout=60)
    elif kind == "rabbitmq":
        subprocess.run(["rabbitmqctl", "-q", "stop_app"], check=True, capture_output=True, timeout=120)
        subprocess.run(["rabbitmqctl", "-q", "start_app"], check=True, capture_output=True, timeout=120)
    else:
        subprocess.run([str(ROOT / "scripts" / "services"), "restart-activemq"], check=True,
                       capture_output=True, timeout=180)
    wait_port(url)
    if url.startswith("stomp") and kind == "rabbitmq":
        wait_port(url)


def delete_amqp_queue(url: str, name: str) -> None:
    """Remove a durable test queue so test runs leave nothing behind on the broker."""
    import pika

    from cachesync_cli.transport.amqp import AmqpTransport

    endpoint = parse_endpoint(url)
    login = AmqpTransport.login_for(endpoint, ConnectOptions())  # as the transport logs in
    params = pika.ConnectionParameters(endpoint.host, endpoint.port, endpoint.path or "/",
                                       pika.PlainCredentials(login.username, login.password))
    connection = pika.BlockingConnection(params)
    try:
        connection.channel().queue_delete(name)
    finally:
        connection.close()


def delete_bridge_queue(url: str, cluster: str, topic: str) -> None:
    """Remove a test bridge's durable AMQP queue (`cachesync.<cluster>@<topic>`)."""
    from cachesync_cli.transport.amqp import durable_queue_name

    delete_amqp_queue(url, durable_queue_name(cluster, topic))


def delete_durable_subscription(url: str, name: str, topic: str) -> str:
    """Remove a durable test subscription through its transport (what `retire` and the demo use)."""
    from cachesync_cli.transport import transport_class

    endpoint = parse_endpoint(url)
    transport = transport_class(endpoint.scheme)(endpoint, ConnectOptions(connect_timeout=5), lambda error: None)
    transport.connect()
    try:
        return transport.delete_durable_subscription(name, topic)
    finally:
        transport.close()


def _env_port(env_var: str, default: int) -> int:
    value = os.environ.get(env_var)
    return parse_endpoint(value).port if value else default


def end_mqtt_session(url: str, client_id: str) -> None:
    """Remove a persistent MQTT test session: connecting with its client id and a clean
    session makes the broker drop it (and, on RabbitMQ, its queue)."""
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion

    endpoint = parse_endpoint(url)
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True,
                         protocol=paho.MQTTv311, reconnect_on_failure=False)
    if endpoint.username:
        client.username_pw_set(endpoint.username, endpoint.password)
    connected = threading.Event()
    client.on_connect = lambda *args: connected.set()
    client.connect(endpoint.host, endpoint.port, keepalive=5)
    client.loop_start()
    try:
        connected.wait(5)
    finally:
        client.disconnect()
        client.loop_stop()


@contextmanager
def full_queue_on(amqp_url: str, topic: str, *, room: int):
    """A queue bound to `topic` that takes `room` messages and refuses the rest."""
    import pika

    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    channel = connection.channel()
    name = f"cachesync-test-full-{secrets.token_hex(4)}"
    channel.queue_declare(name, arguments={"x-max-length": room, "x-overflow": "reject-publish"})
    channel.queue_bind(name, "amq.topic", routing_key=topic)
    try:
        yield channel, name
    finally:
        if channel.is_open:
            channel.queue_delete(name)
        connection.close()
