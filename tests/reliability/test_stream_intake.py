"""The redis-stream source end to end, with real bridges on RabbitMQ: what applications XADD
while a's bridge is stopped, killed, or cut from the broker reaches b; an entry is
acknowledged only once its invalidations are confirmed or spooled."""

from __future__ import annotations

import json
import threading
import time


from .helpers import (
    DB_A,
    BridgeProcess,
    broker_proxy,
    bridge_config,
    cluster_names,
    metric,
    record,
    redis_dbs,  # noqa: F401 (fixture)
    wait_until,
)
from .test_process_faults import sigkill

STREAM = "cachesync:invalidations"  # the default


def stream_configs(tmp_path, amqp_url, topic, redis_url, clusters, *, broker_a=None):
    """a reads the stream on its db as consumer "bridge-a"; b applies to its db."""
    a, b = clusters
    source = f'''
[[sources]]
type = "redis-stream"
url = "{redis_url.rstrip("/")}/{DB_A}"
consumer = "bridge-a"
'''
    return (bridge_config(tmp_path, a, broker_a or amqp_url, topic, redis_db=DB_A, redis_url=redis_url,
                          sources=source),
            bridge_config(tmp_path, b, amqp_url, topic, redis_db=2, redis_url=redis_url))


def xadd(app, keys, cache="C") -> None:
    pipe = app.pipeline(transaction=False)
    for key in keys:
        pipe.xadd(STREAM, {"m": json.dumps({"cache": cache, "keys": [key]})})
    pipe.execute()


def pending(app) -> int:
    groups = app.xinfo_groups(STREAM)
    return sum(g["pending"] for g in groups)


def test_entries_added_while_a_is_stopped_are_published_when_it_starts(tmp_path, amqp_url, topic_name, redis_url,
                                                                      redis_dbs, request):
    redis_a, redis_b = redis_dbs
    clusters = cluster_names(amqp_url, request)
    config_a, config_b = stream_configs(tmp_path, amqp_url, topic_name, redis_url, clusters)
    keys = [f"w{n}" for n in range(300)]
    redis_b.mset({f"C:{k}": "x" for k in keys})
    with BridgeProcess(config_b):
        xadd(redis_a, keys)  # no bridge a yet: the stream keeps them (group created at its start)
        with BridgeProcess(config_a) as bridge_a:
            wait_until(lambda: redis_b.dbsize() == 0, timeout=30, message="b applied every key")
            wait_until(lambda: pending(redis_a) == 0, timeout=10, message="a acknowledged every entry")
            assert metric(bridge_a, "cachesync_published_keys_total") == len(keys)


def test_a_killed_mid_stream_loses_nothing(tmp_path, amqp_url, topic_name, redis_url, redis_dbs, request):
    """An application XADDs 2,000 keys at about 400/s; a's bridge is SIGKILLed after about a
    second and restarted at once. Every key reaches b (with the redis-channel source, the
    same run left about 260 keys stale)."""
    redis_a, redis_b = redis_dbs
    clusters = cluster_names(amqp_url, request)
    config_a, config_b = stream_configs(tmp_path, amqp_url, topic_name, redis_url, clusters)
    keys = [f"kill-{n}" for n in range(2000)]
    redis_b.mset({f"C:{k}": "x" for k in keys})

    def application() -> None:
        for start in range(0, len(keys), 20):  # 20 every 50 ms: about 400 a second
            xadd(redis_a, keys[start:start + 20])
            time.sleep(0.05)

    with BridgeProcess(config_b) as bridge_b:
        bridge_a = BridgeProcess(config_a).start()
        writer = threading.Thread(target=application)
        writer.start()
        wait_until(lambda: metric(bridge_a, "cachesync_published_keys_total") >= 300, message="a publishing")
        published_before_kill = metric(bridge_a, "cachesync_published_keys_total")
        sigkill(bridge_a)
        pending_at_kill = pending(redis_a)
        with BridgeProcess(config_a):
            writer.join()
            try:
                wait_until(lambda: redis_b.dbsize() == 0, timeout=30, message="b applied every key")
            finally:
                stale = redis_b.dbsize()
            wait_until(lambda: pending(redis_a) == 0, timeout=10, message="every entry acknowledged")
        flushes = metric(bridge_b, "cachesync_flushes_total")
    record("sigkill_a_stream_source[amqp]", sent=len(keys), published_before_kill=int(published_before_kill),
           pending_at_kill=pending_at_kill, stale=stale, flushes=int(flushes))
    assert stale == 0


