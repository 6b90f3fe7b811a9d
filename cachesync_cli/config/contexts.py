"""Named contexts: config files kept under the user config dir, one selected at a time, so an
operator of several deployments does not pass `--config` (as `nats context` does for natscli).

    $XDG_CONFIG_HOME/cachesync/contexts/NAME.toml   a context (a file, or a link to one)
    $XDG_CONFIG_HOME/cachesync/context              the name of the selected one

The lookup of the config file, with contexts in it, is in loader.py.
"""

from __future__ import annotations

import re
from pathlib import Path

from cachesync_cli.errors import ConfigError, UsageError

CONTEXT_ENV = "CACHESYNC_CONTEXT"
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def config_dir() -> Path:
    from platformdirs import user_config_dir

    return Path(user_config_dir("cachesync"))


def contexts_dir() -> Path:
    return config_dir() / "contexts"


def selection_file() -> Path:
    return config_dir() / "context"


def check_name(name: str) -> str:
    if not NAME_PATTERN.fullmatch(name) or len(name) > 64:
        raise UsageError(f"{name!r} is not a context name",
                         hint="use letters, digits, '.', '_' and '-', starting with a letter or digit")
    return name


def context_file(name: str) -> Path:
    return contexts_dir() / f"{check_name(name)}.toml"


def names() -> list[str]:
    """Every context, sorted."""
    folder = contexts_dir()
    if not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.glob("*.toml") if NAME_PATTERN.fullmatch(p.stem))


def selected() -> str | None:
    """The context chosen with `cachesync context use`, or None."""
    try:
        name = selection_file().read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(f"cannot read the selected context from {selection_file()}: {exc.strerror}") from None
    return name or None


def select(name: str | None) -> None:
    """Make `name` the selected context (None: no context selected)."""
    path = selection_file()
    if name is None:
        path.unlink(missing_ok=True)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(name + "\n", encoding="utf-8")
    tmp.replace(path)


def resolve(name: str, why: str) -> Path:
    """The file of context `name`, chosen by `why` (--context, $CACHESYNC_CONTEXT, ...); it must exist."""
    try:
        path = context_file(name)
    except UsageError as error:
        raise ConfigError(f"context {name!r} (from {why}): {error.message}", hint=error.hint) from None
    if path.is_symlink() and not path.exists():
        raise ConfigError(f"context {name!r} (from {why}) is a link to {path.resolve()}, which does not exist",
                          hint=f"restore that file, or `cachesync context add {name} --config PATH --force`")
    if not path.is_file():
        known = names()
        import difflib

        close = difflib.get_close_matches(name, known, n=1)
        hint = (f"did you mean {close[0]!r}? " if close else "") + (
            f"contexts: {', '.join(known)}" if known else f"create it: `cachesync context add {name}`")
        if "context use" in why:
            hint += "; `cachesync context use NAME` selects another, `cachesync context use --none` none"
        raise ConfigError(f"context {name!r} (from {why}) does not exist: no file {path}", hint=hint)
    return path
