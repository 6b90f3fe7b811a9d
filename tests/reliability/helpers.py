"""Shared by the reliability tests: two clusters on Redis dbs 1 and 2, a TCP proxy that can
black-hole a connection, /metrics scraping, and the figures each test records for
docs/reliability.md (written to .run/reliability/figures.json)."""

from __future__ import annotations

import json
import secrets
import socket
import threading
import time
from pathlib import Path

import pytest

from ..bridge.processes import (  # noqa: F401 (re-exported)
    QUIET_SILENCE_FLUSH,
    BridgePair,
    BridgeProcess,
    bridge_config,
    http_get,
    wait_until,
)
from ..redis_dbs import flushed_dbs
from ..transport.brokers import ROOT, delete_bridge_queue

DB_A, DB_B = 1, 2
FIGURES = ROOT / ".run" / "reliability" / "figures.json"


def metrics(bridge: BridgeProcess) -> dict[str, float]:
    """Every sample of the bridge's /metrics: {'name{labels}': value}."""
    _, text = http_get(f"http://{bridge.monitor_url}/metrics")
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    return samples


def metric(bridge: BridgeProcess, name: str) -> float:
    """A counter or gauge summed over its labels (0 when absent)."""
    return sum(v for k, v in metrics(bridge).items() if k == name or k.startswith(name + "{"))


def record(test: str, **figures) -> None:
    """Keep a test's figures for docs/reliability.md."""
    FIGURES.parent.mkdir(parents=True, exist_ok=True)
    data = json.loads(FIGURES.read_text()) if FIGURES.exists() else {}
    data[test] = {**figures, "at": time.strftime("%Y-%m-%d %H:%M:%S")}
    FIGURES.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    print(test, figures)


@pytest.fixture
def redis_dbs(redis_url):
    """Redis clients for cluster a (db 1) and b (db 2), empty before and after."""
    with flushed_dbs(redis_url, DB_A, DB_B) as clients:
        yield clients


def cluster_names(broker: str, request) -> tuple[str, str]:
    """Unique cluster ids; their durable AMQP queues are deleted after the test."""
    suffix = secrets.token_hex(3)
    names = (f"a-{suffix}", f"b-{suffix}")
    if broker.startswith("amqp"):
        topic = request.getfixturevalue("topic_name")
        request.addfinalizer(lambda: [delete_bridge_queue(broker, n, topic) for n in names])
    return names


def two_configs(tmp_path: Path, broker: str, topic: str, redis_url: str, clusters, *, extra_a: str = "",
                extra_b: str = "", broker_a: str | None = None, broker_b: str | None = None,
                heartbeat: float = 1.0, silence_flush: str = QUIET_SILENCE_FLUSH):
    a, b = clusters
    return (bridge_config(tmp_path, a, broker_a or broker, topic, redis_db=DB_A, redis_url=redis_url,
                          extra=extra_a, heartbeat=heartbeat, silence_flush=silence_flush),
            bridge_config(tmp_path, b, broker_b or broker, topic, redis_db=DB_B, redis_url=redis_url,
                          extra=extra_b, heartbeat=heartbeat, silence_flush=silence_flush))


def set_broker_options(config: Path, **options) -> None:
    """Change `[broker]` keys of a config written by bridge_config (e.g. heartbeat = 2)."""
    text = config.read_text()
    for key, value in options.items():
        lines = text.splitlines()
        start = lines.index("[broker]")
        for index in range(start + 1, len(lines)):
            if lines[index].startswith(f"{key} ="):
                lines[index] = f"{key} = {json.dumps(value)}"
                break
            if lines[index].startswith("["):
                lines.insert(index - 1, f"{key} = {json.dumps(value)}")
                break
        text = "\n".join(lines) + "\n"
    config.write_text(text)


def broker_proxy(broker_url: str, request) -> "TcpProxy":
    """A TcpProxy in front of the broker at `broker_url`, closed when the test ends."""
    from cachesync_cli.transport.endpoint import parse_endpoint

    endpoint = parse_endpoint(broker_url)
    proxy = TcpProxy((endpoint.host, endpoint.port))
    request.addfinalizer(proxy.close)
    return proxy


class TcpProxy:
    """127.0.0.1:<port> forwarding to a broker. `blackhole()` stops forwarding in both
    directions but keeps every socket open (a cable pulled, a firewall dropping packets):
    only heart-beats can notice. `restore()` forwards again, for new connections too;
    `refuse()` closes everything and refuses new connections until `restore()`."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.mode = "forward"  # forward | blackhole | refuse
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, broker_url: str) -> str:
        """`broker_url` with its host and port replaced by this proxy's."""
        from urllib.parse import urlsplit, urlunsplit

        parts = urlsplit(broker_url)
        user = f"{parts.username}:{parts.password}@" if parts.password else ""
        return urlunsplit((parts.scheme, f"{user}127.0.0.1:{self.port}", parts.path, parts.query, ""))

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.mode == "refuse":
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                with self._lock:
                    self._changed.wait_for(lambda: self.mode != "blackhole")
                    if self.mode == "refuse":
                        break
                sink.sendall(data)
        except OSError:
            pass
        for sock in (source, sink):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _set(self, mode: str) -> None:
        with self._lock:
            self.mode = mode
            self._changed.notify_all()

    def blackhole(self) -> None:
        self._set("blackhole")

    def refuse(self) -> None:
        self._set("refuse")
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            except OSError:
                pass

    def restore(self) -> None:
        """Forward again. Connections black-holed meanwhile are cut (their peers gave up on
        them): the bridge must reconnect, not resume a stream whose bytes were dropped."""
        if self.mode == "blackhole":
            self.refuse()
        self._set("forward")

    def close(self) -> None:
        self.refuse()
        self.listener.close()
