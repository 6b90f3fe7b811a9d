"""Two bridges with one cluster id (issue 16, item 4), as real processes on RabbitMQ.

On AMQP they would share the durable queue (competing consumers: each misses messages,
sees gaps and flushes every cache): the second refuses to start. Where the transport
cannot tell at start (here the second bridge comes in over RabbitMQ's STOMP), the running
bridge hears the other node's heartbeats: it logs an ERROR, counts it and says so in
/healthz; `status` and `doctor --peers` show the two nodes of one cluster id."""

from __future__ import annotations

import json
import secrets
import time

import pytest

from ..cli.run import cachesync
from ..doctor.helpers import check, doctor
from ..redis_dbs import flushed_dbs
from ..transport.brokers import delete_bridge_queue
from .processes import BridgeProcess, bridge_config, http_get

DB = 12


@pytest.fixture
def cluster(amqp_url, redis_url, topic_name):
    name = f"dup-{secrets.token_hex(3)}"
    with flushed_dbs(redis_url, DB):
        yield name
    delete_bridge_queue(amqp_url, name, topic_name)


def test_a_second_bridge_with_the_same_cluster_id_refuses_to_start(tmp_path, amqp_url, topic_name, redis_url,
                                                                  cluster):
    config = bridge_config(tmp_path, cluster, amqp_url, topic_name, redis_db=DB, redis_url=redis_url)
    with BridgeProcess(config) as first:
        second = cachesync("run", "--config", str(config), timeout=30)
        assert second.returncode == 2, second.stderr
        assert f"another bridge with cluster id '{cluster}' is running" in second.stderr
        assert "already has 1 consumer(s)" in second.stderr
        assert "give this one its own [cluster] id" in second.stderr
        assert first.process.poll() is None
    with BridgeProcess(config) as restarted:  # after a clean stop: no duplicate (its last heartbeats wait queued)
        time.sleep(1.5)  # the first run's queued heartbeats (stopping, and sent before this start) are taken
    assert "another bridge runs with cluster id" not in restarted.text


def test_a_running_duplicate_is_logged_counted_and_shown_by_status_and_doctor(tmp_path, amqp_url, rabbit_stomp_url,
                                                                              topic_name, redis_url, cluster):
    config = bridge_config(tmp_path, cluster, amqp_url, topic_name, redis_db=DB, redis_url=redis_url)
    (tmp_path / "second").mkdir()
    config_stomp = bridge_config(tmp_path / "second", cluster, rabbit_stomp_url, topic_name, redis_db=DB,
                                 redis_url=redis_url)
    with BridgeProcess(config) as first:
        monitor = first.monitor_url
        assert json.loads(http_get(f"http://{monitor}/healthz")[1])["duplicate_nodes"] == []
        with BridgeProcess(config_stomp) as second:
            line = first.wait_for_log(f"another bridge runs with cluster id {cluster}")
            assert " ERROR " in line
            status, body = http_get(f"http://{monitor}/healthz")
            health = json.loads(body)
            assert status == 503 and len(health["duplicate_nodes"]) == 1
            other = health["duplicate_nodes"][0]
            assert other.startswith(f"{cluster}/")
            assert f"this one is {other})" in second.wait_for_log(f"another bridge runs with cluster id {cluster}")
            assert any(f"cluster id {cluster} is used by another running bridge" in p for p in health["problems"])
            metrics = http_get(f"http://{monitor}/metrics")[1]
            assert f'cachesync_duplicate_cluster_total{{node="{other}"}}' in metrics

            shown = cachesync("status", "--window", "2", "--broker", amqp_url, "--topic", topic_name)
            assert f"two bridges run with cluster id {cluster}" in shown.stderr, shown.stderr
            assert other in shown.stdout
            as_json = cachesync("status", "--window", "2", "--json", "--broker", amqp_url, "--topic", topic_name)
            (seen,) = json.loads(as_json.stdout)["clusters"]
            assert len(seen["duplicate_nodes"]) == 2 and other in seen["duplicate_nodes"]
            assert seen["restarts"] == 0  # nodes alternating are no restarts

            code, report, _ = doctor("--peers", "--peers-window", "2", "--only", "peers", "--broker", amqp_url,
                                     "--topic", topic_name)
            peers = check(report, "peers")
            assert code == 1 and peers["status"] == "warn", peers
            assert f"two bridges run with cluster id {cluster}" in peers["message"]
        assert first.log.count(line) == 1  # throttled: once a minute at most
    lines = [entry for entry in first.log if "another bridge runs with cluster id" in entry]
    assert len(lines) == 1
