"""Checks of a whole `[[cleanup]]` entry, beyond each field: a policy's setting is given,
settings of other policies are not, and a schedule is either `every` or `cron`.

Each raises ValueError; the registry's `validate_entry` adds the file, entry and type.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

POLICY_SETTING = {"max_idle": "max_idle", "max_age": "max_age", "ttl": "ttl"}


def policy_choice(kind: str, allowed: tuple[str, ...], why: str):
    """A checker for `policy` of one kind: one of `allowed`, with `why` for the others."""
    def check(value: Any) -> str:
        if value not in allowed:
            raise ValueError(f"policy {value!r} is not possible for {kind}: {why}; "
                             f"allowed: {', '.join(repr(a) for a in allowed)}")
        return value

    check.allowed = allowed  # type: ignore[attr-defined]
    return check


def check_cleanup_entry(entry: Mapping[str, Any]) -> None:
    policy = entry["policy"]
    for setting_policy, setting in POLICY_SETTING.items():
        if setting not in entry:
            continue
        if policy == setting_policy and entry[setting] is None:
            raise ValueError(f'policy = "{policy}" needs {setting} (a duration such as "10m", "7d")')
        if policy != setting_policy and entry[setting] is not None:
            raise ValueError(f'{setting} applies only to policy = "{setting_policy}" (this entry has '
                             f'policy = "{policy}")')
    if entry.get("every") is not None and entry.get("cron") is not None:
        raise ValueError("give either every or cron, not both")
    if entry.get("jitter") is not None and entry.get("every") is None and entry.get("cron") is None:
        raise ValueError("jitter needs a schedule (every or cron)")


def no_caches_for_memcached(value: Any) -> Any:
    raise ValueError("memcached cannot list keys: cleanup flushes whole servers (flush_all), so it cannot be "
                     "limited to caches; leave caches out")
