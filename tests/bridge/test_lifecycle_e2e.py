"""A bridge's life under a service manager (issue 16, item 10), with real processes on
RabbitMQ: SIGHUP reloads the rule files without losing a message (and a bad file keeps the
rules before), sd_notify readiness through a real datagram socket, `retire` deleting the
retired cluster's queue, and `status` listing a cluster that stopped sending."""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import time

import pytest

from cachesync_cli.transport.amqp import durable_queue_name

from ..cli.run import cachesync
from .processes import BridgeProcess, bridge_config, wait_until

DB_A, DB_B = 11, 12




def queue_exists(amqp_url: str, name: str) -> bool:
    """A passive declare: RabbitMQ answers 404 (closing the channel) when the queue is gone."""
    import pika
    import pika.exceptions

    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        connection.channel().queue_declare(name, passive=True)
        return True
    except pika.exceptions.ChannelClosedByBroker as exc:
        assert exc.reply_code == 404, exc
        return False
    finally:
        connection.close()


def rewrite_unnoticed(path, text: str) -> None:
    """Change a rule file keeping its size and modification time: the folder's polling cannot
    see it, only a SIGHUP (which re-reads every file) can (as after `cp -p` or `rsync -t`)."""
    before = path.stat()
    assert len(text.encode()) <= before.st_size
    path.write_text(text.ljust(before.st_size))  # trailing blanks: still the same TOML
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


def test_sighup_reloads_the_rule_files_without_losing_a_message(tmp_path, amqp_url, topic_name, redis_url,
                                                                redis_dbs, clusters):
    redis_a, redis_b = redis_dbs
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    rules = tmp_path / "a" / "cachesync.d"  # beside a's config: only a reads rule files
    rules.mkdir()
    rule_file = rules / "10-block.toml"
    rule_file.write_text('[sync]\nblock = ["Xecret"]\n')
    config_a = bridge_config(tmp_path / "a", clusters[0], amqp_url, topic_name, redis_db=DB_A, redis_url=redis_url)
    config_b = bridge_config(tmp_path / "b", clusters[1], amqp_url, topic_name, redis_db=DB_B, redis_url=redis_url)

    def publish(cache: str, key: str) -> None:
        redis_b.set(f"{cache}:{key}", "x")
        redis_a.publish(f"local.{clusters[0]}", json.dumps({"cache": cache, "keys": [key]}))

    with BridgeProcess(config_a) as bridge_a, BridgeProcess(config_b):
        publish("Secret", "k1")
        wait_until(lambda: not redis_b.exists("Secret:k1"), message="Secret synced before the reload")
        rewrite_unnoticed(rule_file, '[sync]\nblock = ["Secret"]\n')
        time.sleep(1.5)  # more than the polling interval: the change is not seen without SIGHUP
        assert "rule file 10-block.toml loaded" not in bridge_a.text.split("running on")[1]
        publish("Other", "around-1")
        bridge_a.process.send_signal(signal.SIGHUP)
        publish("Other", "around-2")
        bridge_a.wait_for_log("reloaded the rules (SIGHUP): block +Secret -Xecret", timeout=5)
        publish("Other", "around-3")
        wait_until(lambda: not any(redis_b.exists(f"Other:around-{n}") for n in (1, 2, 3)),
                   message="the messages published around the SIGHUP applied in b")
        publish("Secret", "k2")
        publish("Other", "k2")
        wait_until(lambda: not redis_b.exists("Other:k2"), message="b applies Other")
        assert redis_b.exists("Secret:k2") == 1  # blocked at a since the reload

        (rules / "20-broken.toml").write_text('[sync]\nblock = "not a list"\n')
        rewrite_unnoticed(rule_file, '[sync]\nblock = [42]\n')  # the good file turns bad
        bridge_a.process.send_signal(signal.SIGHUP)
        line = bridge_a.wait_for_log("rejected, the previous rules stay", timeout=5)
        assert "10-block.toml" in line and "20-broken.toml" in line and "no change" in line
        assert f"{rules / '10-block.toml'}: " in bridge_a.text  # the error names the file
        publish("Secret", "k3")
        publish("Other", "k3")
        wait_until(lambda: not redis_b.exists("Other:k3"), message="b applies Other")
        assert redis_b.exists("Secret:k3") == 1  # the rules before stay
        assert bridge_a.process.poll() is None and bridge_a.text.count(" running on ") == 1  # never restarted


