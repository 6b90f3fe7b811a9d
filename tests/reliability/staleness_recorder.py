"""What became of each invalidation in the other cluster: the staleness recorder of the chaos
harness (chaos.py). It polls each cluster's cache for the keys the other cluster's app
revoked and classifies each invalidation:

- applied: the far key disappeared (its bridge applied the invalidation);
- flushed: it disappeared with a flush of its cache, seen as the loss of a sentinel key of
  that cache that only a flush removes (the recorder sets it again after each flush);
- stale: still readable at the end.

Staleness is how long the far copy stayed readable after the app's PUBLISH: from the
PUBLISH to the last poll that still read it (0 when no poll did), less the time the far
Redis did not answer (nobody could read the entry then).
"""

from __future__ import annotations

import statistics
import threading
import time
from dataclasses import dataclass

#: The cache every invalidation names, and its sentinel entry: only a flush removes it.
CACHE = "ChaosCache"
SENTINEL = f"{CACHE}:__sentinel__"
#: Pause between two polls of the far caches.
POLL_INTERVAL = 0.05
#: A key that disappears this close to a flush of its cache counts as flushed (the flush's
#: SCAN and the recorder's poll may interleave either way).
FLUSH_WINDOW = 0.5


@dataclass(eq=False)
class Revocation:
    """One invalidation by `near`'s app, or an entry re-cached in `far` (`kind`), and what
    became of the far cluster's copy."""

    key: str
    near: str
    far: str
    published: float  # time.monotonic() of the PUBLISH (of the re-cache for kind "recache")
    cached: float  # when the far copy was cached
    kind: str = "invalidation"
    publish_error: str = ""  # the app could not PUBLISH (its Redis down): the intent still counts
    subscribers: int = 1  # the PUBLISH's answer: 0 = no bridge was listening
    readable: float = 0.0  # seconds the polls read the far copy after `published`
    gone: float | None = None
    flushed: bool = False

    @property
    def staleness(self) -> float:
        """Seconds the far copy stayed readable after the publish (0: no poll read it)."""
        return self.readable


class StalenessRecorder:
    """Polls each cluster's cache for the keys the other cluster revoked, in a thread."""

    def __init__(self, clusters) -> None:
        """`clusters`: each with a `name` and a redis-py `cache` (chaos.Cluster)."""
        self.caches = {cluster.name: cluster.cache for cluster in clusters}
        self.revocations: list[Revocation] = []
        self.uncached = 0  # revocations whose far copy could not be cached (its Redis down)
        self.flushes: dict[str, list[float]] = {name: [] for name in self.caches}
        self.slowest_poll = 0.0
        self._pending: dict[str, list[Revocation]] = {name: [] for name in self.caches}
        self._answered: dict[str, float | None] = {name: None for name in self.caches}  # last poll that did
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="staleness-recorder")
        for cache in self.caches.values():
            cache.set(SENTINEL, "only a flush removes me")

    def start(self) -> StalenessRecorder:
        self._thread.start()
        return self

    def track(self, revocation: Revocation) -> None:
        with self._lock:
            self.revocations.append(revocation)
            self._pending[revocation.far].append(revocation)

    def outstanding(self) -> int:
        with self._lock:
            return sum(len(pending) for pending in self._pending.values())

    def settle(self, timeout: float) -> None:
        """Wait until no tracked key is readable in its far cluster, or `timeout`."""
        deadline = time.monotonic() + timeout
        while self.outstanding() and time.monotonic() < deadline:
            time.sleep(POLL_INTERVAL)

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def wait_for_poll(self, name: str, after: float, timeout: float = 10.0) -> None:
        """Wait until a poll of `name`'s cache that began after `after` (monotonic) answered."""
        deadline = time.monotonic() + timeout
        while (self._answered[name] or 0.0) <= after:
            assert time.monotonic() < deadline, f"no poll of {name} answered in {timeout} s"
            time.sleep(0.01)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)
        self._classify()

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            for name, cache in self.caches.items():
                self._poll(name, cache)
            self.slowest_poll = max(self.slowest_poll, time.monotonic() - started)
            self._stop.wait(POLL_INTERVAL)

    def _poll(self, name: str, cache) -> None:
        import redis

        with self._lock:
            pending = list(self._pending[name])
        before = time.monotonic()
        pipe = cache.pipeline(transaction=False)
        pipe.exists(SENTINEL)
        for revocation in pending:
            pipe.exists(revocation.key)
        try:
            sentinel, *present = pipe.execute()
            if not sentinel:
                cache.set(SENTINEL, "only a flush removes me")
        except redis.RedisError:
            self._answered[name] = None
            return  # down: nothing readable, nothing learnt
        after = time.monotonic()
        previous, self._answered[name] = self._answered[name], before
        if not sentinel:
            self.flushes[name].append(after)
        gone = []
        for revocation, exists in zip(pending, present):
            if exists:  # readable since the previous poll that answered (or since the publish)
                if previous is not None:
                    revocation.readable += max(0.0, before - max(previous, revocation.published))
            else:
                revocation.gone = after
                gone.append(revocation)
        gone_ids = {id(r) for r in gone}
        with self._lock:
            self._pending[name] = [r for r in self._pending[name] if id(r) not in gone_ids]

    def _classify(self) -> None:
        """Flushed: a flush of the far cache seen after the copy was cached and within
        FLUSH_WINDOW of its disappearance, or before it if no poll ever read it after the
        publish (the flush removed it before the invalidation existed)."""
        for r in self.revocations:
            if r.gone is not None:
                r.flushed = any(r.cached <= flush <= r.gone + FLUSH_WINDOW
                                and (flush >= r.gone - FLUSH_WINDOW or r.readable == 0)
                                for flush in self.flushes[r.far])

    def summary(self, *, kind: str = "invalidation", near: str | None = None) -> dict:
        """Counts and staleness of the revocations of `kind` (of `near`'s app only, if given)."""
        chosen = [r for r in self.revocations if r.kind == kind and (near is None or r.near == near)]
        staleness = [r.staleness for r in chosen if r.gone is not None]
        return {
            "revoked": len(chosen),
            "applied": sum(1 for r in chosen if r.gone is not None and not r.flushed),
            "flushed": sum(1 for r in chosen if r.gone is not None and r.flushed),
            "stale": sum(1 for r in chosen if r.gone is None),
            "stale_readable_s": round(max((r.staleness for r in chosen if r.gone is None), default=0.0), 2),
            "max_staleness_s": round(max(staleness, default=0.0), 2),
            "median_staleness_s": round(statistics.median(staleness), 2) if staleness else 0.0,
            "publish_failed": sum(1 for r in chosen if r.publish_error),
            "published_to_nobody": sum(1 for r in chosen if not r.publish_error and r.subscribers == 0),
        }

    def flush_count(self) -> dict[str, int]:
        """Flushes seen per cluster (sentinel losses)."""
        return {name: len(times) for name, times in self.flushes.items()}
