"""`Bridge.status()`: the one snapshot /healthz, /metrics, /fresh and the live status of
`cachesync run` read (issue 18, item 5). A bridge runs in this process on RabbitMQ with a
Redis target that works and one whose port refuses every connection; an invalidation sent by
`cachesync invalidate` reaches both."""

from __future__ import annotations

import dataclasses
import io
import secrets
import socket

import pytest
import redis
from prometheus_client.exposition import generate_latest
from rich.console import Console

from cachesync_cli.bridge.bridge import Bridge
from cachesync_cli.bridge.health import HealthCheck
from cachesync_cli.bridge.metrics import bridge_registry
from cachesync_cli.bridge.status import BridgeStatus
from cachesync_cli.cli.live_status import LiveStatus
from cachesync_cli.config import load_config

from ..cli.run import cachesync
from ..transport.brokers import delete_bridge_queue
from .processes import bridge_config, wait_until

DB = 10  # keys of this test's own (unique names): nothing is flushed


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_status_is_a_frozen_snapshot_that_health_metrics_and_live_status_read(tmp_path, amqp_url, topic_name,
                                                                               redis_url):
    token = secrets.token_hex(3)
    cluster, other = f"status-{token}", f"other-{token}"
    extra = f'[[targets]]\ntype = "redis"\nname = "down"\nurl = "redis://127.0.0.1:{closed_port()}/0"\n'
    config = load_config(bridge_config(tmp_path, cluster, amqp_url, topic_name, redis_db=DB, redis_url=redis_url,
                                       extra=extra), environ={})
    local = redis.Redis.from_url(f"{redis_url.rstrip('/')}/{DB}")
    key = f"StatusCache:k-{token}"
    local.set(key, "cached")
    bridge = Bridge(config)
    unstarted = bridge.status()
    assert (unstarted.state, unstarted.connected, unstarted.broker, unstarted.server) == ("starting", False, "", "")
    try:
        bridge.start(connect_timeout=15)
        running = bridge.status()
        assert isinstance(running, BridgeStatus)
        assert (running.cluster, running.state, running.connected, running.failure) == (cluster, "running", True, None)
        assert running.broker.startswith("amqp://") and ":***@" in running.broker  # the password masked
        assert running.server.startswith("RabbitMQ")
        assert running.targets == (f"redis-{cluster}", "down") and running.failing == {}
        assert (running.spool_batches, running.spool_keys, running.oldest_unpublished) == (0, 0, None)
        assert running.intake_working and running.intake_down == {}
        assert running.duplicate_nodes == () and running.cleanup is None
        assert running.fenced is False and running.freshness["fresh"] is True
        assert other not in running.stats["peers"] and running.total("apply_failures") == 0
        with pytest.raises(dataclasses.FrozenInstanceError):
            running.state = "stopped"

        sent = cachesync("invalidate", "StatusCache", f"k-{token}", "--broker", amqp_url, "--topic", topic_name,
                         "--confirm", env={"CACHESYNC_CLUSTER": other})
        assert sent.returncode == 0, sent.stderr
        wait_until(lambda: "down" in bridge.status().failing, timeout=20, message="the target 'down' failing")
        wait_until(lambda: not local.exists(key), timeout=20, message="applied to the target that works")
        failing = bridge.status()
        assert "refused" in failing.failing["down"].lower() or "connect" in failing.failing["down"].lower()
        assert f"redis-{cluster}" not in failing.failing
        assert failing.total("received") > running.total("received") and failing.total("apply_failures") >= 1
        assert other in failing.stats["peers"]
        assert running.failing == {} and running.total("apply_failures") == 0  # a snapshot, not a view

        report = HealthCheck(bridge).report()
        assert not report.ready and report.targets[f"redis-{cluster}"] == "ok"
        assert any(problem.startswith("target down:") for problem in report.problems), report.problems
        metrics = generate_latest(bridge_registry(bridge)).decode()
        assert "cachesync_targets_failing 1.0" in metrics and "cachesync_connected 1.0" in metrics
        screen = Console(file=io.StringIO(), width=200, no_color=True)
        screen.print(LiveStatus(bridge))
        shown = screen.file.getvalue()
        assert f"cachesync run {cluster}" in shown and "connected" in shown and "failing:" in shown
    finally:
        bridge.stop()
        local.close()
        delete_bridge_queue(amqp_url, cluster, topic_name)
    stopped = bridge.status()
    assert (stopped.state, stopped.connected) == ("stopped", False)
