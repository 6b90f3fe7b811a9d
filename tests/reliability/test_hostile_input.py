"""Hostile input at the topic, end to end: a foreign client (raw pika, anyone holding the
topic's credentials) publishes garbage, forgeries, replays and floods of `all` while real
bridges run. The bridge stays up, applies none of it, counts each by reason, and keeps
applying the real invalidations in between."""

from __future__ import annotations

import json
import os
import random
import secrets
import threading
import time

import pytest

from cachesync_cli.publisher import Publisher
from cachesync_cli.wire import Item, Keyring

from .helpers import (
    BridgeProcess,
    cluster_names,
    metrics,
    metric,
    record,
    redis_dbs,  # noqa: F401 (fixture)
    two_configs,
    wait_until,
)

KEY_NEW, KEY_OLD = secrets.token_hex(16), secrets.token_hex(16)
SIGNING = '''
[signing]
key_id = "k-new"
require = true
previous = { "k-old" = "env:TEST_OLD_SIGNING_KEY" }
'''
ENV = {"CACHESYNC_SIGNING_KEY": KEY_NEW, "TEST_OLD_SIGNING_KEY": KEY_OLD}


class ForeignClient:
    """A plain AMQP client publishing raw bodies on the topic."""

    def __init__(self, amqp_url: str, topic: str) -> None:
        import pika

        self.pika = pika
        self.topic = topic
        self.connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
        self.channel = self.connection.channel()

    def publish(self, body: bytes, headers: dict | None = None) -> None:
        properties = self.pika.BasicProperties(content_type="application/json", headers=headers or None)
        self.channel.basic_publish("amq.topic", self.topic, body, properties)

    def close(self) -> None:
        self.connection.close()


def signed(publisher: Publisher, items) -> bytes:
    return publisher.envelope_message(publisher.build(items)).body


def hostile_messages(rng: random.Random) -> list[tuple[str, bytes]]:
    """10,000 messages that must all be rejected, with the reason each must be counted under."""
    victim = (Item("Victim", ("v1",)),)
    forger = Publisher("t", origin="mallory", node="mallory/1", keyring=Keyring("k-new", {"k-new": b"guessed"}))
    stranger = Publisher("t", origin="mallory", node="mallory/2", keyring=Keyring("k-evil", {"k-evil": b"x"}))
    unsigned = Publisher("t", origin="mallory", node="mallory/3")
    out: list[tuple[str, bytes]] = []
    out += [("malformed", b"\xff" + rng.randbytes(rng.randint(0, 300))) for _ in range(2000)]
    out += [("malformed", b'{"v": 1, "type": "invalidate", ' + rng.randbytes(20)) for _ in range(500)]
    out += [("oversized", b'{"v":1,"pad":"' + b"x" * (1024 * 1024) + b'"}') for _ in range(20)]
    for _ in range(2480):
        body = json.loads(signed(unsigned, victim))
        body["v"] = rng.choice([0, 2, 99, "1"])
        out.append(("version", json.dumps(body).encode()))
    out += [("bad_signature", signed(forger, victim)) for _ in range(2000)]
    out += [("unknown_key", signed(stranger, victim)) for _ in range(1000)]
    out += [("unsigned", signed(unsigned, victim)) for _ in range(2000)]
    rng.shuffle(out)
    return out


