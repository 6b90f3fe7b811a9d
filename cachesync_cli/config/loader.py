"""Find, read and validate `cachesync.toml`, then apply environment and command-line overrides.

Precedence, highest first: command-line flag > environment variable > config file > default.
Every value remembers where it came from, for `config show`.

The file, first found: --config PATH > --context NAME > $CACHESYNC_CONFIG > $CACHESYNC_CONTEXT >
the context selected with `cachesync context use` > ./cachesync.toml > the user config dir's
cachesync.toml. A file or context named explicitly must exist.
"""

from __future__ import annotations

import difflib
import logging
import os
import stat
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cachesync_cli.config.schema import BY_KEY, ENTRY_ARRAYS, HEARTBEATS_PER_SILENCE, SECTIONS, SETTINGS
from cachesync_cli.entries import validate_entry
from cachesync_cli.errors import ConfigError, UsageError

log = logging.getLogger("cachesync.config")

CONFIG_ENV = "CACHESYNC_CONFIG"
FILE_NAME = "cachesync.toml"
NO_BROKER_HINT = "pass --broker URL, set $CACHESYNC_BROKER, or set [broker] url in cachesync.toml"


def user_config_path() -> Path:
    from cachesync_cli.config.contexts import config_dir

    return config_dir() / FILE_NAME


def find_config_file(explicit: str | os.PathLike | None, environ: Mapping[str, str],
                     context: str | None = None) -> tuple[Path | None, str]:
    """The config file to read and why (see the module's docstring for the order); `context` is
    the command line's --context."""
    from cachesync_cli.config import contexts

    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise ConfigError(f"config file {path} (from --config) does not exist",
                              hint="create one with `cachesync config init PATH`")
        return path, "--config"
    if context:
        return contexts.resolve(context, "--context"), f"--context {context}"
    if environ.get(CONFIG_ENV):
        path = Path(environ[CONFIG_ENV]).expanduser()
        if not path.is_file():
            raise ConfigError(f"config file {path} (from ${CONFIG_ENV}) does not exist",
                              hint=f"fix or unset {CONFIG_ENV}")
        return path, f"${CONFIG_ENV}"
    if environ.get(contexts.CONTEXT_ENV):
        name = environ[contexts.CONTEXT_ENV]
        why = f"${contexts.CONTEXT_ENV}"
        return contexts.resolve(name, why), f"${contexts.CONTEXT_ENV}={name}"
    name = contexts.selected()
    if name:
        why = "`cachesync context use`"
        return contexts.resolve(name, why), f"the context in use, {name!r}"
    for path, why in ((Path.cwd() / FILE_NAME, "current directory"), (user_config_path(), "user config dir")):
        if path.is_file():
            return path, why
    return None, "none found"


@dataclass
class Config:
    """The effective configuration: a value and its source for every setting."""

    values: dict[str, Any]
    sources: dict[str, str]
    path: Path | None = None
    path_reason: str = ""
    environ: Mapping[str, str] = field(default_factory=dict, repr=False)

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    def source(self, key: str) -> str:
        return self.sources.get(key, "default")

    def broker_urls(self) -> list[str]:
        """The broker URLs in failover order; a UsageError when there is none."""
        if not self.values["broker.url"]:
            raise UsageError("no broker configured", hint=NO_BROKER_HINT)
        return self.values["broker.url"]

    def where(self, key: str) -> str:
        """Where a setting is written, for error messages: `cachesync.toml: [broker] url`."""
        setting = BY_KEY[key]
        origin = self.source(key)
        if origin.startswith("file") and self.path:
            return f"{self.path}: [{setting.section}] {setting.name}"
        return f"{key} (from {origin})"


def _flatten(data: dict[str, Any], path: Path) -> dict[str, Any]:
    """{"broker": {"tls": {"verify": true}}} -> {"broker.tls.verify": true}, rejecting unknown keys.
    Arrays of tables ([[sources]], [[targets]]) are kept whole under their name."""
    flat: dict[str, Any] = {}

    def walk(table: dict[str, Any], prefix: str) -> None:
        for name, value in table.items():
            key = f"{prefix}{name}"
            if not prefix and name in ENTRY_ARRAYS:
                flat[key] = value
            elif key in BY_KEY:
                flat[key] = value
            elif isinstance(value, dict) and key in SECTIONS:
                walk(value, key + ".")
            else:
                section = prefix[:-1]
                if section:
                    known = [s.name for s in SETTINGS if s.section == section]
                    known += [s.rsplit(".", 1)[1] for s in SECTIONS if s.startswith(section + ".")]
                    where = f"[{section}]"
                else:
                    known = [s for s in SECTIONS if "." not in s] + list(ENTRY_ARRAYS)
                    where = "the top level"
                close = difflib.get_close_matches(name, known, n=1)
                hint = f"did you mean {close[0]!r}? " if close else ""
                raise ConfigError(f"{path}: unknown key {name!r} in {where}",
                                  hint=f"{hint}allowed: {', '.join(known)}")

    walk(data, "")
    return flat


