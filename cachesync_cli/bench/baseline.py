"""The baseline: the same broker driven by the bare driver, the way a simple cache-sync
connector does it: one message per invalidation, published with a confirmation (a
publisher confirm with pika, a receipt with stomp.py), one subscriber. Its end-to-end
rate is what `--baseline` reports beside ours, measured in the same run."""

from __future__ import annotations

import json
import threading
import time

from cachesync_cli.transport.base import ConnectOptions, Login
from cachesync_cli.transport.endpoint import Endpoint, parse_endpoint
from cachesync_cli.transport.schemes import transport_class


def baseline_rate(url: str, topic: str, count: int) -> dict:
    """Publish `count` one-key messages with the bare driver; the end-to-end rate."""
    endpoint = parse_endpoint(url)
    run = {"amqp": _amqp, "stomp": _stomp}.get(endpoint.family)  # the drivers this baseline knows
    if run is None:
        return {"driver": None, "note": f"no baseline for {endpoint.scheme}://"}
    return run(endpoint, topic, count)


def _login(endpoint: Endpoint) -> Login:
    """The credentials our transport would log in with (the URL's, or the protocol's default)."""
    return transport_class(endpoint.scheme).login_for(endpoint, ConnectOptions())


def _bodies(count: int) -> list[bytes]:
    return [json.dumps({"cache": "baseline", "keys": [str(n)]}).encode() for n in range(count)]


def _amqp(ep: Endpoint, topic: str, count: int) -> dict:
    import pika

    login = _login(ep)
    params = pika.ConnectionParameters(ep.host, ep.port, ep.path or "/",
                                       pika.PlainCredentials(login.username, login.password))
    received = threading.Event()
    ready = threading.Event()
    got = [0]

    def consume() -> None:
        connection = pika.BlockingConnection(params)
        channel = connection.channel()
        queue = channel.queue_declare("", exclusive=True, auto_delete=True).method.queue
        channel.queue_bind(queue, "amq.topic", routing_key=topic)

        def on_message(ch, method, properties, body) -> None:
            got[0] += 1
            if got[0] >= count:
                received.set()
                ch.stop_consuming()

        channel.basic_consume(queue, on_message, auto_ack=True)
        ready.set()
        channel.start_consuming()
        connection.close()

    consumer = threading.Thread(target=consume, daemon=True)
    consumer.start()
    ready.wait(10)
    connection = pika.BlockingConnection(params)
    channel = connection.channel()
    channel.confirm_delivery()
    properties = pika.BasicProperties(content_type="application/json", delivery_mode=2)
    started = time.monotonic()
    for body in _bodies(count):
        channel.basic_publish("amq.topic", topic, body, properties)
    received.wait(120)
    elapsed = time.monotonic() - started
    connection.close()
    return {"driver": "pika", "invalidations": count, "received": got[0], "seconds": round(elapsed, 3),
            "per_second": round(got[0] / elapsed, 1)}


def _stomp(ep: Endpoint, topic: str, count: int) -> dict:
    import stomp

    login = _login(ep)
    got = [0]
    received = threading.Event()

    class Listener(stomp.ConnectionListener):
        def on_message(self, frame) -> None:
            got[0] += 1
            if got[0] >= count:
                received.set()

    def connect(listener=None):
        connection = stomp.Connection12([(ep.host, ep.port)], vhost=ep.path or "/", auto_content_length=False)
        if listener:
            connection.set_listener("l", listener)
        connection.connect(login.username, login.password, wait=True)
        return connection

    subscriber = connect(Listener())
    subscriber.subscribe(f"/topic/{topic}", id="baseline", ack="auto", receipt="subscribed")
    time.sleep(0.5)
    publisher = connect()
    receipts = threading.Semaphore(0)

    class Receipts(stomp.ConnectionListener):
        def on_receipt(self, frame) -> None:
            receipts.release()

    publisher.set_listener("r", Receipts())
    started = time.monotonic()
    for n, body in enumerate(_bodies(count)):
        publisher.send(f"/topic/{topic}", body, headers={"persistent": "true", "receipt": f"r{n}"})
        receipts.acquire(timeout=30)
    received.wait(120)
    elapsed = time.monotonic() - started
    publisher.disconnect()
    subscriber.disconnect()
    return {"driver": "stomp.py", "invalidations": count, "received": got[0], "seconds": round(elapsed, 3),
            "per_second": round(got[0] / elapsed, 1)}
