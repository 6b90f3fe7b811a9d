"""Values the shell can complete for options and arguments: fixed choices, and cache names
read from the config file (the file only: completion never touches the network).

Typer calls these with what the user typed so far; each returns the candidates that start
with it. They must stay cheap: they run on every Tab.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable

import typer


def choices(*values: str) -> Callable[[str], list[str]]:
    """A completer for a fixed list, e.g. --format's."""

    def complete(incomplete: str) -> list[str]:
        return [value for value in values if value.startswith(incomplete)]

    return complete


def cache_names(ctx: typer.Context, incomplete: str) -> list[str]:
    """Cache names the config file mentions: [sync] allow/block/gap_flush, and the `caches` of
    sources and targets (wildcard patterns left out, `manager/` prefixes dropped)."""
    data = _config_data(ctx)
    names: set[str] = set()
    sync = data.get("sync", {}) if isinstance(data.get("sync"), dict) else {}
    for key in ("allow", "block", "gap_flush"):
        names.update(_plain(sync.get(key)))
    for array in ("sources", "targets"):
        for entry in data.get(array, []) if isinstance(data.get(array), list) else []:
            if isinstance(entry, dict):
                names.update(_plain(entry.get("caches")))
    return sorted(name for name in names if name.startswith(incomplete))


def _plain(values) -> Iterable[str]:
    if not isinstance(values, list):
        return ()
    return (v.rsplit("/", 1)[-1] for v in values if isinstance(v, str) and v and "*" not in v and "?" not in v)


def _config_data(ctx: typer.Context) -> dict:
    """The config file the command would read (--config, --context, $CACHESYNC_CONFIG, a context,
    ./cachesync.toml, the user config dir), parsed but not validated; {} when there is none or it is broken."""
    import tomllib

    from cachesync_cli.config.loader import find_config_file

    explicit = ctx.params.get("config") if ctx is not None else None
    context = ctx.find_root().params.get("context") if ctx is not None else None
    try:
        path, _ = find_config_file(explicit, os.environ, context)
        if path is None:
            return {}
        with open(path, "rb") as stream:
            return tomllib.load(stream)
    except Exception:  # completion must never print a traceback into the user's shell
        return {}


def context_names(incomplete: str) -> list[str]:
    """The contexts of `cachesync context add` (the file names only: nothing is read)."""
    try:
        from cachesync_cli.config.contexts import names

        return [name for name in names() if name.startswith(incomplete)]
    except Exception:  # completion must never print a traceback into the user's shell
        return []


def cleanup_targets(ctx: typer.Context, incomplete: str) -> list[str]:
    """`cleanup` TARGETs: the names of the config file's [[cleanup]] entries and, for what
    starts like a path (/, ., ~), the directories there."""
    if incomplete.startswith(("/", ".", "~")):
        return _directories(incomplete)
    entries = _config_data(ctx).get("cleanup", [])
    names = {entry.get("name") for entry in entries if isinstance(entry, dict)} if isinstance(entries, list) else ()
    return sorted(name for name in names if isinstance(name, str) and name.startswith(incomplete))


def _directories(incomplete: str) -> list[str]:
    head, _, prefix = incomplete.rpartition("/")
    base = os.path.expanduser(head + "/" if head or incomplete.startswith("/") else ".")
    try:
        found = [name for name in os.listdir(base) if name.startswith(prefix) and os.path.isdir(os.path.join(base, name))]
    except OSError:
        return []
    shown = head + "/" if head or incomplete.startswith("/") else ""
    return sorted(f"{shown}{name}/" for name in found)
