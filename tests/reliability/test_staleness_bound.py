"""The staleness bound end to end, with real bridges on RabbitMQ: intake gaps announced on
start, after a crash and after a source's Redis outage; a silent cluster flushed within
max_silence and again while it lasts; fencing of the cluster that is cut off; `retire`;
the watched clusters kept over a restart. Each test uses small bounds (max_silence 2-3 s,
heartbeats every 0.5 s) so that it takes seconds."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time


from ..bridge.processes import bridge_config
from ..redis_dbs import PrivateRedis
from .helpers import (
    DB_A,
    DB_B,
    BridgePair,
    BridgeProcess,
    broker_proxy,
    cluster_names,
    http_get,
    metric,
    record,
    redis_dbs,  # noqa: F401 (fixture)
    wait_until,
)

BOUND = '\nmax_silence = {silence}\nheartbeat_interval = 0.5\non_silence = ["flush", "fence"]\n'


def config(tmp_path, cluster, broker, topic, redis_url, db, *, silence=2.0, sources=None, silence_flush="[]"):
    """A bridge with the small bound. Its gap_flush names a cache no test uses: silence and
    intake gaps flush `silence_flush` (empty: every cache), never the gap policy's caches."""
    path = bridge_config(tmp_path, cluster, broker, topic, redis_db=db, redis_url=redis_url, heartbeat=0.5,
                         sources=sources, silence_flush=silence_flush)
    path.write_text(path.read_text().replace("heartbeat_interval = 0.5\n", BOUND.format(silence=silence)
                                             + 'gap_flush = ["GapOnly"]\n'))
    return path


def sigkill(bridge: BridgeProcess) -> None:
    bridge.process.send_signal(signal.SIGKILL)
    bridge.process.wait(10)


def fresh(bridge: BridgeProcess) -> tuple[int, dict]:
    status, body = http_get(f"http://{bridge.monitor_url}/fresh")
    return status, json.loads(body)


def test_every_start_of_a_channel_bridge_is_an_intake_gap_and_a_crash_is_told_apart(
        tmp_path, amqp_url, topic_name, redis_url, redis_dbs, request):
    redis_a, redis_b = redis_dbs
    a, b = cluster_names(amqp_url, request)
    config_a = config(tmp_path, a, amqp_url, topic_name, redis_url, DB_A)
    config_b = config(tmp_path, b, amqp_url, topic_name, redis_url, DB_B, silence=0)
    with BridgeProcess(config_b) as bridge_b:
        redis_b.set("Token:cached-before-a-started", "x")
        bridge_a = BridgeProcess(config_a).start()  # first deployment: nobody listened on a's channel before
        wait_until(lambda: not redis_b.exists("Token:cached-before-a-started"), message="b flushed for a's start")
        bridge_b.wait_for_log(f"intake gap in {a} (start of")
        assert bridge_a.stop() == 0
        redis_b.set("Token:cached-while-a-was-stopped", "x")
        redis_a.publish(f"local.{a}", json.dumps({"cache": "Token", "keys": ["lost"]}))  # nobody listens: lost
        bridge_a = BridgeProcess(config_a).start()
        wait_until(lambda: not redis_b.exists("Token:cached-while-a-was-stopped"), message="b flushed again")
        sigkill(bridge_a)
        redis_b.set("Token:cached-after-the-crash", "x")
        bridge_a = BridgeProcess(config_a).start()
        bridge_a.wait_for_log("did not stop cleanly")
        bridge_b.wait_for_log(f"intake gap in {a} (crash of")
        wait_until(lambda: not redis_b.exists("Token:cached-after-the-crash"), message="b flushed after the crash")
        assert metric(bridge_b, "cachesync_intake_gaps_total") == 3
        assert metric(bridge_b, "cachesync_flushes_total") == 0  # sequence gaps are counted apart: none here
        bridge_a.stop()
    record("intake_gaps_on_start[amqp]", starts=2, crashes=1, announced=3, flushed=3)


def test_a_local_redis_outage_is_announced_and_the_bridge_stops_vouching(
        tmp_path, amqp_url, topic_name, redis_url, redis_dbs, request):
    redis_a, redis_b = redis_dbs
    a, b = cluster_names(amqp_url, request)
    local = PrivateRedis()
    local.start()
    request.addfinalizer(local.stop)
    sources = f'\n[[sources]]\ntype = "redis-channel"\nurl = "redis://127.0.0.1:{local.port}/0"\nchannel = "app"\n'
    config_a = config(tmp_path, a, amqp_url, topic_name, redis_url, DB_A, sources=sources)
    config_b = config(tmp_path, b, amqp_url, topic_name, redis_url, DB_B, silence=2.0)
    with BridgeProcess(config_b) as bridge_b, BridgeProcess(config_a) as bridge_a:
        wait_until(lambda: metric(bridge_b, "cachesync_intake_gaps_total") == 1, message="a's start announced")
        redis_b.set("Token:t1", "x")
        local.stop()  # a's application bus is gone: a's bridge no longer vouches for a
        wait_until(lambda: metric(bridge_a, "cachesync_intake_working") == 0, message="a says its intake is down")
        wait_until(lambda: metric(bridge_b, "cachesync_silence_flushes_total") >= 1, timeout=10,
                   message="b flushed: a's heartbeats no longer vouch")
        assert not redis_b.exists("Token:t1")
        local.start()
        wait_until(lambda: metric(bridge_b, "cachesync_intake_gaps_total") == 2, timeout=20,
                   message="a announced the outage as an intake gap")
        bridge_b.wait_for_log("(reconnect of")
        silence_flushes = metric(bridge_b, "cachesync_silence_flushes_total")
    record("local_redis_outage[amqp]", silence_flushes=int(silence_flushes), intake_gaps=2)


