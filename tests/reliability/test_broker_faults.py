"""Faults of the broker and of the network, end to end: real `cachesync run` processes for
clusters a and b, real RabbitMQ and ActiveMQ, Redis dbs 1 (a) and 2 (b).

The accounting of "applied, or flushed": every key a invalidated must be deleted from b's
Redis by an invalidation b applied, or be covered by a gap flush b recorded after the key
was invalidated. Anything else is lost; lost must be 0.
"""

from __future__ import annotations

import json
import threading
import time

import pytest

from ..transport.brokers import restart_broker
from .helpers import (
    BridgeProcess,
    TcpProxy,
    broker_proxy,
    cluster_names,
    metric,
    record,
    redis_dbs,  # noqa: F401 (fixture)
    set_broker_options,
    two_configs,
    wait_until,
)
from ..transport.brokers import broker_kind
from cachesync_cli.transport.endpoint import parse_endpoint

TOTAL = 20_000


class AppliedLog:
    """What b applied, from a redis-channel target that re-broadcasts every invalidation b
    applies (gap flushes included) on a channel of its own."""

    def __init__(self, redis_client, channel: str) -> None:
        self.pubsub = redis_client.pubsub()
        self.pubsub.subscribe(channel)
        self.applied: dict[str, int] = {}  # key -> times applied
        self.flushes: list[float] = []  # when b flushed every cache (gap flush)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            message = self.pubsub.get_message(timeout=0.2)
            if not message or message["type"] != "message":
                continue
            for item in json.loads(message["data"])["items"]:
                if item.get("all"):
                    self.flushes.append(time.time())
                for key in item.get("keys", ()):
                    self.applied[key] = self.applied.get(key, 0) + 1

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.pubsub.close()


def applied_channel_target(redis_url: str, db: int, channel: str) -> str:
    return f'[[targets]]\ntype = "redis-channel"\nname = "applied-log"\nurl = "{redis_url.rstrip("/")}/{db}"\n' \
           f'channel = "{channel}"\n'


def publish_stream(redis_client, cluster: str, keys: list[str], seconds: float, sent_at: dict[str, float]) -> None:
    """Publish one local message per key on a's channel, spread over about `seconds`."""
    chunk = 250
    pause = seconds / (len(keys) / chunk)
    for start in range(0, len(keys), chunk):
        pipe = redis_client.pipeline(transaction=False)
        now = time.time()
        for key in keys[start:start + chunk]:
            pipe.publish(f"local.{cluster}", json.dumps({"cache": "TokenCache", "keys": [key]}))
            sent_at[key] = now
        assert all(pipe.execute()), "a is not subscribed to its channel"
        time.sleep(pause)


def account(keys, sent_at, redis_b, applied: AppliedLog) -> dict[str, int]:
    remaining = set(k.decode().split(":", 1)[1] for k in redis_b.keys("TokenCache:*"))
    applied_keys = {k for k in keys if applied.applied.get(k)}
    flushed = {k for k in keys if k not in applied_keys and any(f >= sent_at[k] for f in applied.flushes)}
    lost = {k for k in keys if k not in applied_keys and k not in flushed} | (remaining - flushed)
    return {"sent": len(keys), "applied": len(applied_keys), "flushed": len(flushed), "lost": len(lost),
            "applied_twice": sum(1 for k in applied_keys if applied.applied[k] > 1), "gap_flushes": len(applied.flushes)}


@pytest.fixture(params=["amqp", "activemq_stomp"])
def broker(request) -> str:
    return request.getfixturevalue(f"{request.param}_url")