def test_entries_are_acknowledged_only_once_confirmed_or_spooled(tmp_path, amqp_url, topic_name, redis_url,
                                                                 redis_dbs, request):
    """With a's broker connection black-holed nothing is confirmed: the entries stay pending
    until the publishing thread gives up on the confirms (3 s) and spools them; then they
    are acknowledged, and sent once the broker is back."""
    redis_a, redis_b = redis_dbs
    clusters = cluster_names(amqp_url, request)
    proxy = broker_proxy(amqp_url, request)
    config_a, config_b = stream_configs(tmp_path, amqp_url, topic_name, redis_url, clusters,
                                        broker_a=proxy.url(amqp_url))
    keys = [f"held-{n}" for n in range(50)]
    redis_b.mset({f"C:{k}": "x" for k in keys})
    with BridgeProcess(config_b):
        with BridgeProcess(config_a) as bridge_a:
            proxy.blackhole()
            xadd(redis_a, keys)
            wait_until(lambda: pending(redis_a) == len(keys), timeout=2, interval=0.02,
                       message="every entry read and pending (not acknowledged)")
            assert metric(bridge_a, "cachesync_spool_keys") == 0
            wait_until(lambda: pending(redis_a) == 0, timeout=15, message="acknowledged once spooled")
            assert metric(bridge_a, "cachesync_spool_keys") == len(keys)
            assert redis_b.dbsize() == len(keys)  # nothing reached b
            proxy.restore()
            wait_until(lambda: redis_b.dbsize() == 0, timeout=30, message="b applied the spooled keys")


def test_a_killed_while_its_broker_hangs_publishes_what_it_had_read_after_restart(
        tmp_path, amqp_url, topic_name, redis_url, redis_dbs, request):
    """Entries read but neither confirmed nor spooled when a dies are not acknowledged: the
    restarted bridge reads them again from its pending list."""
    redis_a, redis_b = redis_dbs
    clusters = cluster_names(amqp_url, request)
    proxy = broker_proxy(amqp_url, request)
    config_a, config_b = stream_configs(tmp_path, amqp_url, topic_name, redis_url, clusters,
                                        broker_a=proxy.url(amqp_url))
    keys = [f"hung-{n}" for n in range(200)]
    redis_b.mset({f"C:{k}": "x" for k in keys})
    with BridgeProcess(config_b):
        bridge_a = BridgeProcess(config_a).start()
        proxy.blackhole()
        xadd(redis_a, keys)
        wait_until(lambda: pending(redis_a) == len(keys), timeout=2, interval=0.02, message="all read, none acked")
        sigkill(bridge_a)
        proxy.restore()
        assert redis_b.dbsize() == len(keys)
        with BridgeProcess(config_a):
            wait_until(lambda: redis_b.dbsize() == 0, timeout=30, message="b applied every key")
            wait_until(lambda: pending(redis_a) == 0, timeout=10, message="every entry acknowledged")


def test_entries_the_wso2_codec_cannot_carry_are_rejected_and_acknowledged(tmp_path, amqp_url, topic_name,
                                                                           redis_url, redis_dbs, request):
    redis_a, _ = redis_dbs
    clusters = cluster_names(amqp_url, request)
    config_a, _ = stream_configs(tmp_path, amqp_url, topic_name, redis_url, clusters)
    config_a.write_text(config_a.read_text() + '\n[codec]\nname = "wso2"\n')
    with BridgeProcess(config_a) as bridge_a:
        xadd(redis_a, ["no-manager"])  # the wso2 format needs the item's cache manager
        redis_a.xadd(STREAM, {"m": json.dumps({"manager": "M", "cache": "C", "keys": ["ok"]})})
        bridge_a.wait_for_log("rejected a local message (no-manager)")
        wait_until(lambda: metric(bridge_a, "cachesync_published_keys_total") == 1, message="the good one published")
        wait_until(lambda: pending(redis_a) == 0, timeout=5, message="both acknowledged")