def test_a_cut_off_cluster_is_flushed_within_the_bound_again_while_it_lasts_and_fences_itself(
        tmp_path, amqp_url, topic_name, redis_url, redis_dbs, request):
    redis_a, redis_b = redis_dbs
    a, b = cluster_names(amqp_url, request)
    proxy = broker_proxy(amqp_url, request)
    silence = 2.0
    config_a = config(tmp_path, a, proxy.url(amqp_url), topic_name, redis_url, DB_A, silence=silence)
    config_b = config(tmp_path, b, amqp_url, topic_name, redis_url, DB_B, silence=silence)
    with BridgePair(config_b, config_a) as (bridge_b, bridge_a):
        wait_until(lambda: fresh(bridge_a)[1]["watched"] == [b] and fresh(bridge_b)[1]["watched"] == [a],
                   message="both watch each other")
        time.sleep(silence + 1.0)  # no fault: no silence flush (one would come after max_silence), both fresh
        assert metric(bridge_a, "cachesync_silence_flushes_total") == metric(bridge_b,
                                                                             "cachesync_silence_flushes_total") == 0
        assert fresh(bridge_a) == (200, fresh(bridge_a)[1]) and fresh(bridge_a)[1]["fresh"]
        redis_a.set("Token:revoked-in-b", "x")
        redis_b.set("Token:revoked-in-a", "x")
        proxy.refuse()  # a's path to the broker is cut
        cut = time.monotonic()
        redis_b.delete("Token:revoked-in-b")  # b's application revokes: a cannot hear it
        redis_b.publish(f"local.{b}", json.dumps({"cache": "Token", "keys": ["revoked-in-b"]}))
        wait_until(lambda: not redis_a.exists("Token:revoked-in-b"), timeout=3 * silence, message="a flushed")
        stale_a = time.monotonic() - cut
        wait_until(lambda: not redis_b.exists("Token:revoked-in-a"), timeout=3 * silence, message="b flushed")
        recached = time.monotonic()
        redis_a.set("Token:cached-again", "x")  # a's application caches again mid-cut
        wait_until(lambda: not redis_a.exists("Token:cached-again"), timeout=3 * silence,
                   message="a flushed again while the cut lasts")
        survived = time.monotonic() - recached
        status_a, body_a = fresh(bridge_a)
        status_b, body_b = fresh(bridge_b)
        assert (status_a, body_a["fenced"], body_a["own_path"]) == (503, True, False), body_a  # a is cut off
        assert (status_b, body_b["fenced"], body_b["fresh"]) == (200, False, False), body_b  # b is not
        proxy.restore()
        wait_until(lambda: fresh(bridge_a)[0] == 200 and fresh(bridge_a)[1]["fresh"], timeout=15,
                   message="a fresh again after the cut")
        wait_until(lambda: fresh(bridge_b)[1]["fresh"], timeout=15, message="b fresh again")
        wait_until(lambda: redis_a.exists("Token:revoked-in-b") == 0, message="b's invalidation applied in a")
    bound = silence + 1.0  # detection within one heartbeat + the check interval, then the flush
    assert stale_a <= bound and survived <= bound, (stale_a, survived)
    record("cut_a_flushes_and_fences[amqp]", max_silence=silence, revoked_readable_s=round(stale_a, 2),
           recached_survived_s=round(survived, 2))


def test_retired_cluster_is_no_longer_watched_and_the_watched_set_survives_a_restart(
        tmp_path, amqp_url, topic_name, redis_url, redis_dbs, request):
    redis_a, redis_b = redis_dbs
    a, b = cluster_names(amqp_url, request)
    config_a = config(tmp_path, a, amqp_url, topic_name, redis_url, DB_A)
    config_b = config(tmp_path, b, amqp_url, topic_name, redis_url, DB_B, silence=2.0)
    with BridgeProcess(config_b) as bridge_b:
        with BridgeProcess(config_a):
            wait_until(lambda: metric(bridge_b, "cachesync_intake_gaps_total") >= 1, message="b watches a")
        assert bridge_b.stop() == 0  # b restarted while a is away: it still watches a (state file)
    state = json.loads((tmp_path / f"state-{b}.json").read_text())
    assert a in state["watched"] and state["running"] is False
    with BridgeProcess(config_b) as bridge_b:
        wait_until(lambda: metric(bridge_b, "cachesync_silence_flushes_total") >= 1, timeout=10,
                   message="b flushes for the silent a after its restart")
        result = subprocess.run([sys.executable, "-m", "cachesync_cli", "retire", a, "--config", str(config_b)],
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        assert f"retired {a}" in result.stderr
        bridge_b.wait_for_log(f"retired {a}")
        flushes = metric(bridge_b, "cachesync_silence_flushes_total")
        time.sleep(2.0 + 1.0)  # more than max_silence (flushes repeat every 2 s while a is silent): none for a
        assert metric(bridge_b, "cachesync_silence_flushes_total") == flushes
        _, body = fresh(bridge_b)
        assert body["watched"] == [] and body["fresh"]
    state = json.loads((tmp_path / f"state-{b}.json").read_text())
    assert a in state["retired"] and a not in state["watched"]
