"""Bridges as a user runs them: `cachesync run --config FILE` in a subprocess."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path


QUIET_SILENCE_FLUSH = '["cachesync-test-silence-flushed"]'
"""A cache pattern no test writes to, as the default `[sync] silence_flush` of test bridges."""


def bridge_config(tmp: Path, cluster: str, broker: str, topic: str, *, redis_db: int, redis_url: str,
                  extra: str = "", sources: str | None = None, heartbeat: float = 1.0,
                  silence_flush: str = QUIET_SILENCE_FLUSH) -> Path:
    """A config file for cluster `cluster`: a Redis channel source and a Redis target on its own db.

    `silence_flush` is a cache no test writes by default: every bridge start is an intake gap
    (its Redis channel kept nothing while it was not running) that makes the other bridge
    flush these caches, which would empty the keys a test set up. Tests of the staleness
    bound pass "[]" (every cache, the product's default) or the caches they watch."""
    base = redis_url.rstrip("/")
    default_sources = f'''
[[sources]]
type = "redis-channel"
url = "{base}/{redis_db}"
channel = "local.{cluster}"
'''
    path = tmp / f"{cluster}.toml"
    path.write_text(f'''
[cluster]
id = "{cluster}"

[broker]
url = "{broker}"
topic = "{topic}"
heartbeat = 5
connect_timeout = 5
reconnect_max_delay = 2

[monitor]
listen = "127.0.0.1:0"

[sync]
spool_path = "{tmp}/spool-{cluster}.sqlite"
heartbeat_interval = {heartbeat}
retry_max_delay = 1
silence_flush = {silence_flush}
{sources if sources is not None else default_sources}
[[targets]]
type = "redis"
name = "redis-{cluster}"
url = "{base}/{redis_db}"
{extra}
''')
    return path


SILENCE_FLUSH_LINE = "for longer than max_silence"
"""What a bridge logs when it flushes for a silent cluster (bridge/incoming.py)."""


class BridgeProcess:
    """A running `cachesync run`; its log is kept for assertions. `started` lists every one
    started, so that a test without faults can check that none flushed for a silence."""

    started: list["BridgeProcess"] = []

    def __init__(self, config: Path, *, env: dict[str, str] | None = None, wrapper: list[str] | None = None) -> None:
        BridgeProcess.started.append(self)
        self.config = config
        self.env = env or {}
        self.wrapper = wrapper or []  # e.g. ["prlimit", "--fsize=65536", "--"]
        self.log: list[str] = []
        self.process: subprocess.Popen | None = None

    def spawn(self) -> threading.Event:
        """Start the process without waiting: the event is set once it runs (or ended)."""
        environ = {k: v for k, v in os.environ.items() if not k.startswith("CACHESYNC_")}
        environ.update({"NO_COLOR": "1", **self.env})
        self.log = []
        self.process = subprocess.Popen([*self.wrapper, sys.executable, "-m", "cachesync_cli", "run",
                                         "--config", str(self.config)],
                                        env=environ, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        ready = threading.Event()

        def pump(process=self.process) -> None:
            for line in process.stdout:
                self.log.append(line)
                if " running on " in line:
                    ready.set()
            ready.set()

        threading.Thread(target=pump, daemon=True).start()
        return ready

    def start(self, timeout: float = 30.0) -> "BridgeProcess":
        ready = self.spawn()
        if not ready.wait(timeout) or self.process.poll() is not None:
            self.kill()
            raise AssertionError(f"bridge did not start:\n{self.text}")
        return self

    @property
    def monitor_url(self) -> str:
        """http://HOST:PORT of the bridge's /healthz and /metrics, from its log."""
        line = self.wait_for_log("health and metrics on http://")
        return line.split("health and metrics on http://")[1].split("/healthz")[0]

    @property
    def text(self) -> str:
        return "".join(self.log)

    def silence_flushes(self) -> list[str]:
        """The log lines of its silence flushes (false alarms where no fault is injected)."""
        return [line for line in self.log if SILENCE_FLUSH_LINE in line]

    def wait_for_log(self, needle: str, timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.log):
                if needle in line:
                    return line
            time.sleep(0.1)
        raise AssertionError(f"{needle!r} not in the bridge log:\n{self.text}")

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM, as a service manager would; the exit code."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"bridge did not stop on SIGTERM:\n{self.text}")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> "BridgeProcess":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        if self.process is not None and self.process.poll() is None:
            code = self.stop()
            if exc_info[0] is None:
                assert code == 0, f"bridge exited {code}:\n{self.text}"


class BridgePair:
    """Several bridges started at once and stopped at once (`with BridgePair(a, b) as (x, y)`):
    their starts and stops overlap instead of adding up."""

    def __init__(self, *configs: Path) -> None:
        self.bridges = [BridgeProcess(config) for config in configs]

    def __enter__(self) -> list[BridgeProcess]:
        ready = [bridge.spawn() for bridge in self.bridges]
        for bridge, event in zip(self.bridges, ready):
            if not event.wait(30.0) or bridge.process.poll() is not None:
                self._stop()
                raise AssertionError(f"bridge did not start:\n{bridge.text}")
        return self.bridges

    def _stop(self) -> list[tuple[BridgeProcess, int]]:
        running = [bridge for bridge in self.bridges if bridge.process is not None and bridge.process.poll() is None]
        for bridge in running:
            bridge.process.send_signal(signal.SIGTERM)
        codes = []
        for bridge in running:
            try:
                codes.append(bridge.process.wait(30.0))
            except subprocess.TimeoutExpired:
                bridge.kill()
                raise AssertionError(f"bridge did not stop on SIGTERM:\n{bridge.text}")
        return list(zip(running, codes))

    def __exit__(self, *exc_info) -> None:
        for bridge, code in self._stop():
            if exc_info[0] is None:
                assert code == 0, f"bridge exited {code}:\n{bridge.text}"


def http_get(url: str, timeout: float = 5) -> tuple[int, str]:
    """(status, body) of a GET, also for error statuses (a 503 from /healthz is an answer)."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def wait_until(predicate, timeout: float = 20.0, interval: float = 0.1, message: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")
