"""The limit on `all` invalidations per origin (bridge/all_limit.py), with a fake clock."""

from __future__ import annotations

from cachesync_cli.bridge.all_limit import AllLimiter
from cachesync_cli.wire import Item, Tenant


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_rate_per_origin():
    clock = Clock()
    limiter = AllLimiter(rate=2, burst=3, clock=clock)
    assert [limiter.take("x") for _ in range(4)] == [True, True, True, False]
    assert limiter.take("y")  # another origin has its own bucket
    clock.now += 0.5  # one token back at 2/s
    assert limiter.take("x") and not limiter.take("x")


def test_held_alls_are_coalesced_per_cache_and_released_with_the_next_token():
    clock = Clock()
    limiter = AllLimiter(rate=1, burst=1, clock=clock)
    assert limiter.take("x")
    done = []
    tenant = Tenant("t", 1)
    for n in range(100):
        limiter.hold("x", tenant, (Item("A", all=True), Item("B", all=True, manager="M")), lambda n=n: done.append(n))
    assert not limiter.take("x")  # nothing overtakes what is held
    assert limiter.due() == [] and 0 < limiter.next_due() <= 1
    clock.now += 1
    (held,) = limiter.due()
    assert held.messages == 100 and held.batches() == {tenant: (Item("A", all=True), Item("B", all=True, manager="M"))}
    for callback in held.done:
        callback()
    assert done == list(range(100)) and limiter.next_due() is None
