"""Faults of the bridge process and of its local side, end to end: SIGKILL of either
bridge, the local Redis target down, a spool that cannot be opened or written."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time


from ..redis_dbs import PrivateRedis
from .helpers import (
    BridgeProcess,
    broker_proxy,
    cluster_names,
    http_get,
    metric,
    record,
    redis_dbs,  # noqa: F401 (fixture)
    two_configs,
    wait_until,
)


def publish(redis_a, cluster: str, cache: str, keys) -> None:
    pipe = redis_a.pipeline(transaction=False)
    for key in keys:
        pipe.publish(f"local.{cluster}", json.dumps({"cache": cache, "keys": [key]}))
    assert all(pipe.execute()), "a is not subscribed"


def sigkill(bridge: BridgeProcess) -> None:
    bridge.process.send_signal(signal.SIGKILL)
    bridge.process.wait(10)


def test_b_killed_with_sigkill_catches_up_from_its_durable_subscription(tmp_path, amqp_url, topic_name, redis_url,
                                                                       redis_dbs, request):
    redis_a, redis_b = redis_dbs
    clusters = cluster_names(amqp_url, request)
    config_a, config_b = two_configs(tmp_path, amqp_url, topic_name, redis_url, clusters)
    keys = [f"k{n}" for n in range(2000)]
    redis_b.mset({f"C:{k}": "x" for k in keys})
    with BridgeProcess(config_a) as bridge_a:
        bridge_b = BridgeProcess(config_b).start()
        publish(redis_a, clusters[0], "C", keys[:1000])
        wait_until(lambda: metric(bridge_b, "cachesync_applied_keys_total") > 0, message="b applying")
        sigkill(bridge_b)  # mid-stream: whatever it had not acknowledged stays in its queue
        publish(redis_a, clusters[0], "C", keys[1000:])  # while b is dead
        wait_until(lambda: metric(bridge_a, "cachesync_published_keys_total") == len(keys), message="a published")
        with BridgeProcess(config_b) as bridge_b:
            wait_until(lambda: redis_b.dbsize() == 0, timeout=60, message="b caught up")
            flushes = metric(bridge_b, "cachesync_flushes_total")
    record("sigkill_b[amqp]", sent=len(keys), applied=len(keys), lost=0, flushes=int(flushes))


def test_a_killed_with_a_full_spool_sends_it_after_restart(tmp_path, amqp_url, topic_name, redis_url, redis_dbs,
                                                          request):
    redis_a, redis_b = redis_dbs
    clusters = cluster_names(amqp_url, request)
    proxy = broker_proxy(amqp_url, request)
    config_a, config_b = two_configs(tmp_path, amqp_url, topic_name, redis_url, clusters, broker_a=proxy.url(amqp_url))
    keys = [f"s{n}" for n in range(500)]
    redis_b.mset({f"C:{k}": "x" for k in keys})
    with BridgeProcess(config_b) as bridge_b:
        bridge_a = BridgeProcess(config_a).start()
        proxy.refuse()  # a loses the broker: it must spool
        bridge_a.wait_for_log("lost connection", timeout=10)
        publish(redis_a, clusters[0], "C", keys)
        wait_until(lambda: metric(bridge_a, "cachesync_spool_keys") == len(keys), message="a spooled all 500")
        spooled = metric(bridge_a, "cachesync_spool_depth")
        sigkill(bridge_a)
        assert redis_b.dbsize() == len(keys)  # nothing went out
        proxy.restore()
        with BridgeProcess(config_a):
            wait_until(lambda: redis_b.dbsize() == 0, timeout=30, message="b applies the spool a kept")
        flushes = metric(bridge_b, "cachesync_flushes_total")
    record("sigkill_a_with_spool[amqp]", sent=len(keys), spool_rows_at_kill=int(spooled), applied=len(keys), lost=0,
           flushes=int(flushes))


def test_local_target_down_holds_messages_until_applied(tmp_path, amqp_url, topic_name, redis_url, redis_dbs,
                                                        request):
    import redis

    redis_a, _ = redis_dbs
    clusters = cluster_names(amqp_url, request)
    private = PrivateRedis(tmp_path)
    private.start()
    request.addfinalizer(private.stop)
    config_a, config_b = two_configs(tmp_path, amqp_url, topic_name, redis_url, clusters)
    target_url = f'name = "redis-{clusters[1]}"\nurl = "{redis_url.rstrip("/")}/2"'
    assert target_url in config_b.read_text()
    config_b.write_text(config_b.read_text().replace(
        target_url, f'name = "redis-{clusters[1]}"\nurl = "redis://127.0.0.1:{private.port}/0"'))
    target = redis.Redis(port=private.port)
    keys = [f"d{n}" for n in range(100)]
    target.mset({f"C:{k}": "x" for k in keys})
    target.save()
    with BridgeProcess(config_a):
        bridge_b = BridgeProcess(config_b).start()
        health = f"http://{bridge_b.monitor_url}/healthz"
        private.stop()
        publish(redis_a, clusters[0], "C", keys)
        wait_until(lambda: http_get(health)[0] == 503, timeout=10, message="b unhealthy")
        report = json.loads(http_get(health)[1])
        wait_until(lambda: metric(bridge_b, "cachesync_apply_failures_total") >= 3, message="b retries")
        failures = metric(bridge_b, "cachesync_apply_failures_total")
        assert metric(bridge_b, "cachesync_applied_total") == 0
        sigkill(bridge_b)  # nothing was acknowledged: the broker still holds every message
        private.start()
        assert target.dbsize() == len(keys)
        with BridgeProcess(config_b) as bridge_b:
            wait_until(lambda: target.dbsize() == 0, timeout=30, message="applied once the target is back")
            assert http_get(f"http://{bridge_b.monitor_url}/healthz")[0] == 200
    target.close()
    assert any(problem.startswith(f"target redis-{clusters[1]}:") for problem in report["problems"]), report
    record("target_down[amqp]", sent=len(keys), applied=len(keys), lost=0, failed_attempts_before_kill=int(failures),
           health_while_down=503)


def test_a_spool_that_cannot_be_opened_stops_the_bridge_with_exit_2(tmp_path, amqp_url, topic_name, redis_url,
                                                                    request):
    clusters = cluster_names(amqp_url, request)
    config_a, _ = two_configs(tmp_path, amqp_url, topic_name, redis_url, clusters)
    (tmp_path / "not-a-dir").write_text("a file where the spool's directory should be")
    spool = tmp_path / "not-a-dir" / "spool.sqlite"
    config_a.write_text(config_a.read_text().replace(f'spool_path = "{tmp_path}/spool-{clusters[0]}.sqlite"',
                                                     f'spool_path = "{spool}"'))
    result = subprocess.run([sys.executable, "-m", "cachesync_cli", "run", "--config", str(config_a),
                             "--log-format", "text"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    assert f"cannot open the spool {spool}" in result.stderr
    assert "spool_path" in result.stderr  # the hint names the setting
    message = next(line for line in result.stderr.splitlines() if "cannot open the spool" in line)
    record("spool_unopenable", exit_status=result.returncode, message=message.replace(str(tmp_path), "TMP"))


def test_a_disk_that_refuses_spool_writes_holds_batches_in_memory(tmp_path, amqp_url, topic_name, redis_url,
                                                                  redis_dbs, request):
    """The spool's file may not grow past 64 KiB (RLIMIT_FSIZE: writes fail like on a full
    disk). a spools until the disk refuses, logs it, keeps the rest in memory, and sends
    everything once the broker is back."""
    redis_a, redis_b = redis_dbs
    clusters = cluster_names(amqp_url, request)
    proxy = broker_proxy(amqp_url, request)
    config_a, config_b = two_configs(tmp_path, amqp_url, topic_name, redis_url, clusters, broker_a=proxy.url(amqp_url))
    keys = [f"full-{n:05d}-{'x' * 40}" for n in range(3000)]
    redis_b.mset({f"C:{k}": "x" for k in keys})
    with BridgeProcess(config_b) as bridge_b:
        bridge_a = BridgeProcess(config_a, wrapper=["prlimit", f"--fsize={64 * 1024}", "--"]).start()
        proxy.refuse()
        bridge_a.wait_for_log("lost connection", timeout=10)
        for start in range(0, len(keys), 100):
            publish(redis_a, clusters[0], "C", keys[start:start + 100])
            time.sleep(0.05)
        line = bridge_a.wait_for_log("cannot write the spool", timeout=30)
        assert "holding the batch in memory" in line
        proxy.restore()
        wait_until(lambda: redis_b.dbsize() == 0, timeout=60, message="b applies spooled and held batches")
        spooled = metric(bridge_a, "cachesync_spooled_total")
        assert bridge_a.stop() == 0
    record("spool_disk_full[amqp]", sent=len(keys), applied=len(keys), lost=0, batches_spooled=int(spooled),
           error_logged=line.split(": ", 1)[-1].strip()[:120])