def test_10000_hostile_messages_are_counted_and_real_ones_still_applied(tmp_path, amqp_url, topic_name, redis_url,
                                                                        redis_dbs, request):
    redis_a, redis_b = redis_dbs
    clusters = cluster_names(amqp_url, request)
    config_a, config_b = two_configs(tmp_path, amqp_url, topic_name, redis_url, clusters, extra_a=SIGNING,
                                     extra_b=SIGNING)
    rng = random.Random(10)
    hostile = hostile_messages(rng)
    expected = {}
    for reason, _ in hostile:
        expected[reason] = expected.get(reason, 0) + 1
    real = [f"r{n}" for n in range(100)]
    redis_b.mset({"Victim:v1": "x", **{f"Real:{k}": "x" for k in real}})
    foreign = ForeignClient(amqp_url, topic_name)
    request.addfinalizer(foreign.close)
    started = time.monotonic()
    with BridgeProcess(config_a, env=ENV), BridgeProcess(config_b, env=ENV) as bridge_b:
        for index, (_, body) in enumerate(hostile):
            foreign.publish(body)
            if index % 100 == 0:
                redis_a.publish(f"local.{clusters[0]}", json.dumps({"cache": "Real", "keys": [real[index // 100]]}))
        wait_until(lambda: redis_b.exists(*(f"Real:{k}" for k in real)) == 0, timeout=60,
                   message="b applies the 100 real invalidations")
        wait_until(lambda: metric(bridge_b, "cachesync_rejected_total") == len(hostile), timeout=60,
                   message="b rejected all 10,000")
        samples = metrics(bridge_b)
        assert bridge_b.process.poll() is None
    rejected = {k.split('"')[1]: int(v) for k, v in samples.items() if k.startswith("cachesync_rejected_total{")}
    record("hostile_10000[amqp]", hostile_sent=len(hostile), rejected_by_reason=rejected, real_sent=len(real),
           real_applied=len(real), hostile_applied=0, seconds=round(time.monotonic() - started, 1))
    assert rejected == expected
    assert redis_b.exists("Victim:v1") == 1  # none of them applied
    assert samples["cachesync_applied_total"] == samples.get("cachesync_applied_total", 0)
    assert "rejected a message" in bridge_b.text


def test_replays_apply_once_and_rotated_keys_are_accepted(tmp_path, amqp_url, topic_name, redis_url, redis_dbs,
                                                          request):
    _, redis_b = redis_dbs
    clusters = cluster_names(amqp_url, request)
    _, config_b = two_configs(tmp_path, amqp_url, topic_name, redis_url, clusters, extra_b=SIGNING)
    foreign = ForeignClient(amqp_url, topic_name)
    request.addfinalizer(foreign.close)
    old_sender = Publisher(topic_name, origin="x", node="x/old", keyring=Keyring("k-old", {"k-old": KEY_OLD.encode()}))
    new_sender = Publisher(topic_name, origin="x", node="x/new", keyring=Keyring("k-new", {"k-new": KEY_NEW.encode()}))
    with BridgeProcess(config_b, env=ENV) as bridge_b:
        redis_b.set("C:replayed", "x")
        original = signed(new_sender, (Item("C", ("replayed",)),))
        foreign.publish(original)
        wait_until(lambda: not redis_b.exists("C:replayed"), message="the original applied")
        redis_b.set("C:replayed", "fresh")  # a replay would delete it again
        for _ in range(5):
            foreign.publish(original)
        wait_until(lambda: metric(bridge_b, "cachesync_duplicates_total") == 5, message="5 replays dropped")
        assert redis_b.get("C:replayed") == b"fresh"
        redis_b.set("C:old", "x")
        redis_b.set("C:new", "x")
        foreign.publish(signed(old_sender, (Item("C", ("old",)),)))  # a sender not rotated yet
        foreign.publish(signed(new_sender, (Item("C", ("new",)),)))
        wait_until(lambda: redis_b.exists("C:old", "C:new") == 0, message="both keys accepted")
        samples = metrics(bridge_b)
    record("signing_replay_rotation[amqp]", replays_sent=5, replays_applied=0,
           duplicates_dropped=int(samples["cachesync_duplicates_total"]), old_key_applied=1, new_key_applied=1)
    assert samples["cachesync_applied_total"] == 3
    assert not any(k.startswith("cachesync_rejected_total{") for k in samples)


def test_a_flood_of_all_is_rate_limited_and_coalesced(tmp_path, amqp_url, topic_name, redis_url, redis_dbs, request):
    _, redis_b = redis_dbs
    clusters = cluster_names(amqp_url, request)
    channel = f"applied.{clusters[1]}"
    extra = f'''
[[targets]]
type = "redis-channel"
name = "applied-log"
url = "{redis_url.rstrip('/')}/2"
channel = "{channel}"
'''
    _, config_b = two_configs(tmp_path, amqp_url, topic_name, redis_url, clusters, extra_b=extra)
    config_b.write_text(config_b.read_text().replace("[sync]\n", "[sync]\nall_rate = 5\nall_burst = 5\n"))
    foreign = ForeignClient(amqp_url, topic_name)
    request.addfinalizer(foreign.close)
    attacker = Publisher(topic_name, origin="attacker", node="attacker/1")
    flushes: list[dict] = []
    pubsub = redis_b.pubsub()
    pubsub.subscribe(channel)
    stop = threading.Event()

    def listen():
        while not stop.is_set():
            message = pubsub.get_message(timeout=0.2)
            if message and message["type"] == "message":
                flushes.append(json.loads(message["data"]))

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    flood = 500
    try:
        with BridgeProcess(config_b) as bridge_b:
            started = time.monotonic()
            for n in range(flood):
                if n == flood - 1:
                    redis_b.set("Flood:late", "x")  # only the last `all` can remove it
                    redis_b.set("Other:k", "x")
                    foreign.publish(signed(attacker, (Item("Other", ("k",)),)))
                foreign.publish(signed(attacker, (Item("Flood", all=True),)))
            flood_seconds = time.monotonic() - started
            wait_until(lambda: not redis_b.exists("Other:k"), timeout=10, message="keys still applied during the flood")
            wait_until(lambda: not redis_b.exists("Flood:late"), timeout=30, message="the last `all` applied")
            wait_until(lambda: metric(bridge_b, "cachesync_applied_total") >= flood + 1, timeout=30,
                       message="every held message applied")
            elapsed = time.monotonic() - started
            limited = metric(bridge_b, "cachesync_all_limited_total")
            bridge_b.wait_for_log("`all` invalidations from attacker exceed 5/s")
            time.sleep(0.5)
    finally:
        stop.set()
        listener.join(2)
        pubsub.close()
    applied_alls = sum(1 for f in flushes for item in f["items"] if item.get("all"))
    record("all_flood[amqp]", all_sent=flood, flushes_applied=applied_alls, messages_limited=int(limited),
           rate=5, burst=5, flood_seconds=round(flood_seconds, 2), seconds_until_all_acknowledged=round(elapsed, 1))
    assert limited > 0
    assert applied_alls <= 5 + 5 * elapsed + 2, (applied_alls, elapsed)
    assert applied_alls < flood / 5
