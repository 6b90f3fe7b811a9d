"""How long RabbitMQ takes to confirm one publish, by kind of message and queue.

    .venv/bin/python benchmarks/confirm_latency.py [--url amqp://guest:guest@127.0.0.1:5672/] [--count 1500]

Bare pika, one message at a time (1 ms apart), publisher confirms on: the time from
`basic_publish` to its confirm, p50/p90/p99, for a persistent message on a durable queue
(what the bridges send: the broker confirms once the message is on disk), with and without
a consumer, and for the cases that need no disk. While the bridge's publishing thread
waited for each confirm before the next publish, this was the time a key arriving behind
another one waited (docs/performance.md).
"""

from __future__ import annotations

import argparse
import secrets
import threading
import time


def measure(url: str, count: int, *, durable: bool, persistent: bool, consume: bool) -> list[float]:
    import pika

    routing_key = f"bench.confirm.{secrets.token_hex(3)}"
    connection = pika.BlockingConnection(pika.URLParameters(url))
    channel = connection.channel()
    queue = channel.queue_declare(f"bench-confirm-{secrets.token_hex(3)}", durable=durable,
                                  auto_delete=not durable).method.queue
    channel.queue_bind(queue, "amq.topic", routing_key=routing_key)
    stop = threading.Event()
    consumer = None
    if consume:
        def run() -> None:
            own = pika.BlockingConnection(pika.URLParameters(url))
            own_channel = own.channel()
            own_channel.basic_consume(queue, lambda ch, method, _p, _b: ch.basic_ack(method.delivery_tag))
            while not stop.is_set():
                own.process_data_events(time_limit=0.2)
            own.close()

        consumer = threading.Thread(target=run, daemon=True)
        consumer.start()
        time.sleep(0.5)
    channel.confirm_delivery()
    properties = pika.BasicProperties(delivery_mode=2 if persistent else 1)
    took = []
    for _ in range(count):
        start = time.perf_counter()
        channel.basic_publish("amq.topic", routing_key, b"x" * 200, properties)
        took.append(time.perf_counter() - start)
        time.sleep(0.001)
    stop.set()
    if consumer is not None:
        consumer.join(2)
    channel.queue_delete(queue)
    connection.close()
    return sorted(took)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="amqp://guest:guest@127.0.0.1:5672/")
    parser.add_argument("--count", type=int, default=1500)
    args = parser.parse_args()
    cases = [
        ("persistent message, durable queue, no consumer", True, True, False),
        ("persistent message, durable queue, a consumer acking", True, True, True),
        ("transient message, durable queue, a consumer acking", True, False, True),
        ("persistent message, transient queue, a consumer acking", False, True, True),
    ]
    for label, durable, persistent, consume in cases:
        took = measure(args.url, args.count, durable=durable, persistent=persistent, consume=consume)

        def ms(p: float) -> str:
            return f"{took[min(len(took) - 1, int(len(took) * p / 100))] * 1000:.2f}"

        print(f"{label:56s} confirm p50 {ms(50)} ms, p90 {ms(90)} ms, p99 {ms(99)} ms")


if __name__ == "__main__":
    main()
