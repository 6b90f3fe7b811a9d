"""Simulated clusters for the benchmark: a real `cachesync run` process each, with a Redis
channel source and a Redis target in a Redis database of its own."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from cachesync_cli.bench.procstat import cpu_seconds, peak_rss_mb
from cachesync_cli.errors import CachesyncError

SIGNING_ENV = "CACHESYNC_BENCH_SIGNING_KEY"


@dataclass
class BenchCluster:
    name: str
    db: int
    config: Path
    log: Path
    process: subprocess.Popen | None = None
    monitor: str = ""
    cpu_start: float = 0.0
    cpu_used: float = 0.0
    peak_rss: float = 0.0
    _lines: list[str] = field(default_factory=list)

    @property
    def channel(self) -> str:
        return f"bench.{self.name}"

    def start(self, env: dict[str, str], timeout: float = 30.0) -> None:
        handle = self.log.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "cachesync_cli", "run", "--config", str(self.config), "--log-format", "text"],
            stdout=handle, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log.read_text(errors="replace")
            if " running on " in text and "health and metrics on http://" in text:
                self.monitor = text.split("health and metrics on http://")[1].split("/healthz")[0]
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        self.stop()
        raise CachesyncError(f"bench: the bridge of {self.name} did not start; its log:\n"
                             f"{self.log.read_text(errors='replace')[-2000:]}")

    def mark(self) -> None:
        """Start counting CPU from now."""
        self.cpu_start = cpu_seconds(self.process.pid)

    def measure(self) -> None:
        self.cpu_used = cpu_seconds(self.process.pid) - self.cpu_start
        self.peak_rss = peak_rss_mb(self.process.pid)

    def metric(self, name: str) -> float:
        """A counter of this bridge's /metrics, summed over its labels (0 when absent)."""
        total = 0.0
        with urllib.request.urlopen(f"http://{self.monitor}/metrics", timeout=5) as response:
            for line in response.read().decode().splitlines():
                if line.startswith(name + " ") or line.startswith(name + "{"):
                    total += float(line.rsplit(" ", 1)[1])
        return total

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()


def db_of(redis_url: str) -> int:
    """The database number in `redis_url`'s path (0 when none)."""
    tail = redis_url.rstrip("/").rsplit("/", 1)[-1]
    return int(tail) if tail.isdigit() else 0


def db_url(redis_url: str, db: int) -> str:
    """`redis_url` pointing at database `db` (a db in a URL's path wins over redis-py's db=)."""
    from urllib.parse import urlsplit

    return urlsplit(redis_url)._replace(path=f"/{db}").geturl()


def write_config(cluster: BenchCluster, *, brokers: list[str], topic: str, redis_url: str, codec: str,
                 sign: bool, spool_dir: Path, heartbeat: float) -> None:
    signing = f'[signing]\nkey_id = "bench"\nkey_env = "{SIGNING_ENV}"\nrequire = true\n' if sign else ""
    urls = ", ".join(f'"{url}"' for url in brokers)
    cluster.config.write_text(f'''
[cluster]
id = "{cluster.name}"
[broker]
url = [{urls}]
topic = "{topic}"
[codec]
name = "{codec}"
{signing}
[monitor]
listen = "127.0.0.1:0"
[sync]
spool_path = "{spool_dir}/spool-{cluster.name}.sqlite"
heartbeat_interval = {heartbeat}
# Every start of a bridge with a Redis channel source is an intake gap the others flush
# for, and a silence would be flushed too: not the bench's keys (counted, and reported).
silence_flush = ["{cluster.name}-silence-flushed"]
[[sources]]
type = "redis-channel"
url = "{db_url(redis_url, cluster.db)}"
channel = "{cluster.channel}"
[[targets]]
type = "redis"
url = "{db_url(redis_url, cluster.db)}"
''')


def bridge_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault(SIGNING_ENV, "bench-signing-key-not-secret")
    env["NO_COLOR"] = "1"
    return env


def start_all(clusters: list[BenchCluster], env: dict[str, str]) -> None:
    """Start the bridges in parallel (each takes a second to import and connect)."""
    errors: list[Exception] = []

    def start(cluster: BenchCluster) -> None:
        try:
            cluster.start(env)
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(c,)) for c in clusters]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        for cluster in clusters:
            cluster.stop()
        raise errors[0]
