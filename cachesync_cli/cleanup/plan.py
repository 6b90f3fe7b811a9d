"""Which cleanups a `cachesync cleanup` command runs: `[[cleanup]]` entries named on the command
line (all of them when none is named), or targets given as a Redis URL, `memcached://` servers
or a directory path, with the command's flags applied. Every entry, from the file or the
command line, goes through the registry's `validate_entry`: one validation path, one kind of
error message.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

from cachesync_cli.errors import UsageError

POLICY_SETTINGS = ("max_idle", "max_age", "ttl")
SCHEDULE_SETTINGS = ("every", "cron", "jitter")


def adhoc_entry(text: str) -> dict[str, Any] | None:
    """An entry for a target written on the command line, or None if `text` is not one."""
    if text.startswith(("redis://", "rediss://", "unix://")):
        return {"type": "redis", "url": text}
    if text.startswith("memcached://"):
        servers = [s for s in text[len("memcached://"):].rstrip("/").split(",") if s]
        return {"type": "memcached", "servers": servers or ["127.0.0.1:11211"]}
    if "/" in text or text.startswith((".", "~")):
        return {"type": "directory", "path": text}
    return None


def select_entries(configured: list[Mapping[str, Any]], targets: list[str], overrides: Mapping[str, Any],
                   config_path: str | None) -> list[dict[str, Any]]:
    """The validated entries to run. `overrides` are the flags given (None values: not given)."""
    from cachesync_cli.entries import validate_entry

    flags = {k: v for k, v in overrides.items() if v is not None}
    by_name = {entry["name"]: (index, entry) for index, entry in enumerate(configured)}
    chosen: list[tuple[int, Mapping[str, Any], str]] = []
    if not targets:
        if not configured:
            raise UsageError("nothing to clean up: no [[cleanup]] entries in the config and no TARGET given",
                             hint="name targets: cachesync cleanup redis://127.0.0.1:6379/0 /var/cache/app "
                                  "memcached://127.0.0.1:11211, or add [[cleanup]] entries (docs/cleanup.md)")
        chosen = [(index, entry, f"{config_path} (with flags)" if flags else str(config_path))
                  for index, entry in enumerate(configured)]
    for position, text in enumerate(targets):
        if text in by_name:
            index, entry = by_name[text]
            chosen.append((index, entry, f"{config_path} (with flags)" if flags else str(config_path)))
            continue
        entry = adhoc_entry(text)
        if entry is None:
            close = difflib.get_close_matches(text, list(by_name), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            known = f"entries: {', '.join(by_name)}; " if by_name else ""
            raise UsageError(f"no [[cleanup]] entry named {text!r}",
                             hint=f"{hint}{known}or give redis://HOST:PORT/DB, memcached://HOST:PORT[,HOST:PORT], "
                                  "or a directory path")
        chosen.append((position, entry, "command line"))
    result = []
    for index, entry, where in chosen:
        raw = {key: value for key, value in entry.items() if value is not None}
        if "policy" in flags:
            for key in POLICY_SETTINGS:
                raw.pop(key, None)
        if "every" in flags or "cron" in flags:
            for key in SCHEDULE_SETTINGS:
                raw.pop(key, None)
        raw.update(flags)
        name = raw.pop("name", None)
        checked = validate_entry("cleanup", index, raw, where)
        checked["name"] = name or checked["name"]
        result.append(checked)
    names = [entry["name"] for entry in result]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise UsageError(f"cleanup target(s) {', '.join(map(repr, duplicates))} given more than once",
                         hint="each target runs once per run; give each [[cleanup]] entry its own name")
    return result
