"""Running `cachesync doctor` for real, and small real network things for it to meet."""

from __future__ import annotations

import json
import socket
import threading
import time
from typing import Any

from tests.cli.run import cachesync


def doctor(*args: str, env=None, timeout: float = 60) -> tuple[int, dict[str, Any], str]:
    """`cachesync doctor --format json ARGS`: (exit code, parsed report, stderr)."""
    result = cachesync("doctor", "--format", "json", *args, env=env, timeout=timeout)
    assert result.stdout.strip(), f"no JSON on stdout (exit {result.returncode}); stderr: {result.stderr}"
    return result.returncode, json.loads(result.stdout), result.stderr


def statuses(report: dict[str, Any]) -> dict[str, str]:
    return {check["id"]: check["status"] for check in report["checks"]}


def check(report: dict[str, Any], check_id: str) -> dict[str, Any]:
    return next(c for c in report["checks"] if c["id"] == check_id)


def free_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class DelayingProxy:
    """A TCP proxy on 127.0.0.1 that holds every chunk from the server for `delay` seconds:
    a slow network, for real. With `start_after`, it begins listening only after that long."""

    def __init__(self, target: tuple[str, int], delay: float = 0.0, start_after: float = 0.0) -> None:
        self.target, self.delay, self.start_after = target, delay, start_after
        self.port = free_port()
        self._stop = threading.Event()
        self._sockets: list[socket.socket] = []

    def __enter__(self) -> DelayingProxy:
        threading.Thread(target=self._serve, daemon=True).start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        for sock in self._sockets:
            try:
                sock.close()
            except OSError:
                pass

    def _serve(self) -> None:
        if self._stop.wait(self.start_after):
            return
        listener = socket.create_server(("127.0.0.1", self.port))
        listener.settimeout(0.2)
        self._sockets.append(listener)
        while not self._stop.is_set():
            try:
                client, _ = listener.accept()
            except (socket.timeout, OSError):
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            self._sockets += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream, 0.0), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, self.delay), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, delay: float) -> None:
        source.settimeout(None)
        try:
            while data := source.recv(65536):
                if delay:
                    time.sleep(delay)
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
