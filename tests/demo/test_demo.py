"""`cachesync demo` as a newcomer runs it: a subprocess, on the in-process broker and on real ones."""

from __future__ import annotations

import json
import time

import pytest

from tests.cli.run import cachesync

STEPS = ["start", "peers", "cached", "revoke", "publish", "receive", "applied", "lost", "next", "gap", "flush",
         "silent", "bounded"]


def test_demo_runs_in_seconds_and_prints_every_step():
    started = time.monotonic()
    result = cachesync("demo", timeout=30)
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stdout + result.stderr
    assert elapsed < 10, f"cachesync demo took {elapsed:.1f}s"
    lines = result.stdout.splitlines()
    assert len([line for line in lines if line.startswith("✓")]) == len(STEPS), result.stdout
    assert "✗" not in result.stdout
    for text in ("B revokes token-42", "A's copy of token-42 deleted", "is lost on the way", "a gap",
                 "flushes its whole cache", "B's bridge goes silent", "A flushes OAuthCache", "memory://demo-"):
        assert text in result.stdout
    assert "gap: 1 message(s) from dc-b" in result.stderr  # the bridge's own log, not the demo's
    assert "every step happened" in result.stderr


def _json_demo(*args: str) -> dict:
    result = cachesync("demo", "--json", *args, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is True
    assert [step["id"] for step in report["steps"]] == STEPS
    assert all(step["ok"] and step["took_ms"] >= 0 for step in report["steps"])
    steps = {step["id"]: step for step in report["steps"]}
    assert "entries left in A: 0" in steps["flush"]["detail"]
    assert "silence flushes counted by A: 1" in steps["bounded"]["detail"]
    # max_silence (2 s) after the last heartbeat B sent (up to 0.5 s before the stop), plus detection and flush
    assert 1500 <= steps["bounded"]["took_ms"] <= 4000
    return report


def test_demo_json_timeline():
    report = _json_demo()
    assert report["broker"].startswith("memory://demo-")
    assert report["clusters"] == ["dc-a", "dc-b"]
    assert report["left_on_broker"] == []


def test_demo_on_rabbitmq_deletes_its_queues(amqp_url):
    report = _json_demo("--broker", amqp_url)
    assert report["left_on_broker"] == []
    assert all(cluster.startswith(("dc-a-", "dc-b-")) for cluster in report["clusters"])
    assert report["topic"].startswith("cachesync.demo.")
    import pika

    from cachesync_cli.transport.amqp import durable_queue_name

    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        for cluster in report["clusters"]:
            channel = connection.channel()
            with pytest.raises(pika.exceptions.ChannelClosedByBroker):  # 404: the queue is gone
                channel.queue_declare(durable_queue_name(cluster, report["topic"]), passive=True)
    finally:
        connection.close()


def test_demo_on_activemq_stomp(activemq_stomp_url):
    report = _json_demo("--broker", activemq_stomp_url)
    assert report["left_on_broker"] == []  # the durable subscriptions were unsubscribed


def test_demo_with_an_unreachable_broker_exits_3():
    result = cachesync("demo", "--broker", "amqp://127.0.0.1:1/", "--timeout", "3", timeout=60)
    assert result.returncode == 3, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
