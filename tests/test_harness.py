"""The services the suite relies on answer in their own protocol.

These speak raw bytes on purpose: they test the harness (scripts/services, the
broker config in deploy/test/activemq, the fixtures in conftest.py), not
cachesync's transports, and must not depend on them.
"""

from __future__ import annotations

import socket
import struct
from urllib.parse import urlsplit

import pytest

TIMEOUT = 5.0


def connect(url: str, default_port: int) -> socket.socket:
    parts = urlsplit(url)
    return socket.create_connection((parts.hostname, parts.port or default_port), timeout=TIMEOUT)


def recv_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError(f"closed after {len(data)} of {size} bytes")
        data += chunk
    return data


def recv_line(sock: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\r\n"):
        data += recv_exactly(sock, 1)
    return data


class Stomp:
    """Just enough STOMP 1.2 to open a session, subscribe and send."""

    def __init__(self, url: str, **headers: str) -> None:
        parts = urlsplit(url)
        self.sock = connect(url, 61613)
        self.buffer = b""
        connect_headers = {"accept-version": "1.2", "host": "/", "heart-beat": "0,0"}
        if parts.username:
            connect_headers |= {"login": parts.username, "passcode": parts.password or ""}
        self.send("CONNECT", connect_headers | headers)
        self.connected = self.read()

    def send(self, command: str, headers: dict[str, str], body: bytes = b"") -> None:
        head = "".join(f"{key}:{value}\n" for key, value in headers.items())
        self.sock.sendall(f"{command}\n{head}\n".encode() + body + b"\x00")

    def read(self) -> tuple[str, dict[str, str], bytes]:
        while b"\x00" not in self.buffer:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("broker closed the STOMP connection")
            self.buffer += chunk
        frame, _, self.buffer = self.buffer.partition(b"\x00")
        head, _, body = frame.lstrip(b"\r\n").partition(b"\n\n")
        command, *lines = head.decode().split("\n")
        headers: dict[str, str] = {}
        for line in lines:
            key, _, value = line.partition(":")
            headers.setdefault(key, value)  # STOMP: the first occurrence wins
        if command == "ERROR":
            raise AssertionError(f"STOMP ERROR {headers.get('message')}: {body!r}")
        return command, headers, body

    def call(self, command: str, headers: dict[str, str], body: bytes = b"") -> None:
        """Send a frame and wait for the broker's RECEIPT of it."""
        self.send(command, headers | {"receipt": command.lower()}, body)
        assert self.read()[0] == "RECEIPT"

    def close(self) -> None:
        try:
            self.call("DISCONNECT", {})
        finally:
            self.sock.close()


@pytest.mark.rabbitmq
def test_amqp_port_answers_with_rabbitmq_connection_start(amqp_url: str) -> None:
    with connect(amqp_url, 5672) as sock:
        sock.sendall(b"AMQP\x00\x00\x09\x01")
        frame_type, channel, size = struct.unpack("!BHI", recv_exactly(sock, 7))
        payload = recv_exactly(sock, size + 1)
    assert (frame_type, channel) == (1, 0)  # method frame on the connection channel
    assert struct.unpack("!HHBB", payload[:6]) == (10, 10, 0, 9)  # connection.start, 0-9
    assert payload.endswith(b"\xce")
    assert b"RabbitMQ" in payload  # server-properties: product


@pytest.mark.rabbitmq
def test_rabbitmq_stomp_plugin_accepts_connect(rabbit_stomp_url: str) -> None:
    stomp = Stomp(rabbit_stomp_url)
    try:
        command, headers, _ = stomp.connected
        assert command == "CONNECTED"
        assert headers["version"] == "1.2"
        assert headers["server"].startswith("RabbitMQ/")
    finally:
        stomp.close()


@pytest.mark.activemq
def test_activemq_stomp_connector_accepts_connect(activemq_stomp_url: str) -> None:
    stomp = Stomp(activemq_stomp_url)
    try:
        command, headers, _ = stomp.connected
        assert command == "CONNECTED"
        assert headers["version"] == "1.2"
        assert headers["server"].startswith("ActiveMQ/")
    finally:
        stomp.close()


@pytest.mark.activemq
def test_activemq_keeps_messages_for_a_disconnected_durable_subscriber(
    activemq_stomp_url: str, topic_name: str
) -> None:
    destination = f"/topic/{topic_name}"
    client = {"client-id": f"harness-{topic_name}"}
    durable = {"id": "1", "destination": destination, "activemq.subscriptionName": "harness"}

    subscriber = Stomp(activemq_stomp_url, **client)
    subscriber.call("SUBSCRIBE", durable | {"ack": "auto"})
    subscriber.close()

    publisher = Stomp(activemq_stomp_url)
    publisher.call("SEND", {"destination": destination, "persistent": "true"}, b"kept")
    publisher.close()

    subscriber = Stomp(activemq_stomp_url, **client)
    try:
        subscriber.send("SUBSCRIBE", durable | {"ack": "auto"})
        command, headers, body = subscriber.read()
        assert (command, body) == ("MESSAGE", b"kept")
        assert headers["destination"] == destination
        subscriber.call("UNSUBSCRIBE", {"id": "1"})  # deactivates it; then remove it:
        subscriber.call("UNSUBSCRIBE", durable)
    finally:
        subscriber.close()


@pytest.mark.redis
def test_redis_answers_ping(redis_url: str) -> None:
    with connect(redis_url, 6379) as sock:
        sock.sendall(b"*1\r\n$4\r\nPING\r\n")
        assert recv_line(sock) == b"+PONG\r\n"


@pytest.mark.memcached
def test_memcached_answers_version(memcached_address: str) -> None:
    with connect(f"tcp://{memcached_address}", 11211) as sock:
        sock.sendall(b"version\r\n")
        assert recv_line(sock).startswith(b"VERSION ")


def test_broker_url_follows_its_parameter(broker_url: str, request: pytest.FixtureRequest) -> None:
    scheme = {"memory": "memory", "amqp": "amqp", "rabbit_stomp": "stomp", "activemq_stomp": "stomp",
              "mosquitto": "mqtt", "rabbit_mqtt": "mqtt", "activemq_mqtt": "mqtt"}
    assert urlsplit(broker_url).scheme == scheme[request.node.callspec.params["broker_url"]]


def test_topic_name_is_fresh_for_each_test(topic_name: str) -> None:
    prefix, _, suffix = topic_name.rpartition(".")
    assert prefix == "cachesync.test"
    assert len(suffix) == 12 and int(suffix, 16) >= 0


def mqtt_string(text: str) -> bytes:
    data = text.encode()
    return struct.pack("!H", len(data)) + data


@pytest.mark.parametrize("service", ["mosquitto_url", "rabbit_mqtt_url", "activemq_mqtt_url"])
def test_mqtt_services_accept_an_mqtt_311_connect(service: str, request: pytest.FixtureRequest) -> None:
    url = request.getfixturevalue(service)
    parts = urlsplit(url)
    flags, payload = 0x02, mqtt_string("cachesync-harness-check")  # clean session
    if parts.username:
        flags |= 0xC0
        payload += mqtt_string(parts.username) + mqtt_string(parts.password or "")
    body = mqtt_string("MQTT") + bytes([4, flags]) + struct.pack("!H", 10) + payload
    with connect(url, 1883) as sock:
        sock.sendall(bytes([0x10, len(body)]) + body)
        assert recv_exactly(sock, 4) == b"\x20\x02\x00\x00"  # CONNACK, accepted
        sock.sendall(b"\xe0\x00")  # DISCONNECT
