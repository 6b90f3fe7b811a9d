"""The sending bridge's cost per local message, without a broker: Redis channel -> the
real `redis-channel` source (read, strict JSON, validation) -> the outgoing queue.

    .venv/bin/python benchmarks/local_source.py [--messages 200000] [--keys 1] [--redis URL]

Publishes the messages first (the source is subscribed but held at the first one, so
Redis buffers the rest on its connection), then times how long the source takes to hand
every one on, and the CPU the process used meanwhile (the source's thread alone: the
main thread waits). This is the path that caps `cachesync bench` with one
key per local message (docs/performance.md). Repeat runs and quote the median.
"""

from __future__ import annotations

import argparse
import json
import queue
import secrets
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cachesync_cli.local.base import EchoGuard, LocalContext  # noqa: E402
from cachesync_cli.entries import build_source  # noqa: E402


def run_once(redis_url: str, messages: int, keys: int) -> tuple[float, float]:
    """(messages/s, CPU µs per message) of one run."""
    import redis

    channel = f"bench.local.{secrets.token_hex(4)}"
    context = LocalContext(cluster="bench", echo_guard=EchoGuard(), environ={})
    source = build_source({"type": "redis-channel", "name": "bench", "url": redis_url, "channel": channel}, context)
    received: queue.SimpleQueue = queue.SimpleQueue()
    rejected: list[str] = []
    released = threading.Event()

    def emit(message) -> None:
        released.wait()  # held at the first message until every message is published
        received.put(message)

    source.start(emit, lambda reason, detail: rejected.append(reason))
    client = redis.Redis.from_url(redis_url)
    bodies = [json.dumps({"cache": "BenchCache", "keys": [f"k{n}-{j}" for j in range(keys)]}).encode()
              for n in range(messages)]
    pipe = client.pipeline(transaction=False)
    for n, body in enumerate(bodies, 1):
        pipe.publish(channel, body)
        if n % 1000 == 0:
            pipe.execute()
    pipe.execute()
    cpu_start, started = time.process_time(), time.perf_counter()
    released.set()
    for _ in range(messages):
        received.get(timeout=60)
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_start
    source.stop()
    client.close()
    if rejected:
        raise SystemExit(f"{len(rejected)} messages rejected: {rejected[:3]}")
    return messages / elapsed, cpu / messages * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--keys", type=int, default=1, help="keys per local message")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/9")
    args = parser.parse_args()
    rates, costs = [], []
    for _ in range(args.runs):
        rate, cost = run_once(args.redis, args.messages, args.keys)
        rates.append(rate)
        costs.append(cost)
        print(f"  {rate:,.0f} messages/s, {cost:.1f} µs CPU per message", flush=True)
    print(f"median of {args.runs}: {statistics.median(rates):,.0f} messages/s, "
          f"{statistics.median(costs):.1f} µs CPU per message ({args.keys} key(s) each)")


if __name__ == "__main__":
    main()