def test_broker_restart_in_the_middle_of_20000_invalidations(tmp_path, broker, topic_name, redis_url, redis_dbs,
                                                             request):
    redis_a, redis_b = redis_dbs
    clusters = cluster_names(broker, request)
    channel = f"applied.{clusters[1]}"
    config_a, config_b = two_configs(tmp_path, broker, topic_name, redis_url, clusters,
                                     extra_b=applied_channel_target(redis_url, 2, channel))
    for config in (config_a, config_b):
        set_broker_options(config, heartbeat=2)
    keys = [f"k{n:05d}" for n in range(TOTAL)]
    redis_b.mset({f"TokenCache:{key}": "x" for key in keys})
    applied = AppliedLog(redis_b, channel)
    sent_at: dict[str, float] = {}
    started = time.monotonic()
    try:
        with BridgeProcess(config_a) as bridge_a, BridgeProcess(config_b) as bridge_b:
            stream = threading.Thread(target=publish_stream, args=(redis_a, clusters[0], keys, 6.0, sent_at))
            stream.start()
            time.sleep(1.5)  # about a quarter of the stream is out
            restart_started = time.monotonic()
            restart_broker(broker)
            restart_seconds = time.monotonic() - restart_started
            stream.join()
            wait_until(lambda: metric(bridge_a, "cachesync_connected") == 1
                       and metric(bridge_a, "cachesync_spool_depth") == 0, timeout=90,
                       message="a reconnected and sent its spool")
            wait_until(lambda: not redis_b.exists(*(f"TokenCache:{k}" for k in keys[-100:])) or applied.flushes,
                       timeout=90, message="b applied the end of the stream")
            wait_until(lambda: redis_b.dbsize() == 0, timeout=60, message="every key gone from b")
            time.sleep(1)  # the last re-broadcasts reach the applied log
            spooled = metric(bridge_a, "cachesync_spooled_total")
            reconnects = (metric(bridge_a, "cachesync_reconnects_total"), metric(bridge_b, "cachesync_reconnects_total"))
            duplicates = metric(bridge_b, "cachesync_duplicates_total")
            flushes_b = metric(bridge_b, "cachesync_flushes_total")
    finally:
        applied.close()
    figures = account(keys, sent_at, redis_b, applied)
    figures.update(broker=broker_kind(broker), restart_seconds=round(restart_seconds, 1), batches_spooled=int(spooled),
                   reconnects_a=int(reconnects[0]), reconnects_b=int(reconnects[1]), duplicates_dropped=int(duplicates),
                   flushes_recorded_by_b=int(flushes_b), seconds=round(time.monotonic() - started, 1))
    record(f"broker_restart[{broker_kind(broker)}]", **figures)
    assert figures["lost"] == 0, figures
    assert figures["flushed"] == 0 or flushes_b > 0, figures
    assert reconnects[0] >= 1 and reconnects[1] >= 1, figures


def test_a_silent_network_cut_is_noticed_by_heartbeats(tmp_path, amqp_url, topic_name, redis_url, redis_dbs, request):
    """A black hole between both bridges and RabbitMQ: no FIN, no RST, bytes just vanish."""
    redis_a, redis_b = redis_dbs
    clusters = cluster_names(amqp_url, request)
    proxy = broker_proxy(amqp_url, request)
    config_a, config_b = two_configs(tmp_path, proxy.url(amqp_url), topic_name, redis_url, clusters)
    for config in (config_a, config_b):
        set_broker_options(config, heartbeat=1)
    keys = [f"cut-{n}" for n in range(300)]
    redis_b.mset({f"C:{k}": "x" for k in keys})

    def publish(batch):
        for key in batch:
            redis_a.publish(f"local.{clusters[0]}", json.dumps({"cache": "C", "keys": [key]}))

    with BridgeProcess(config_a) as bridge_a, BridgeProcess(config_b) as bridge_b:
        publish(keys[:100])
        wait_until(lambda: redis_b.exists(*(f"C:{k}" for k in keys[:100])) == 0, message="before the cut")
        proxy.blackhole()
        cut = time.monotonic()
        publish(keys[100:200])  # during the outage: a must spool them
        bridge_a.wait_for_log("lost connection", timeout=20)
        noticed_a = time.monotonic() - cut
        bridge_b.wait_for_log("lost connection", timeout=20)
        noticed_b = time.monotonic() - cut
        wait_until(lambda: metric(bridge_a, "cachesync_spool_depth") > 0, timeout=10, message="a spools")
        publish(keys[200:])
        time.sleep(1)
        proxy.restore()
        restored = time.monotonic()
        wait_until(lambda: redis_b.exists(*(f"C:{k}" for k in keys)) == 0, timeout=60,
                   message="everything sent during the outage applied")
        caught_up = time.monotonic() - restored
        flushes = metric(bridge_b, "cachesync_flushes_total")
        spooled = metric(bridge_a, "cachesync_spooled_total")
    record("network_blackhole[amqp]", sent=len(keys), applied=len(keys), lost=0, heartbeat_seconds=1,
           a_noticed_after_s=round(noticed_a, 1), b_noticed_after_s=round(noticed_b, 1),
           caught_up_after_restore_s=round(caught_up, 1), batches_spooled=int(spooled), flushes=int(flushes))
    assert noticed_a < 15 and noticed_b < 15  # heartbeat 1 s: noticed in seconds, not TCP's minutes


