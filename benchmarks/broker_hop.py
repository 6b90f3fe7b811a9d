"""The floor under `cachesync bench --rate` latency: one hop through the broker with the
bare driver, no cachesync code at all.

    .venv/bin/python benchmarks/broker_hop.py [--url amqp://guest:guest@127.0.0.1:5672/] [--count 2000]

A pika publisher (persistent messages, publisher confirms, as the bridges publish) and a
pika consumer on a transient queue bound to `amq.topic`, in one process, each connection
in its own thread. Every message carries its send time; the consumer notes the arrival.
Messages go one every 2 ms (well under what the broker takes), and the script prints the
publish -> delivery latency percentiles. A bridge-to-bridge path crosses this hop once,
plus a Redis channel on each side and the bridges themselves (docs/performance.md).
"""

from __future__ import annotations

import argparse
import queue
import secrets
import threading
import time


def main() -> None:
    import pika

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="amqp://guest:guest@127.0.0.1:5672/")
    parser.add_argument("--count", type=int, default=2000)
    args = parser.parse_args()
    routing_key = f"bench.hop.{secrets.token_hex(4)}"
    arrivals: queue.SimpleQueue = queue.SimpleQueue()
    ready = threading.Event()

    def consume() -> None:
        connection = pika.BlockingConnection(pika.URLParameters(args.url))
        channel = connection.channel()
        name = channel.queue_declare("", exclusive=True).method.queue
        channel.queue_bind(name, "amq.topic", routing_key=routing_key)
        channel.basic_consume(name, lambda _ch, _m, _p, body: arrivals.put((time.perf_counter(), body)),
                              auto_ack=True)
        ready.set()
        while True:
            connection.process_data_events(time_limit=1)

    threading.Thread(target=consume, daemon=True).start()
    ready.wait(10)
    connection = pika.BlockingConnection(pika.URLParameters(args.url))
    channel = connection.channel()
    channel.confirm_delivery()
    persistent = pika.BasicProperties(delivery_mode=pika.DeliveryMode.Persistent)
    latencies = []
    for _ in range(args.count):
        channel.basic_publish("amq.topic", routing_key, repr(time.perf_counter()).encode(), persistent)
        arrived, body = arrivals.get(timeout=10)
        latencies.append(arrived - float(body))
        time.sleep(0.002)
    connection.close()
    latencies.sort()

    def ms(p: float) -> str:
        return f"{latencies[min(len(latencies) - 1, int(len(latencies) * p / 100))] * 1000:.2f}"

    print(f"publish -> delivery through {args.url.split('@')[-1]}, bare pika, {args.count} messages: "
          f"p50 {ms(50)} ms, p90 {ms(90)} ms, p99 {ms(99)} ms")


if __name__ == "__main__":
    main()