def _check(key: str, value: Any, where: str) -> Any:
    setting = BY_KEY[key]
    try:
        return setting.check(value)
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    except UsageError as exc:
        raise ConfigError(f"{where}: {exc.message}", hint=exc.hint) from None


def read_config_file(path: Path) -> dict[str, Any]:
    """The validated settings of one file, as dotted keys."""
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    flat = _flatten(data, path)
    result = {}
    for key, value in flat.items():
        if key in ENTRY_ARRAYS:
            if not isinstance(value, list):
                raise ConfigError(f"{path}: {key} must be an array of tables: write [[{key}]]")
            result[key] = [validate_entry(key, index, entry, str(path)) for index, entry in enumerate(value)]
        else:
            result[key] = _check(key, value, f"{path}: [{BY_KEY[key].section}] {BY_KEY[key].name}")
    return result


def load_config(
    config_path: str | os.PathLike | None = None,
    *,
    overrides: Mapping[str, tuple[Any, str]] | None = None,
    environ: Mapping[str, str] | None = None,
    context: str | None = None,
) -> Config:
    """The effective configuration. `overrides` maps dotted keys to (value, flag) from the
    command line; a value of None or [] means the flag was not given. `context` is --context."""
    environ = os.environ if environ is None else environ
    path, reason = find_config_file(config_path, environ, context)
    values: dict[str, Any] = {s.key: s.default for s in SETTINGS}
    values.update({name: [] for name in ENTRY_ARRAYS})
    sources = {key: "default" for key in values}
    if path is not None:
        try:
            settings = read_config_file(path)
        except ConfigError as error:
            if "context" not in reason.lower():
                raise
            raise ConfigError(f"{reason}: {error.message}", hint=error.hint) from None
        for key, value in settings.items():
            values[key], sources[key] = value, f"file {path}"
        if any(_has_password(url) for url in values["broker.url"] or ()):
            warn_if_readable_by_others(path, "holds a broker password (in [broker] url)")
    for setting in SETTINGS:
        raw = environ.get(setting.env) if setting.env else None
        if raw:
            value = [u.strip() for u in raw.split(",") if u.strip()] if setting.key == "broker.url" else raw
            values[setting.key] = _check(setting.key, value, f"${setting.env}")
            sources[setting.key] = f"env ${setting.env}"
    for key, (value, flag) in (overrides or {}).items():
        if value is None or value == []:
            continue
        values[key] = _check(key, value, flag)
        sources[key] = f"flag {flag}"
    _check_together(values, sources)
    return Config(values=values, sources=sources, path=path, path_reason=reason, environ=environ)


def load_for_command(config_path: str | os.PathLike | None, broker: list[str] | None = None,
                     topic: str | None = None, *, context: str | None = None,
                     **overrides: tuple[Any, str]) -> Config:
    """The effective configuration for a command: its --broker and --topic (and any other
    `overrides`, dotted key -> (value, flag)) over the environment and the file."""
    flags: dict[str, tuple[Any, str]] = {"broker.url": (broker, "--broker"), "broker.topic": (topic, "--topic")}
    flags.update(overrides)
    return load_config(config_path, overrides=flags, context=context)


def _check_together(values: Mapping[str, Any], sources: Mapping[str, str]) -> None:
    """Rules between settings: max_silence must leave room for several heartbeats."""
    silence, interval = values["sync.max_silence"], values["sync.heartbeat_interval"]
    if silence and silence < HEARTBEATS_PER_SILENCE * interval:
        raise ConfigError(
            f"[sync] max_silence = {silence:g} ({sources['sync.max_silence']}) is less than "
            f"{HEARTBEATS_PER_SILENCE} x heartbeat_interval = {interval:g} ({sources['sync.heartbeat_interval']}): "
            "one late heartbeat would flush every cache",
            hint=f"raise max_silence to {HEARTBEATS_PER_SILENCE * interval:g} or more, lower heartbeat_interval "
                 "to max_silence / 4, or set max_silence = 0 to turn the bound off")


def _has_password(url: str) -> bool:
    from urllib.parse import urlsplit

    try:
        return urlsplit(url).password is not None
    except ValueError:
        return False


def warn_if_readable_by_others(path: Path, what: str) -> None:
    """Log a warning when a file holding a secret may be read by its group or by others."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return
    if mode & 0o077:
        log.warning("%s %s and is readable by %s (mode %04o): run `chmod 600 %s`", path, what,
                    "others" if mode & 0o007 else "its group", mode, path)