def test_failover_to_the_second_url_and_back(tmp_path, amqp_url, topic_name, redis_url, redis_dbs, request):
    """Two broker URLs (two proxies to one RabbitMQ): the first dead at start, then the second."""
    redis_a, redis_b = redis_dbs
    clusters = cluster_names(amqp_url, request)
    endpoint = parse_endpoint(amqp_url)
    first, second = TcpProxy((endpoint.host, endpoint.port)), TcpProxy((endpoint.host, endpoint.port))
    request.addfinalizer(first.close)
    request.addfinalizer(second.close)
    first.refuse()
    urls = json.dumps([first.url(amqp_url), second.url(amqp_url)])
    config_a, config_b = two_configs(tmp_path, "PLACEHOLDER", topic_name, redis_url, clusters)
    for config in (config_a, config_b):
        config.write_text(config.read_text().replace('url = "PLACEHOLDER"', f"url = {urls}"))
        set_broker_options(config, heartbeat=2)
    keys = [f"f{n}" for n in range(400)]
    redis_b.mset({f"C:{k}": "x" for k in keys})

    def publish(batch):
        for key in batch:
            redis_a.publish(f"local.{clusters[0]}", json.dumps({"cache": "C", "keys": [key]}))

    with BridgeProcess(config_a) as bridge_a, BridgeProcess(config_b) as bridge_b:
        assert f":{second.port}" in bridge_b.wait_for_log(" running on ")
        publish(keys[:200])
        wait_until(lambda: redis_b.exists(*(f"C:{k}" for k in keys[:200])) == 0, message="applied via the second")
        first.restore()
        second.refuse()
        publish(keys[200:300])  # while both bridges fail over
        wait_until(lambda: f":{first.port}" in "".join(line for line in bridge_b.log if "reconnected to" in line),
                   timeout=30, message="b back on the first URL")
        bridge_a.wait_for_log(f"reconnected to amqp://guest:***@127.0.0.1:{first.port}", timeout=30)
        publish(keys[300:])
        wait_until(lambda: redis_b.exists(*(f"C:{k}" for k in keys)) == 0, timeout=60, message="all 400 applied")
        applied_keys = metric(bridge_b, "cachesync_applied_keys_total")
        duplicates = metric(bridge_b, "cachesync_duplicates_total")
        flushes = metric(bridge_b, "cachesync_flushes_total")
    record("failover[amqp]", sent=len(keys), applied=len(keys), lost=0, keys_applied_total=int(applied_keys),
           reapplied_keys=int(applied_keys) - len(keys), duplicates_dropped=int(duplicates), flushes=int(flushes))
    assert applied_keys >= len(keys)
    assert flushes == 0  # nothing was lost, so nothing had to be flushed
