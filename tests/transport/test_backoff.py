"""`Backoff`, the one back-off of every retry loop: its waits grow, stop at the cap, and stay within it."""

from __future__ import annotations

from cachesync_cli.transport.backoff import Backoff


def test_without_jitter_the_waits_double_up_to_the_cap():
    backoff = Backoff(base=0.2, cap=5.0, jitter=False)
    assert [backoff.delay(n) for n in range(7)] == [0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0]


def test_with_jitter_a_wait_is_within_its_ceiling():
    backoff = Backoff(base=0.1, cap=2.0)
    for attempt in range(12):
        waits = {backoff.delay(attempt) for _ in range(50)}
        assert all(0 <= wait <= backoff.ceiling(attempt) for wait in waits)
        assert len(waits) > 1  # random, so that clients retrying together spread out
    assert backoff.ceiling(11) == 2.0


def test_a_late_attempt_stays_finite():
    assert Backoff(base=0.5, cap=10.0, jitter=False).delay(10_000) == 10.0
