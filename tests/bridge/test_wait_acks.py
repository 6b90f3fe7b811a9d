"""`invalidate --wait-acks` against two running bridges (issue 16, item 9): it starts at
once (the bridges' heartbeats name the clusters to expect), shows who acknowledged on a
terminal while it waits, and Ctrl-C prints who had and had not (exit 130)."""

from __future__ import annotations

import json
import os
import pty
import secrets
import signal
import subprocess
import sys
import time

import pytest

from ..cli.run import cachesync
from ..redis_dbs import flushed_dbs
from ..transport.brokers import delete_bridge_queue
from .processes import BridgeProcess, bridge_config

DB_A, DB_B = 10, 11


@pytest.fixture(scope="module")
def bridges(amqp_url, redis_url, tmp_path_factory):
    """Two bridges on a topic of their own, for the module; (clusters, topic)."""
    suffix = secrets.token_hex(3)
    clusters, topic = (f"a-{suffix}", f"b-{suffix}"), f"cachesync.test.acks.{suffix}"
    tmp = tmp_path_factory.mktemp("acks")
    configs = [bridge_config(tmp, name, amqp_url, topic, redis_db=db, redis_url=redis_url)
               for name, db in zip(clusters, (DB_A, DB_B))]
    with flushed_dbs(redis_url, DB_A, DB_B), BridgeProcess(configs[0]), BridgeProcess(configs[1]):
        time.sleep(1.2)  # each has heard the other's heartbeat: their `applied` names both
        yield clusters, topic
    for name in clusters:
        delete_bridge_queue(amqp_url, name, topic)


class OnTerminal:
    """`cachesync ARGS` with stderr on a pseudo-terminal 80 columns wide (stdout a pipe)."""

    def __init__(self, *args: str) -> None:
        main, self._terminal = pty.openpty()
        self._main = main
        env = {k: v for k, v in os.environ.items() if not k.startswith("CACHESYNC_")}
        env.update({"COLUMNS": "80", "TERM": "xterm-256color", "CACHESYNC_CLUSTER": "operator"})
        env.pop("NO_COLOR", None)
        self.process = subprocess.Popen([sys.executable, "-m", "cachesync_cli", *args], env=env,
                                        stdout=subprocess.PIPE, stderr=self._terminal, text=True)
        os.close(self._terminal)
        self.screen = ""

    def read_until(self, needle: str, timeout: float = 10.0) -> str:
        import select

        deadline = time.monotonic() + timeout
        while needle not in self.screen and time.monotonic() < deadline:
            ready, _, _ = select.select([self._main], [], [], 0.1)
            if ready:
                try:
                    self.screen += os.read(self._main, 65536).decode("utf-8", "replace")
                except OSError:  # the process closed its end
                    break
        assert needle in self.screen, f"{needle!r} not on the terminal:\n{self.screen}"
        return self.screen

    def finish(self, timeout: float = 20.0) -> tuple[int, str]:
        stdout, _ = self.process.communicate(timeout=timeout)
        try:
            self.read_until("\0", timeout=0.5)
        except AssertionError:
            pass
        os.close(self._main)
        return self.process.returncode, stdout


def test_wait_acks_finishes_as_soon_as_every_bridge_acknowledged(bridges, amqp_url):
    clusters, topic = bridges
    started = time.monotonic()
    done = cachesync("invalidate", "C", "k1", "--wait-acks", "--json", "--broker", amqp_url, "--topic", topic,
                     env={"CACHESYNC_CLUSTER": "operator"})
    took = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    outcome = json.loads(done.stdout)
    assert outcome["acked"] == sorted(clusters) and outcome["not_acked"] == []
    assert took < 5.0, f"took {took:.1f}s: once 6 s of listening first, and the wait after"  # 1 s heartbeats
    assert "listening" not in done.stderr


def test_wait_acks_shows_who_acknowledged_on_a_terminal(bridges, amqp_url):
    clusters, topic = bridges
    run = OnTerminal("invalidate", "C", "k2", "--wait-acks", "--expect", ",".join((*clusters, "dc-gone")),
                     "--ack-timeout", "2", "--broker", amqp_url, "--topic", topic)
    screen = run.read_until(f"acknowledged 2/3: {clusters[0]}, {clusters[1]}; waiting for dc-gone")
    code, stdout = run.finish()
    assert code == 1 and stdout == ""
    screen = run.screen
    assert "NOT acknowledged by: dc-gone" in screen


def test_ctrl_c_while_waiting_prints_who_acknowledged(bridges, amqp_url):
    clusters, topic = bridges
    run = OnTerminal("invalidate", "C", "k3", "--wait-acks", "--expect", ",".join((*clusters, "dc-gone")),
                     "--json", "--broker", amqp_url, "--topic", topic)
    run.read_until("acknowledged 2/3")
    run.process.send_signal(signal.SIGINT)
    code, stdout = run.finish()
    assert code == 130
    outcome = json.loads(stdout)
    assert outcome["acked"] == sorted(clusters) and outcome["not_acked"] == ["dc-gone"]
    assert outcome["interrupted"] is True
    assert "Traceback" not in run.screen
