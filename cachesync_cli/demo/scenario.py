"""The seed scenario, played live by two real bridges in this process.

Cluster A and cluster B each run a `Bridge` built by `load_config` from a generated TOML
file: an `http` source on 127.0.0.1 (the application POSTs /v1/invalidations to it) and a
`directory` target (a file per cached entry: the "local cache"). Both connect to the same
broker: the in-process `memory://demo-<random>` by default, or a real one.

1. B revokes an access token: its application deletes B's copy and POSTs the invalidation
   to B's bridge, which publishes it; A's bridge receives it and deletes A's copy.
2. A message is lost: B's next message number is used up and never sent (as if the broker
   lost it); B's following message shows A the gap, and A flushes its whole cache.
3. B falls silent: A's application caches a token again, then B's bridge stops (from A, a
   crash, a cut or a partition look the same: no heartbeat). After `max_silence` without a
   word from B, A flushes its token cache: staleness is bounded even when nobody can tell A.

Every step is observed from outside (HTTP answers, files, the bridges' counters), with its
latency. Nothing in the bridge knows it is in a demo.
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cachesync_cli.demo.timeline import Step, Timeline

TOKEN_CACHE = "OAuthCache"
#: A's other cached entries, there to show that a gap flush empties the whole cache.
OTHER_ENTRIES = (("AppInfoCache", "app-1"), ("UserCache", "alice"), (TOKEN_CACHE, "token-lost"))
POLL = 0.001  # seconds between looks at a file or counter: the latencies are this precise
MAX_SILENCE = 2.0  # the demo's staleness bound (seconds; 10 by default)
HEARTBEAT_INTERVAL = 0.5  # a quarter of it


@dataclass
class DemoCluster:
    """One cluster of the demo: its bridge, its local cache directory, its application."""

    label: str  # "A" or "B"
    bridge: object  # cachesync_cli.bridge.bridge.Bridge
    cache_dir: Path

    @classmethod
    def create(cls, label: str, cluster: str, broker: str, topic: str, workdir: Path) -> DemoCluster:
        import tomli_w

        from cachesync_cli.bridge.bridge import Bridge
        from cachesync_cli.config import load_config

        cache_dir = workdir / f"cache-{label.lower()}"
        cache_dir.mkdir()
        config = {
            "cluster": {"id": cluster},
            "broker": {"url": broker, "topic": topic, "connect_timeout": 10},
            # A short staleness bound, so that the last scene takes two seconds.
            "sync": {"heartbeat_interval": HEARTBEAT_INTERVAL, "max_silence": MAX_SILENCE,
                     "silence_flush": [TOKEN_CACHE], "spool_path": str(workdir / f"spool-{cluster}.sqlite")},
            "monitor": {"listen": "127.0.0.1:0"},  # /healthz and /metrics on a free port
            "sources": [{"type": "http", "name": "app", "listen": "127.0.0.1:0"}],
            "targets": [{"type": "directory", "name": "cache", "path": str(cache_dir),
                         "template": "{cache}/{key}"}],
        }
        path = workdir / f"cachesync-{label.lower()}.toml"
        path.write_text(tomli_w.dumps(config), encoding="utf-8")
        # Only the file: the demo must not pick up $CACHESYNC_* meant for a real bridge (the
        # broker password variable excepted, for --broker URLs without one).
        environ = {k: v for k, v in os.environ.items() if not k.startswith("CACHESYNC_")}
        environ.update({k: os.environ[k] for k in ("CACHESYNC_PASSWORD",) if k in os.environ})
        return cls(label, Bridge(load_config(path, environ=environ)), cache_dir)

    @property
    def cluster(self) -> str:
        return self.bridge.cluster

    def entry(self, cache: str, key: str) -> Path:
        return self.bridge.targets[0].entry_path(cache, key)

    def put(self, cache: str, key: str, value: str) -> None:
        path = self.entry(cache, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(value, encoding="utf-8")

    def entries(self) -> list[str]:
        return sorted(str(p.relative_to(self.cache_dir)) for p in self.cache_dir.rglob("*") if p.is_file())

    def post(self, message: dict) -> int:
        """What the application does: POST a local message (WIRE.md §4) to its bridge."""
        host, port = self.bridge.sources[0].address
        body = json.dumps(message).encode("utf-8")
        request = urllib.request.Request(f"http://{host}:{port}/v1/invalidations", data=body, method="POST",
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status


def wait_for(condition: Callable[[], bool], timeout: float) -> float | None:
    """Seconds until `condition()` held, or None when it did not within `timeout`."""
    started = time.monotonic()
    while True:
        if condition():
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            return None
        time.sleep(POLL)


def since(begin: float, waited: float | None) -> float | None:
    """Seconds from `begin` to now, or None when the awaited thing did not happen."""
    return None if waited is None else time.monotonic() - begin


def ms(seconds: float | None) -> float:
    return (seconds or 0.0) * 1000


class Scenario:
    """Plays the demo; `on_step` sees each step as it happens."""

    def __init__(self, broker: str | None = None, *, timeout: float = 10.0,
                 on_step: Callable[[Step], None] = lambda step: None) -> None:
        self.run_id = secrets.token_hex(3)
        self.real_broker = broker is not None
        self.broker = broker or f"memory://demo-{self.run_id}"
        self.topic = f"cachesync.demo.{self.run_id}"
        # On a shared broker the durable subscriptions (cachesync.<cluster>) must not collide.
        suffix = f"-{self.run_id}" if self.real_broker else ""
        self.clusters = (f"dc-a{suffix}", f"dc-b{suffix}")
        self.timeout = timeout
        self.on_step = on_step
        self.timeline = Timeline()
        self.left_on_broker: list[str] = []

    def step(self, id: str, title: str, took: float | None, detail: str = "", ok: bool | None = None) -> bool:
        ok = took is not None if ok is None else ok
        if not ok and not detail:
            detail = f"did not happen within {self.timeout:g}s"
        self.on_step(self.timeline.add(id, title, ok, ms(took), detail))
        return ok

    def run(self) -> Timeline:
        with tempfile.TemporaryDirectory(prefix="cachesync-demo-") as tmp:
            workdir = Path(tmp)
            a = DemoCluster.create("A", self.clusters[0], self.broker, self.topic, workdir)
            b = DemoCluster.create("B", self.clusters[1], self.broker, self.topic, workdir)
            started: list[DemoCluster] = []
            try:
                begin = time.monotonic()
                for cluster in (a, b):
                    cluster.bridge.start(connect_timeout=self.timeout)
                    started.append(cluster)
                from cachesync_cli.transport import redact_url

                self.step("start", f"bridges of clusters {a.cluster} and {b.cluster} running",
                          time.monotonic() - begin, f"{redact_url(self.broker)}, topic {self.topic}")
                self._play(a, b)
            finally:
                stopping = [threading.Thread(target=cluster.bridge.stop) for cluster in started]
                for thread in stopping:  # each stop takes about a second: side by side
                    thread.start()
                for thread in stopping:
                    thread.join()
                self._clean_broker(started)
        return self.timeline

    def _play(self, a: DemoCluster, b: DemoCluster) -> None:
        if not self.step("peers", "A hears B (B's heartbeat #1)",
                         wait_for(lambda: b.cluster in a.bridge.stats.peers, self.timeout)):
            return
        token = "token-42"
        begin = time.monotonic()
        for cluster in (a, b):
            cluster.put(TOKEN_CACHE, token, "access token for alice, valid 1h")
        for cache, key in OTHER_ENTRIES:
            a.put(cache, key, f"{cache} entry {key}")
        self.step("cached", f"{TOKEN_CACHE}/{token} cached in A and in B", time.monotonic() - begin,
                  f"A holds {len(a.entries())} entries")
        if not self._revoke(a, b, token):
            return
        if not self._lose_one(a, b):
            return
        self._fall_silent(a, b)

    def _revoke(self, a: DemoCluster, b: DemoCluster, token: str) -> bool:
        """B's application revokes `token`; each step's latency counts from its POST."""
        published = b.bridge.stats.get("published_messages")
        applied = a.bridge.stats.get("applied")
        begin = time.monotonic()
        b.entry(TOKEN_CACHE, token).unlink()
        status = b.post({"cache": TOKEN_CACHE, "keys": [token]})
        if not self.step("revoke", f"B revokes {token}: the app drops B's copy, POSTs to B's bridge",
                         time.monotonic() - begin, f"HTTP {status}", ok=200 <= status < 300):
            return False
        if not self.step("publish", "B's bridge publishes it, broker confirms",
                         since(begin, wait_for(lambda: b.bridge.stats.get("published_messages") > published,
                                               self.timeout))):
            return False
        seq = b.bridge.publisher.last_seq  # its number (or a heartbeat's right after it)
        peer = lambda: a.bridge.stats.peers.get(b.cluster)  # noqa: E731
        if not self.step("receive", f"A's bridge receives B's #{seq}",
                         since(begin, wait_for(lambda: peer() is not None and peer().last_seq >= seq,
                                               self.timeout))):
            return False
        entry = a.entry(TOKEN_CACHE, token)
        self.step("applied", f"A's copy of {token} deleted: revoked in B, gone in A",
                  since(begin, wait_for(lambda: not entry.exists() and a.bridge.stats.get("applied") > applied,
                                        self.timeout)))
        return self.timeline.ok

    def _lose_one(self, a: DemoCluster, b: DemoCluster) -> bool:
        """One of B's messages is lost; latencies count from B's next POST."""
        lost = b.bridge.publisher.next_seq()  # numbered, never sent: what a broker losing it looks like
        self.step("lost", f"B's message #{lost} is lost on the way (never reaches the broker)", 0.0,
                  f"it would have revoked {TOKEN_CACHE}/token-lost, still cached in A")
        gaps, flushes = a.bridge.stats.get("gaps"), a.bridge.stats.get("flushes")
        begin = time.monotonic()
        status = b.post({"cache": TOKEN_CACHE, "keys": ["token-7"]})
        self.step("next", f"B publishes #{lost + 1} (its app revokes token-7)", time.monotonic() - begin,
                  f"HTTP {status}", ok=200 <= status < 300)
        self.step("gap", f"A sees #{lost} missing: a gap (logged at ERROR)",
                  since(begin, wait_for(lambda: a.bridge.stats.get("gaps") > gaps, self.timeout)),
                  f"gaps counted by A: {a.bridge.stats.get('gaps')}")
        return self.step("flush", "A flushes its whole cache: applied, or flushed",
                         since(begin, wait_for(lambda: a.bridge.stats.get("flushes") > flushes and not a.entries(),
                                               self.timeout)),
                         f"flushes counted by A: {a.bridge.stats.get('flushes')}; entries left in A: "
                         f"{len(a.entries())}")

    def _fall_silent(self, a: DemoCluster, b: DemoCluster) -> None:
        """B's bridge stops; A, hearing nothing from B, flushes its token cache within the
        bound. Latencies count from the stop."""
        a.put(TOKEN_CACHE, "token-99", "access token for bob, cached again in A")
        flushes = a.bridge.stats.get("silence_flushes")
        begin = time.monotonic()
        b.bridge.stop()
        self.step("silent", "B's bridge goes silent (stopped here; a crash or a cut looks the same to A)",
                  time.monotonic() - begin, f"A still holds {TOKEN_CACHE}/token-99, which B may have revoked")
        entry = a.entry(TOKEN_CACHE, "token-99")
        self.step("bounded", f"no word from B for max_silence ({MAX_SILENCE:g}s): A flushes {TOKEN_CACHE}",
                  since(begin, wait_for(lambda: a.bridge.stats.get("silence_flushes") > flushes and not entry.exists(),
                                        MAX_SILENCE + self.timeout)),
                  f"silence flushes counted by A: {a.bridge.stats.get('silence_flushes')}: stale for at most "
                  f"max_silence + slack, whatever happened to B")

    def _clean_broker(self, started: list[DemoCluster]) -> None:
        """Remove the demo's durable subscriptions from a real broker, logged in as the bridges
        were (a password from $CACHESYNC_PASSWORD), under no bridge's client id."""
        if not self.real_broker or not started:
            return
        import dataclasses

        from cachesync_cli.transport.durable import delete_durable_subscriptions

        options = dataclasses.replace(started[0].bridge.connection.options, client_id=None)
        self.left_on_broker = delete_durable_subscriptions(self.broker, [c.cluster for c in started], self.topic,
                                                           options)