def test_sd_notify_ready_reloading_watchdog_stopping(tmp_path, amqp_url, topic_name, redis_url, clusters):
    name = f"cachesync-test-{secrets.token_hex(4)}"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind("\0" + name)  # an abstract socket, as systemd's may be: NOTIFY_SOCKET=@name
    listener.settimeout(10)
    config = bridge_config(tmp_path, clusters[0], amqp_url, topic_name, redis_db=DB_A, redis_url=redis_url)
    received: list[str] = []

    def expect(state: str) -> str:
        while True:
            message = listener.recv(4096).decode()
            received.append(message)
            if state in message.split("\n"):
                return message

    try:
        with BridgeProcess(config, env={"NOTIFY_SOCKET": f"@{name}", "WATCHDOG_USEC": "1000000"}) as bridge:
            ready = expect("READY=1")
            assert f"STATUS=bridge {clusters[0]} running on amqp://" in ready
            assert not any("READY=1" in m for m in received[:-1])
            assert "running on" in bridge.text  # subscribed, its source listening
            expect("WATCHDOG=1")  # every half WatchdogSec
            bridge.process.send_signal(signal.SIGHUP)
            assert "MONOTONIC_USEC=" in expect("RELOADING=1")
            expect("READY=1")
            assert bridge.stop() == 0
            expect("STOPPING=1")
    finally:
        listener.close()
    assert "cannot notify" not in bridge.text


@pytest.mark.silence_expected  # a is stopped on purpose: b flushes for its silence
def test_status_lists_a_stopped_cluster_and_retire_deletes_its_queue(tmp_path, amqp_url, topic_name, redis_url,
                                                                     clusters):
    a, b = clusters
    configs = []
    for cluster, db in ((a, DB_A), (b, DB_B)):
        path = bridge_config(tmp_path, cluster, amqp_url, topic_name, redis_db=db, redis_url=redis_url,
                             heartbeat=0.5)
        path.write_text(path.read_text().replace("[sync]\n", "[sync]\nmax_silence = 2\n"))
        configs.append(path)
    with BridgeProcess(configs[1]) as bridge_b:
        with BridgeProcess(configs[0]):
            bridge_b.wait_for_log(f"watching {a}")
        bridge_b.wait_for_log(f"no word from {a} (")  # b has noticed a's silence
        status = cachesync("status", "--window", "1.2", "--config", str(configs[1]))
        assert status.returncode == 0, status.stderr
        row = next(line for line in status.stdout.splitlines() if a in line)
        assert "stopped sending" in row and f"(per {b})" in row, status.stdout
        status = cachesync("status", "--window", "1.2", "--json", "--config", str(configs[1]))
        stopped = json.loads(status.stdout)["stopped"]
        assert [(s["origin"], s["per"]) for s in stopped] == [(a, [b])]
        assert 2 <= stopped[0]["silent_seconds"] < 30
        assert queue_exists(amqp_url, durable_queue_name(a, topic_name))  # filling up while nobody reads it

        retired = cachesync("retire", a, "--config", str(configs[1]))
        assert retired.returncode == 0, retired.stderr
        assert f"deleted the durable subscription of {a} to {topic_name}" in retired.stderr
        assert not queue_exists(amqp_url, durable_queue_name(a, topic_name))
        bridge_b.wait_for_log(f"retired {a}")
        time.sleep(1)  # a heartbeat of b's since
        status = cachesync("status", "--window", "1.2", "--json", "--config", str(configs[1]))
        assert json.loads(status.stdout)["stopped"] == []
        assert queue_exists(amqp_url, durable_queue_name(b, topic_name))  # the others' queues stay


def test_retire_on_mqtt_ends_the_session(mosquitto_url, topic_name):
    retired = cachesync("retire", "dc-gone", "--broker", mosquitto_url, "--topic", topic_name, "--timeout", "10")
    assert retired.returncode == 0, retired.stderr
    assert "retired dc-gone" in retired.stderr
    assert "deleted the durable subscription of dc-gone" in retired.stderr
    assert "cachesync-dc-gone" in retired.stderr  # the session ended: that client id's


def test_a_terminal_hangup_still_stops_the_bridge_cleanly(tmp_path, amqp_url, topic_name, redis_url, clusters):
    """SIGHUP reloads, except when it is the terminal hanging up (an SSH session closed): a
    bridge left running without its terminal would be found by nobody."""
    import fcntl
    import pty
    import select
    import struct
    import sys
    import termios

    config = bridge_config(tmp_path, clusters[0], amqp_url, topic_name, redis_db=DB_A, redis_url=redis_url)
    environ = {k: v for k, v in os.environ.items() if not k.startswith("CACHESYNC_")}
    environ.update({"NO_COLOR": "1", "TERM": "xterm"})
    pid, master = pty.fork()  # the child leads a session whose controlling terminal is the pty
    if pid == 0:
        os.execve(sys.executable, [sys.executable, "-m", "cachesync_cli", "run", "--config", str(config)], environ)
    fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 200, 0, 0))
    seen = b""
    deadline = time.monotonic() + 30
    while b"running on" not in seen and time.monotonic() < deadline:
        if select.select([master], [], [], 1)[0]:
            seen += os.read(master, 65536)
    assert b"running on" in seen, seen.decode(errors="replace")
    os.close(master)  # the terminal goes away: the kernel sends SIGHUP
    deadline = time.monotonic() + 30
    while (done := os.waitpid(pid, os.WNOHANG))[0] == 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    if done[0] == 0:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        raise AssertionError("the bridge kept running after its terminal hung up")
    assert os.waitstatus_to_exitcode(done[1]) == 0
    state = json.loads((tmp_path / f"state-{clusters[0]}.json").read_text())
    assert state["running"] is False  # a clean stop: its queue was flushed, not a crash
