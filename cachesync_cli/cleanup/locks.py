"""Locks that keep two cleanup runs of one target from overlapping.

- `RedisLock`: the key `cachesync:cleanup-lock:<target>` in the target's database, set with
  `SET NX PX` and a random token, renewed by a thread while the run lasts, released with a
  compare-and-delete script (a run never deletes a lock that expired and was taken by
  another). Works across hosts. If renewing fails (the key expired or was taken), `lost` is
  set and the run stops at its next batch.
- `FileLock`: `fcntl.flock` on a file in the state directory, named after what is cleaned
  (the directory's real path, the memcached servers): one host only, released by the
  kernel if the process dies.

A run that finds the lock taken is skipped (status "locked"): the holder is doing the work.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import secrets
import threading
from pathlib import Path

from cachesync_cli.cleanup.base import CleanupError, LockHeld

log = logging.getLogger("cachesync.cleanup")

LOCK_PREFIX = "cachesync:cleanup-lock:"
LOCK_TTL_MS = 30_000

_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"
_RENEW = ("if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) "
          "else return 0 end")


def state_dir() -> Path:
    from platformdirs import user_state_dir

    return Path(user_state_dir("cachesync"))


class RedisLock:
    def __init__(self, client, target: str, *, ttl_ms: int = LOCK_TTL_MS) -> None:
        self.client = client
        self.key = LOCK_PREFIX + target
        self.ttl_ms = ttl_ms
        self.token = secrets.token_hex(16)
        self.lost = threading.Event()
        self._done = threading.Event()
        self._renewer: threading.Thread | None = None

    def __enter__(self) -> "RedisLock":
        if not self.client.set(self.key, self.token, nx=True, px=self.ttl_ms):
            holder = self.client.get(self.key)
            left = self.client.pttl(self.key)
            raise LockHeld(f"another run holds {self.key} (token {holder.decode()[:8] if holder else '?'}..., "
                           f"expires in {max(left, 0) / 1000:.0f} s unless renewed): skipped")
        self._renewer = threading.Thread(target=self._renew, name=f"cachesync-lock-{self.key}", daemon=True)
        self._renewer.start()
        return self

    def _renew(self) -> None:
        renew = self.client.register_script(_RENEW)
        while not self._done.wait(self.ttl_ms / 3000):
            try:
                if not renew(keys=[self.key], args=[self.token, self.ttl_ms]):
                    log.error("lock %s was lost (expired or taken by another run): stopping", self.key)
                    self.lost.set()
                    return
            except Exception as exc:  # noqa: BLE001 a Redis outage: the run itself will fail too
                log.warning("could not renew lock %s: %s", self.key, exc)

    def check(self) -> None:
        if self.lost.is_set():
            raise CleanupError(f"lock {self.key} was lost during the run (expired or taken): stopped")

    def __exit__(self, *exc_info) -> None:
        self._done.set()
        if self._renewer is not None:
            self._renewer.join()
        try:
            self.client.register_script(_RELEASE)(keys=[self.key], args=[self.token])
        except Exception as exc:  # noqa: BLE001 the lock expires by itself
            log.warning("could not release lock %s (it expires in %d s): %s", self.key, self.ttl_ms // 1000, exc)


class FileLock:
    def __init__(self, what: str, label: str) -> None:
        digest = hashlib.sha256(what.encode("utf-8")).hexdigest()[:16]
        self.path = state_dir() / f"cleanup-{label}-{digest}.lock"
        self.what = what
        self._fd: int | None = None

    def __enter__(self) -> "FileLock":
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise CleanupError(f"cannot open lock file {self.path}: {exc.strerror or exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise LockHeld(f"another run holds the lock on {self.what} ({self.path}): skipped") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return self

    def check(self) -> None:
        """File locks cannot be lost while the process lives."""

    def __exit__(self, *exc_info) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
