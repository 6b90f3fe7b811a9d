"""When a cleanup runs: every N seconds (fixed rate) or on a cron expression, plus jitter.

`jitter` delays each run by a random 0..jitter seconds, so clusters sharing a schedule do
not all flush at the same instant. An interval is measured from the planned start of the
previous run (no drift); a run that takes longer than the interval is followed by the
next one at once, never overlapped.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cachesync_cli.entries.cron import CronSchedule
from cachesync_cli.entries.duration import format_duration


@dataclass(frozen=True)
class Schedule:
    every: float | None = None
    cron: CronSchedule | None = None
    jitter: float = 0.0

    def __post_init__(self) -> None:
        if (self.every is None) == (self.cron is None):
            raise ValueError("a schedule has either every or cron")

    @classmethod
    def from_entry(cls, entry: Mapping[str, Any]) -> "Schedule | None":
        """The schedule of a validated `[[cleanup]]` entry, or None when it has none."""
        if entry.get("every"):
            return cls(every=entry["every"], jitter=entry.get("jitter") or 0.0)
        if entry.get("cron"):
            return cls(cron=CronSchedule.parse(entry["cron"]), jitter=entry.get("jitter") or 0.0)
        return None

    def describe(self) -> str:
        what = f"every {format_duration(self.every)}" if self.every else f"cron {self.cron.expression!r}"
        return what + (f" (jitter up to {format_duration(self.jitter)})" if self.jitter else "")

    def next_planned(self, previous: float | None, now: float) -> float:
        """The next planned start (epoch seconds, before jitter) after one planned at
        `previous` (None: nothing planned yet); never in the past."""
        if self.every is not None:
            if previous is None:
                return now + self.every
            return max(previous + self.every, now)
        fire = self.cron.next_after(datetime.fromtimestamp(max(previous or now, now)))
        return fire.timestamp()

    def delay(self, rng: random.Random | None = None) -> float:
        """A random jitter for one run, 0..jitter seconds."""
        return (rng or random).uniform(0, self.jitter) if self.jitter else 0.0
