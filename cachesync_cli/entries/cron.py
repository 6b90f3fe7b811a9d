"""Five-field cron expressions ("*/15 * * * *") and the next time they fire.

The subset of Vixie cron that schedules need: minute, hour, day of month, month, day of
week; each field `*`, a number, a range `a-b`, a step `*/n`, `a-b/n` or `a/n`, or a
comma-separated list of these. Day of week is 0-7 (0 and 7 are Sunday). No names (`mon`,
`jan`), no `@daily`, no seconds. As in Vixie cron, when both day of month and day of week
are restricted a day matching either fires. Times are this host's local time (UTC in most
containers).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12), ("day of week", 0, 7))
HORIZON_DAYS = 366 * 8  # long enough for Feb 29 on a given weekday; beyond it nothing ever fires


def _parse_field(text: str, name: str, low: int, high: int) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        body, slash, step_text = part.partition("/")
        step = 1
        if slash:
            if not step_text.isdigit() or int(step_text) == 0:
                raise ValueError(f"{name}: step {step_text!r} in {part!r} must be a whole number > 0")
            step = int(step_text)
        if body == "*":
            start, end = low, high
        else:
            first, dash, last = body.partition("-")
            if not first.isdigit() or (dash and not last.isdigit()):
                raise ValueError(f"{name}: {part!r} is not *, a number, a range a-b or a step */n")
            start = int(first)
            end = int(last) if dash else (high if slash else start)
            if not (low <= start <= high and low <= end <= high):
                raise ValueError(f"{name}: {part!r} is outside {low}-{high}")
            if start > end:
                raise ValueError(f"{name}: range {part!r} goes backwards")
        values.update(range(start, end + 1, step))
    return frozenset(values)


@dataclass(frozen=True)
class CronSchedule:
    expression: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday ... 6 = Saturday
    any_day: bool  # day of month is *
    any_weekday: bool  # day of week is *

    @classmethod
    def parse(cls, expression: str) -> "CronSchedule":
        fields = expression.split()
        if len(fields) != 5:
            raise ValueError(f"{expression!r}: a cron expression has 5 fields (minute hour day-of-month month "
                             f"day-of-week), e.g. \"*/15 * * * *\"; this one has {len(fields)}")
        parsed = [_parse_field(text, *spec) for text, spec in zip(fields, FIELDS)]
        weekdays = frozenset(d % 7 for d in parsed[4])
        schedule = cls(expression, parsed[0], parsed[1], parsed[2], parsed[3], weekdays,
                       any_day=fields[2].startswith("*"), any_weekday=fields[4].startswith("*"))
        if schedule.next_after(datetime(2000, 1, 1)) is None:
            raise ValueError(f"{expression!r} never fires (no such day)")
        return schedule

    def _day_matches(self, when: datetime) -> bool:
        in_month = when.day in self.days
        in_week = (when.isoweekday() % 7) in self.weekdays
        if self.any_day or self.any_weekday:
            return in_month and in_week
        return in_month or in_week

    def next_after(self, when: datetime) -> datetime | None:
        """The first whole minute strictly after `when` (naive local time) that matches."""
        t = when.replace(second=0, microsecond=0) + timedelta(minutes=1)
        limit = t + timedelta(days=HORIZON_DAYS)
        while t < limit:
            if t.month not in self.months:
                t = (t.replace(day=1, hour=0, minute=0) + timedelta(days=32)).replace(day=1)
            elif not self._day_matches(t):
                t = t.replace(hour=0, minute=0) + timedelta(days=1)
            elif t.hour not in self.hours:
                t = t.replace(minute=0) + timedelta(hours=1)
            elif t.minute not in self.minutes:
                t += timedelta(minutes=1)
            else:
                return t
        return None


def cron_expression(value: Any) -> str:
    """Config checker: a valid 5-field cron expression (kept as text)."""
    if not isinstance(value, str):
        raise ValueError('must be a cron expression such as "*/15 * * * *"')
    CronSchedule.parse(value)
    return value
