"""Ctrl-C and a closed pipe, as a shell sees them (issue 18, item 6): through a real pipe, whose
reader goes away, and a real SIGINT to a running command.

`cachesync ... | head -1` exits 0 and prints nothing on stderr (no traceback, no "Exception
ignored" at interpreter exit); Ctrl-C exits 130 with one line on stderr; `cachesync run`
keeps its own SIGINT handling (it stops in order and exits 0)."""

from __future__ import annotations

import os
import secrets
import shlex
import signal
import subprocess
import sys

import pytest

from ..bridge.processes import BridgeProcess, bridge_config
from ..transport.brokers import delete_bridge_queue
from .run import NO_USER_CONFIG, Tail, cachesync


def environ(**extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("CACHESYNC_")}
    base.update({"NO_COLOR": "1", "TERM": "dumb", "XDG_CONFIG_HOME": NO_USER_CONFIG, **extra})
    return base


def test_a_dry_run_piped_into_head_exits_0_quietly(tmp_path):
    """Four lines of 1 MB: head takes the first and leaves, the next write finds no reader."""
    command = (f"seq 400000 | {shlex.quote(sys.executable)} -m cachesync_cli invalidate C --file - --dry-run "
               f"--broker amqp://127.0.0.1:1/ --topic t 2>err | head -1 | wc -l; echo \"${{PIPESTATUS[*]}}\"")
    result = subprocess.run(["bash", "-c", command], env=environ(CACHESYNC_CLUSTER="dc-pipe"),
                            capture_output=True, text=True, timeout=60, cwd=tmp_path)
    lines, *statuses = result.stdout.split()
    assert (lines, statuses) == ("1", ["0", "0", "0", "0"]), result  # seq, cachesync, head, wc
    assert (tmp_path / "err").read_text() == ""


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["invalidate", "--help"],
                                  ["invalidate", "C", "k", "--dry-run", "--broker", "amqp://127.0.0.1:1/"],
                                  ["invalidate", "C", "k", "--dry-run", "--format", "json", "--broker",
                                   "amqp://127.0.0.1:1/"],
                                  ["config", "show"]], ids=" ".join)
def test_output_to_a_pipe_nobody_reads_exits_0_quietly(args):
    """Printed with print(), with rich (help, tables) or as JSON: all end alike."""
    read, write = os.pipe()
    os.close(read)
    try:
        result = subprocess.run([sys.executable, "-m", "cachesync_cli", *args], stdout=write, stderr=subprocess.PIPE,
                                text=True, timeout=60, env=environ(CACHESYNC_CLUSTER="dc-pipe"))
    finally:
        os.close(write)
    assert (result.returncode, result.stderr) == (0, "")


def test_tail_whose_reader_leaves_exits_0_quietly(amqp_url, topic_name):
    """`cachesync tail | head -1` on a real broker: the second message finds the pipe closed."""
    read, write = os.pipe()
    tail = subprocess.Popen([sys.executable, "-m", "cachesync_cli", "tail", "--format", "ndjson", "--broker",
                             amqp_url, "--topic", topic_name], stdout=write, stderr=subprocess.PIPE, text=True,
                            env=environ())
    os.close(write)
    try:
        assert "listening on" in tail.stderr.readline()
        sent = cachesync("invalidate", "C", "k1", "--broker", amqp_url, "--topic", topic_name,
                         env={"CACHESYNC_CLUSTER": "dc-pipe"})
        assert sent.returncode == 0, sent.stderr
        with os.fdopen(read, "rb") as reader:
            assert b'"k1"' in reader.readline()
        # the reader is gone: the next message is the write that fails
        for n in range(20):
            cachesync("invalidate", "C", f"k{n + 2}", "--broker", amqp_url, "--topic", topic_name,
                      env={"CACHESYNC_CLUSTER": "dc-pipe"})
            try:
                tail.wait(timeout=2)
                break
            except subprocess.TimeoutExpired:
                continue
        code, rest = tail.wait(timeout=10), tail.stderr.read()
    finally:
        if tail.poll() is None:
            tail.kill()
            tail.wait()
    assert (code, rest) == (0, "")


def test_ctrl_c_stops_tail_with_130_and_one_line(amqp_url, topic_name):
    with Tail(amqp_url, topic_name) as tail:
        tail.process.send_signal(signal.SIGINT)
    after = tail.stderr.split("Ctrl-C to stop\n", 1)[1]
    assert (tail.returncode, after) == (130, "interrupted\n"), tail.stderr


def test_ctrl_c_stops_status_with_130_and_one_line(amqp_url, topic_name):
    status = subprocess.Popen([sys.executable, "-m", "cachesync_cli", "status", "--window", "60", "--broker",
                               amqp_url, "--topic", topic_name], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=environ())
    try:
        assert "listening for heartbeats" in status.stderr.readline()
        status.send_signal(signal.SIGINT)
        out, err = status.communicate(timeout=30)
    finally:
        if status.poll() is None:
            status.kill()
    assert (status.returncode, out, err) == (130, "", "interrupted\n")


def test_ctrl_c_stops_run_in_order_with_0(tmp_path, amqp_url, topic_name, redis_url):
    """`cachesync run` catches SIGINT itself: it stops its sources, publishes or spools, exits 0."""
    cluster = f"sigint-{secrets.token_hex(3)}"
    config = bridge_config(tmp_path, cluster, amqp_url, topic_name, redis_db=10, redis_url=redis_url)
    bridge = BridgeProcess(config).start()
    try:
        bridge.process.send_signal(signal.SIGINT)
        code = bridge.process.wait(timeout=30)
    finally:
        bridge.kill()
        delete_bridge_queue(amqp_url, cluster, topic_name)
    assert code == 0, bridge.text
    assert "interrupted" not in bridge.text and "Traceback" not in bridge.text
