"""`Backoff`: how long to wait before the next attempt, for every retry loop of cachesync.

Exponential: attempt 0 waits up to `base`, each later attempt up to twice the one before, never
more than `cap`. With `jitter` (full jitter) the wait is a random fraction of that, so that
many clients retrying together spread out; without it the waits are exactly 0.2, 0.4, 0.8...

Used by the broker connection's reconnects (`connection.py`), the bridge's retries of a failing
target (`bridge/incoming.py`), the Redis sources' reconnects (`local/redis_subscription.py`,
`local/redis_stream.py`) and the webhook target's retries (`local/webhook_target.py`).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

MAX_DOUBLINGS = 30  # past this base * 2**n is beyond any cap; keeps the number finite


@dataclass(frozen=True)
class Backoff:
    """Attempt n (from 0) waits min(cap, base * 2**n), or a random part of it with `jitter`."""

    base: float = 0.2
    cap: float = 30.0
    jitter: bool = True

    def ceiling(self, attempt: int) -> float:
        """The longest wait of attempt `attempt`."""
        return min(self.cap, self.base * 2 ** min(attempt, MAX_DOUBLINGS))

    def delay(self, attempt: int) -> float:
        """Seconds to wait before attempt `attempt` + 1."""
        ceiling = self.ceiling(attempt)
        return random.uniform(0, ceiling) if self.jitter else ceiling
