"""`cachesync demo` as a newcomer runs it: a subprocess, on the in-process broker and on real ones."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.cli.run import cachesync

#: What a raw log line looks like: `2026-12-02 14:35:02,408 ERROR cachesync.bridge.incoming: ...`
RAW_LOG_LINE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}|cachesync\.bridge|Traceback")
#: The timeline's steps as the newcomer reads them, in order.
TITLES = ["bridges of clusters dc-a and dc-b running", "A hears B", "OAuthCache/token-42 cached in A and in B",
          "B revokes token-42", "B's bridge publishes it", "A's bridge receives B's #", "A's copy of token-42 deleted",
          "is lost on the way", "B publishes #", "a gap", "A flushes its whole cache", "B's bridge goes silent",
          "A flushes OAuthCache"]
STEPS = ["start", "peers", "cached", "revoke", "publish", "receive", "applied", "lost", "next", "gap", "flush",
         "silent", "bounded"]


def _log_file(stderr: str) -> Path:
    """The bridges' log the demo names at its end, checked to hold what they reported."""
    named = re.search(r"the bridges' log.*: (\S+\.log)", stderr)
    assert named, f"the demo does not name its log file: {stderr}"
    return _check_log(Path(named.group(1)))


def _check_log(log: Path) -> Path:
    assert log.is_file()
    text = log.read_text(encoding="utf-8")
    assert "ERROR cachesync.bridge.incoming: gap: 1 message(s) from dc-b" in text
    assert "flushing OAuthCache in every target (silence)" in text
    log.unlink()
    return log


def test_demo_runs_in_seconds_and_prints_every_step():
    started = time.monotonic()
    result = cachesync("demo", timeout=30)  # stdout and stderr are pipes
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stdout + result.stderr
    assert elapsed < 10, f"cachesync demo took {elapsed:.1f}s"
    lines = result.stdout.splitlines()
    assert len([line for line in lines if line.startswith("✓")]) == len(STEPS), result.stdout
    assert "✗" not in result.stdout
    for title in TITLES + ["memory://demo-"]:
        assert title in result.stdout
    assert [line for line in lines if line.startswith("✓")] == lines[1:], "only the timeline on stdout"
    # the bridges' own lines (the gap, the flushes) are in the file the demo names, not on the screen
    assert not RAW_LOG_LINE.search(result.stdout + result.stderr), result.stdout + result.stderr
    assert "every step happened" in result.stderr
    _log_file(result.stderr)


def test_demo_on_an_80_column_terminal_shows_only_the_timeline():
    """Under a real terminal (a pty, COLUMNS=80) nothing cuts through the timeline."""
    import pty

    env = {k: v for k, v in os.environ.items() if not k.startswith("CACHESYNC_")}
    env.update({"COLUMNS": "80", "LINES": "24", "TERM": "xterm-256color"})
    env.pop("NO_COLOR", None)
    leader, follower = pty.openpty()
    process = subprocess.Popen([sys.executable, "-m", "cachesync_cli", "demo"], stdin=follower, stdout=follower,
                               stderr=follower, env=env, close_fds=True)
    os.close(follower)
    screen = b""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closed: the demo ended
            break
        if not chunk:
            break
        screen += chunk
    os.close(leader)
    assert process.wait(timeout=10) == 0, screen.decode(errors="replace")
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07", "", screen.decode("utf-8", errors="replace"))
    flat = " ".join(text.split())  # the terminal wraps lines longer than 80 columns
    assert not RAW_LOG_LINE.search(text), text
    assert flat.count("✓") == len(STEPS) and "✗" not in flat, text
    positions = [flat.find(title) for title in TITLES]
    assert -1 not in positions and positions == sorted(positions), text
    _log_file(text.replace("\r", ""))


def _json_demo(*args: str) -> dict:
    result = cachesync("demo", "--format", "json", *args, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert not RAW_LOG_LINE.search(result.stderr), result.stderr
    _check_log(Path(report["log_file"]))
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
    assert not RAW_LOG_LINE.search(result.stdout + result.stderr), result.stderr
    named = re.search(r"the bridges' log: (\S+\.log)", result.stderr)
    assert named, result.stderr
    log = Path(named.group(1))
    assert "cannot reach amqp://127.0.0.1:1" in log.read_text(encoding="utf-8")  # the retries, kept
    log.unlink()
