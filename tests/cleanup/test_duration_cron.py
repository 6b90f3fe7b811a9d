"""Durations and cron expressions: parsing, errors, next fire times; schedules."""

from __future__ import annotations

from datetime import datetime

import pytest

from cachesync_cli.entries.cron import CronSchedule
from cachesync_cli.entries.duration import format_duration, parse_duration
from cachesync_cli.cleanup.schedule import Schedule


@pytest.mark.parametrize("text, seconds", [
    ("90", 90), (90, 90), (1.5, 1.5), ("30s", 30), ("10m", 600), ("2h", 7200), ("7d", 604800), ("1w", 604800),
    ("1h30m", 5400), ("500ms", 0.5), (" 2H ", 7200), ("1.5h", 5400),
])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "10x", "m", "-5", 0, "0s", True, "1h 30", None, "5m3"])
def test_bad_durations(text):
    with pytest.raises(ValueError):
        parse_duration(text)


def test_zero_only_when_allowed():
    assert parse_duration("0", zero_ok=True) == 0 and parse_duration("1d", zero_ok=True) == 86400
    for text in ("0", "0s"):
        with pytest.raises(ValueError):
            parse_duration(text)
    with pytest.raises(ValueError):
        parse_duration("-1", zero_ok=True)


def test_format_duration():
    assert [format_duration(s) for s in (0.25, 59, 90, 3600, 86400 + 60)] == ["0.25s", "59s", "1m30s", "1h", "1d1m"]


def nxt(expr: str, when: str) -> str:
    fire = CronSchedule.parse(expr).next_after(datetime.fromisoformat(when))
    return fire.isoformat(sep=" ", timespec="minutes")


@pytest.mark.parametrize("expr, when, expected", [
    ("* * * * *", "2026-03-01 10:00:30", "2026-03-01 10:01"),
    ("*/15 * * * *", "2026-03-01 10:00:00", "2026-03-01 10:15"),
    ("*/15 * * * *", "2026-03-01 10:59:59", "2026-03-01 11:00"),
    ("0 3 * * *", "2026-03-01 03:00:00", "2026-03-02 03:00"),
    ("5,35 1-3 * * *", "2026-03-01 03:36:00", "2026-03-02 01:05"),
    ("0 0 1 * *", "2026-12-15 00:00:00", "2027-01-01 00:00"),
    ("0 0 29 2 *", "2026-03-01 00:00:00", "2028-02-29 00:00"),
    ("0 12 * * 0", "2026-03-02 00:00:00", "2026-03-08 12:00"),  # 2026-03-08 is a Sunday
    ("0 12 * * 7", "2026-03-02 00:00:00", "2026-03-08 12:00"),  # 7 is Sunday too
    ("0 12 * * 1-5/2", "2026-03-03 13:00:00", "2026-03-04 12:00"),  # Mon, Wed, Fri
    ("0 0 13 * 5", "2026-03-01 00:00:00", "2026-03-06 00:00"),  # day 13 OR Friday (Vixie)
    ("10/20 * * * *", "2026-03-01 10:31:00", "2026-03-01 10:50"),  # a/n: from a to the end, by n
    ("0 9-17/4 * * *", "2026-03-01 10:00:00", "2026-03-01 13:00"),
])
def test_next_fire_times(expr, when, expected):
    assert nxt(expr, when) == expected


@pytest.mark.parametrize("expr, message", [
    ("* * * *", "5 fields"), ("60 * * * *", "outside 0-59"), ("* 24 * * *", "outside 0-23"),
    ("* * 0 * *", "outside 1-31"), ("*/0 * * * *", "step"), ("5-1 * * * *", "backwards"),
    ("mon * * * *", "not \\*"), ("0 0 30 2 *", "never fires"), ("* * * * 8", "outside 0-7"),
])
def test_bad_cron_expressions(expr, message):
    with pytest.raises(ValueError, match=message):
        CronSchedule.parse(expr)


def test_interval_schedule_keeps_its_rate_and_never_plans_in_the_past():
    schedule = Schedule(every=10.0)
    assert schedule.next_planned(None, 100.0) == 110.0
    assert schedule.next_planned(110.0, 113.0) == 120.0  # measured from the planned start: no drift
    assert schedule.next_planned(110.0, 135.0) == 135.0  # the run outlasted the interval: next at once


def test_cron_schedule_and_jitter():
    schedule = Schedule(cron=CronSchedule.parse("*/15 * * * *"), jitter=30.0)
    start = datetime(2026, 3, 1, 10, 1).timestamp()
    assert schedule.next_planned(None, start) == datetime(2026, 3, 1, 10, 15).timestamp()
    delays = [schedule.delay() for _ in range(200)]
    assert all(0 <= d <= 30 for d in delays) and len(set(delays)) > 100
    assert "cron '*/15 * * * *' (jitter up to 30s)" == schedule.describe()
    assert Schedule(every=600).delay() == 0
