"""Redis databases a test owns: emptied before and after it."""

from __future__ import annotations

from contextlib import contextmanager


@contextmanager
def flushed_dbs(redis_url: str, *dbs: int):
    """Clients of `dbs` on the Redis at `redis_url`, each FLUSHDB'd before and after."""
    import redis

    clients = [redis.Redis.from_url(f"{redis_url.rstrip('/')}/{db}") for db in dbs]
    for client in clients:
        client.flushdb()
    try:
        yield clients
    finally:
        for client in clients:
            client.flushdb()
            client.close()


class PrivateRedis:
    """A redis-server of the test's own on a free port, so it can be stopped without disturbing
    anyone. With a `directory` it keeps its data over a stop (RDB written on SIGTERM)."""

    def __init__(self, directory=None) -> None:
        import socket

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.directory = directory
        self.process = None

    def start(self) -> None:
        import shutil
        import subprocess

        from .bridge.processes import wait_until

        persistence = ["--save", "3600 1", "--dir", str(self.directory)] if self.directory else ["--save", ""]
        self.process = subprocess.Popen([shutil.which("redis-server") or "redis-server", "--port", str(self.port),
                                         "--bind", "127.0.0.1", "--appendonly", "no", *persistence],
                                        stdout=subprocess.DEVNULL)
        wait_until(self._up, message="private redis-server")

    def _up(self) -> bool:
        import socket

        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return True
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
