"""The chaos harness's own check, on a real Redis without bridges: the recorder tells an
applied invalidation from a flushed one and from a stale one, and the pass mark fails on a
stale key. Not marked `chaos`: it needs no feature of issue 15 and takes about 2 s."""

from __future__ import annotations

import time

from .chaos import Application, Cluster, within_bound
from .helpers import redis_dbs  # noqa: F401 (fixture)
from .staleness_recorder import CACHE, FLUSH_WINDOW, SENTINEL, StalenessRecorder


def flush_cache(client) -> None:
    """What a Redis target does for a flush of one cache: SCAN its keys and UNLINK them."""
    for key in list(client.scan_iter(match=f"{CACHE}:*", count=500)):
        client.unlink(key)


def test_applied_flushed_and_stale_are_told_apart(redis_dbs):
    redis_a, redis_b = redis_dbs
    a, b = Cluster("harness-a", redis_a, redis_a), Cluster("harness-b", redis_b, redis_b)
    recorder = StalenessRecorder([a, b]).start()
    app = Application(a, b, recorder)
    first = app.revoke(5)  # on a channel no bridge reads: only this test removes the far copies
    recorder.wait_for_poll("harness-b", first[0].published + 0.3)  # read after 0.3 s: at least that stale
    deleted = time.monotonic()
    redis_b.delete(first[0].key, first[1].key)  # as b's bridge applying two invalidations
    recorder.wait_for_poll("harness-b", time.monotonic())  # seen gone
    recorder.wait_for_poll("harness-b", time.monotonic() + FLUSH_WINDOW + 0.1)  # not near the flush below
    flushed = time.monotonic()
    flush_cache(redis_b)  # as b's bridge flushing the cache: the other three and the sentinel
    recorder.wait_for_poll("harness-b", time.monotonic())
    last = app.revoke(1)  # after the flush, and nothing removes it
    recorder.wait_for_poll("harness-b", last[0].published + 0.3)
    stopped = time.monotonic()
    recorder.stop()

    summary = recorder.summary()
    assert {k: summary[k] for k in ("revoked", "applied", "flushed", "stale", "published_to_nobody")} == \
        {"revoked": 6, "applied": 2, "flushed": 3, "stale": 1, "published_to_nobody": 6}, summary
    assert recorder.flush_count() == {"harness-a": 0, "harness-b": 1}
    assert redis_b.exists(SENTINEL)  # set again after the flush
    # readable from the publish to the last poll before it went (no fixed sleeps: a busy
    # machine only makes the windows longer, and they are measured)
    assert 0.3 <= first[0].staleness <= deleted - first[0].published, first[0]
    assert FLUSH_WINDOW + 0.3 <= first[4].staleness <= flushed - first[4].published, first[4]
    assert last[0].gone is None and 0.3 <= last[0].staleness <= stopped - last[0].published, summary
    assert not within_bound(summary)
    assert within_bound({**summary, "stale": 0})
