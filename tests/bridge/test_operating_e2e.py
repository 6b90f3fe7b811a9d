"""Operating the bridge (issue 5), end to end with real processes on RabbitMQ:
health that follows a real Redis going down and up, metrics that count a scenario,
acknowledgements from every cluster, `status`, and rule files changed at run time."""

from __future__ import annotations

import json
import time

from ..cli.run import cachesync
from ..redis_dbs import PrivateRedis
from .processes import BridgePair, BridgeProcess, bridge_config, http_get, wait_until

DB_A, DB_B = 13, 14


def head(url: str) -> tuple[int, bytes]:
    """(status, body) of a HEAD request."""
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
    try:
        connection.request("HEAD", parts.path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in metrics")




def test_health_follows_a_target_going_down_and_up(tmp_path, amqp_url, topic_name, redis_url, clusters):
    private = PrivateRedis()
    private.start()
    extra = f'[[targets]]\ntype = "redis"\nname = "private"\nurl = "redis://127.0.0.1:{private.port}/0"\n'
    config = bridge_config(tmp_path, clusters[1], amqp_url, topic_name, redis_db=DB_B, redis_url=redis_url,
                           extra=extra)
    try:
        with BridgeProcess(config) as bridge:
            url = f"http://{bridge.monitor_url}/healthz"
            status, body = http_get(url)
            assert status == 200 and json.loads(body)["status"] == "ok", body
            assert head(url) == (200, b"")
            private.stop()
            wait_until(lambda: http_get(url)[0] == 503, timeout=10, message="unhealthy")
            assert head(url) == (503, b"")  # a load balancer's HEAD: the status, no body
            report = json.loads(http_get(url)[1])
            assert any(problem.startswith("target private:") for problem in report["problems"]), report
            assert report["targets"][f"redis-{clusters[1]}"] == "ok"
            private.start()
            wait_until(lambda: http_get(url)[0] == 200, timeout=10, message="healthy again")
    finally:
        private.stop()


def test_metrics_count_what_a_scenario_did(tmp_path, amqp_url, topic_name, redis_url, redis_dbs, clusters):
    redis_a, redis_b = redis_dbs
    config_a = bridge_config(tmp_path, clusters[0], amqp_url, topic_name, redis_db=DB_A, redis_url=redis_url)
    config_b = bridge_config(tmp_path, clusters[1], amqp_url, topic_name, redis_db=DB_B, redis_url=redis_url)
    redis_b.mset({f"C:k{n}": "x" for n in range(30)})
    with BridgeProcess(config_a) as bridge_a, BridgeProcess(config_b) as bridge_b:
        for n in range(30):
            redis_a.publish(f"local.{clusters[0]}", json.dumps({"cache": "C", "keys": [f"k{n}"]}))
        redis_a.publish(f"local.{clusters[0]}", "{not json")
        wait_until(lambda: redis_b.dbsize() == 0, message="b applies")
        wait_until(lambda: metric(http_get(f"http://{bridge_b.monitor_url}/metrics")[1],
                                  "cachesync_applied_keys_total") == 30, message="b's metrics")
        metrics_a = http_get(f"http://{bridge_a.monitor_url}/metrics")[1]
        metrics_b = http_get(f"http://{bridge_b.monitor_url}/metrics")[1]
    assert metric(metrics_a, "cachesync_local_received_total") == 30
    assert metric(metrics_a, "cachesync_published_keys_total") == 30
    assert 1 <= metric(metrics_a, "cachesync_published_messages_total") <= 30  # coalesced under load
    assert 'cachesync_local_rejected_total{reason="malformed"} 1.0' in metrics_a
    assert metric(metrics_b, "cachesync_applied_total") == metric(metrics_a, "cachesync_published_messages_total")
    assert "cachesync_gaps_total{" not in metrics_b  # a labelled counter with no sample: none
    assert metric(metrics_b, "cachesync_connected") == 1
    assert "cachesync_apply_seconds_bucket" in metrics_b
    assert f'cachesync_origin_lag_seconds{{origin="{clusters[0]}"}}' in metrics_b


def test_wait_acks_returns_when_both_applied_and_fails_when_one_is_stopped(tmp_path, amqp_url, topic_name,
                                                                         redis_url, redis_dbs, clusters):
    config_a = bridge_config(tmp_path, clusters[0], amqp_url, topic_name, redis_db=DB_A, redis_url=redis_url)
    config_b = bridge_config(tmp_path, clusters[1], amqp_url, topic_name, redis_db=DB_B, redis_url=redis_url)
    env = {"CACHESYNC_CLUSTER": "operator"}
    with BridgeProcess(config_a), BridgeProcess(config_b) as bridge_b:
        started = time.monotonic()
        ok = cachesync("invalidate", "C", "k1", "--wait-acks", "--discover", "2", "--json",
                       "--broker", amqp_url, "--topic", topic_name, env=env)
        assert ok.returncode == 0, ok.stderr
        outcome = json.loads(ok.stdout)
        assert outcome["acked"] == sorted(clusters) and outcome["not_acked"] == []
        assert time.monotonic() - started < 15
        status = cachesync("status", "--window", "2", "--json", "--broker", amqp_url, "--topic", topic_name)
        assert status.returncode == 0, status.stderr
        seen = {c["origin"]: c for c in json.loads(status.stdout)["clusters"]}
        assert set(seen) == set(clusters)
        assert seen[clusters[0]]["last_seen_seconds"] < 3
        assert bridge_b.stop() == 0
        failed = cachesync("invalidate", "C", "k2", "--wait-acks", "--expect", ",".join(clusters),
                           "--ack-timeout", "2", "--json", "--broker", amqp_url, "--topic", topic_name, env=env)
    assert failed.returncode == 1
    outcome = json.loads(failed.stdout)
    assert outcome["acked"] == [clusters[0]] and outcome["not_acked"] == [clusters[1]]
    assert f"NOT acknowledged by: {clusters[1]}" in failed.stderr


def test_rule_file_changes_what_is_synced_and_a_broken_one_changes_nothing(tmp_path, amqp_url, topic_name,
                                                                           redis_url, redis_dbs, clusters):
    redis_a, redis_b = redis_dbs
    rules = tmp_path / "cachesync.d"
    rules.mkdir()
    config_a = bridge_config(tmp_path, clusters[0], amqp_url, topic_name, redis_db=DB_A, redis_url=redis_url)
    config_b = bridge_config(tmp_path, clusters[1], amqp_url, topic_name, redis_db=DB_B, redis_url=redis_url)

    def invalidate(key: str) -> None:
        redis_b.set(f"Secret:{key}", "x")
        redis_b.set(f"Other:{key}", "x")
        for cache in ("Secret", "Other"):
            redis_a.publish(f"local.{clusters[0]}", json.dumps({"cache": cache, "keys": [key]}))
        wait_until(lambda: not redis_b.exists(f"Other:{key}"), message="b applies Other")

    # Both configs sit in tmp_path, so both bridges watch the same cachesync.d/ and the rules
    # apply on both sides (a blocks sending, b blocks applying): wait for both to reload.
    with BridgePair(config_a, config_b) as (bridge_a, bridge_b):

        def reloaded(needle: str) -> None:
            for bridge in (bridge_a, bridge_b):
                bridge.wait_for_log(needle, timeout=5)

        invalidate("k1")
        wait_until(lambda: not redis_b.exists("Secret:k1"), message="Secret synced before the rule")
        (rules / "10-block.toml").write_text('[sync]\nblock = ["Secret"]\n')
        reloaded("rule file 10-block.toml loaded")
        invalidate("k2")  # Secret's message went first, and b applied Other's: Secret's would be applied by now
        assert redis_b.exists("Secret:k2") == 1  # blocked now
        (rules / "20-broken.toml").write_text('[sync]\nblock = "not a list"\n')
        reloaded("rule file rejected")
        (rules / "10-block.toml").write_text('[sync]\nblock = [42]\n')  # the good file turns bad
        reloaded("its last good version stays")
        invalidate("k3")
        assert redis_b.exists("Secret:k3") == 1  # the last good rules stay
        (rules / "10-block.toml").unlink()
        reloaded("rule file 10-block.toml removed")
        invalidate("k4")
        wait_until(lambda: not redis_b.exists("Secret:k4"), message="Secret synced again")


def test_invalidate_run_in_a_cluster_reaches_that_cluster_too(tmp_path, amqp_url, topic_name, redis_url, redis_dbs,
                                                             clusters):
    """`cachesync invalidate ... -c east.toml` once skipped east: its message carried east's
    id and east's bridge skipped its own origin. Only what east's bridges publish is skipped."""
    redis_a, redis_b = redis_dbs
    config_a = bridge_config(tmp_path, clusters[0], amqp_url, topic_name, redis_db=DB_A, redis_url=redis_url)
    config_b = bridge_config(tmp_path, clusters[1], amqp_url, topic_name, redis_db=DB_B, redis_url=redis_url)
    with BridgeProcess(config_a), BridgeProcess(config_b):
        for client in (redis_a, redis_b):
            client.set("OAuthCache:tok-42", "x")
        done = cachesync("invalidate", "OAuthCache", "tok-42", "--wait-acks", "--discover", "2", "--json",
                         "--config", str(config_a))
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["acked"] == sorted(clusters)  # its own cluster's bridge too
        wait_until(lambda: not redis_a.exists("OAuthCache:tok-42") and not redis_b.exists("OAuthCache:tok-42"),
                   message="the key gone in both clusters")
        for client in (redis_a, redis_b):  # a's own bridge's invalidations are still echoes in a
            client.set("Local:k", "x")
        redis_a.publish(f"local.{clusters[0]}", json.dumps({"cache": "Local", "keys": ["k"]}))
        wait_until(lambda: not redis_b.exists("Local:k"), message="b applied a's invalidation")
        time.sleep(1.0)  # a received its echo at the same time
        assert redis_a.exists("Local:k")
