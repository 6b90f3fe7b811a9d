"""Durations as people write them: "90s", "10m", "2h", "7d", "1h30m", or a number of seconds.

Used by `[[cleanup]]` entries (`max_idle`, `max_age`, `ttl`, `every`, `jitter`), by the
`cleanup` command's flags and by `doctor --wait`. The checker returns seconds as a float.
"""

from __future__ import annotations

import re
from typing import Any

UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
HELP = 'a duration: seconds, or a number with a unit, e.g. "30s", "10m", "2h", "7d", "1h30m"'


def parse_duration(value: Any, *, zero_ok: bool = False) -> float:
    """Seconds in `value` (a number, or text like "10m" or "1h30m"); ValueError if not > 0
    (or, with `zero_ok`, if negative)."""
    if isinstance(value, bool):
        raise ValueError(f"must be {HELP}")
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip().lower().replace(" ", "")
        if re.fullmatch(r"\d+(?:\.\d+)?", text):
            seconds = float(text)
        else:
            parts = _PART.findall(text)
            if not parts or "".join(n + u for n, u in parts) != text:
                raise ValueError(f"{value!r} is not {HELP}")
            seconds = sum(float(number) * UNITS[unit] for number, unit in parts)
    else:
        raise ValueError(f"must be {HELP}")
    if seconds < 0 or (seconds == 0 and not zero_ok):
        raise ValueError(f"{value!r}: must be {'0 or more' if zero_ok else 'more than 0'} seconds")
    return seconds


def duration(value: Any) -> float:
    """Config checker: a duration > 0, as seconds."""
    return parse_duration(value)


def format_duration(seconds: float) -> str:
    """Compact text for people: 90 -> "1m30s", 0.25 -> "0.25s", 86400 -> "1d"."""
    if seconds < 60:
        return f"{seconds:g}s"
    out, rest = [], round(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if rest >= size:
            out.append(f"{rest // size}{unit}")
            rest %= size
    return "".join(out)
