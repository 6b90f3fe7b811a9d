"""The values an entry's fields and the settings hold: checkers, and the `Field` and `EntryType` they make up.

A checker takes a value read from TOML (or the environment) and returns it normalised, or raises
ValueError saying what is allowed; the caller adds the file, the entry and the key.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# A checker returns the normalised value or raises ValueError with what is allowed.
Checker = Callable[[Any], Any]


def text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("must be a string")
    return value


def nonempty_text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("must be a non-empty string")
    return value


def boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError("must be true or false")
    return value


def positive_number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ValueError("must be a number greater than 0")
    return float(value)


def positive_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError("must be a whole number greater than 0")
    return value


def choice(*allowed: str) -> Checker:
    def check(value: Any) -> str:
        if value not in allowed:
            raise ValueError(f"must be one of {', '.join(repr(a) for a in allowed)}")
        return value

    check.allowed = allowed  # type: ignore[attr-defined]
    return check


def text_list(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ValueError("must be a list of non-empty strings")
    return list(value)


def nonempty_text_list(value: Any) -> list[str]:
    if not text_list(value):
        raise ValueError("must be a non-empty list of non-empty strings")
    return list(value)


def secret_source(value: Any) -> str:
    """Where a secret is: "env:NAME" or "file:PATH"."""
    if not isinstance(value, str) or not value.startswith(("env:", "file:")) or len(value) < 5:
        raise ValueError('must be "env:NAME" or "file:PATH"')
    return value


def listen_address(value: Any) -> str:
    """HOST:PORT to listen on."""
    if not isinstance(value, str) or value.count(":") < 1:
        raise ValueError('must be "HOST:PORT", e.g. "127.0.0.1:8765"')
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError('must be "HOST:PORT", e.g. "127.0.0.1:8765"')
    return value


def key_template(value: Any) -> str:
    """A key template such as "{cache}:{key}": must contain {key}."""
    if not isinstance(value, str) or "{key}" not in value:
        raise ValueError('must be a string containing {key}, e.g. "{cache}:{key}"')
    try:
        value.format(cache="c", key="k", tenant="t", manager="m")
    except (KeyError, IndexError, ValueError) as exc:
        raise ValueError(f"may use only {{cache}}, {{key}}, {{tenant}}, {{manager}} ({exc})") from None
    return value


def non_negative_number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ValueError("must be a number, 0 or more")
    return float(value)


def broker_urls(value: Any) -> list[str]:
    """One URL, or a list of them in failover order."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise ValueError("must be a URL string or a non-empty list of URL strings")
    from cachesync_cli.transport.endpoint import parse_endpoint

    for url in value:
        parse_endpoint(url)  # raises UsageError naming the scheme/host; loader adds file and key
    return list(value)


@dataclass(frozen=True)
class Field:
    """One key of an entry in an array of tables ([[sources]], [[targets]], ...)."""

    name: str
    check: Checker
    default: Any = None
    help: str = ""
    required: bool = False
    example: str | None = None


@dataclass(frozen=True)
class EntryType:
    """One `type = "..."` of an array of tables: its class (imported lazily) and its fields."""

    name: str
    target: str  # "module:Class"
    help: str
    fields: tuple[Field, ...]
    check_entry: Callable[[dict[str, Any]], None] | None = None  # whole-entry rules; raises ValueError


def by_name(*types: EntryType) -> dict[str, EntryType]:
    """An array's table of kinds, by `type` name, in the order given (the docs' order)."""
    return {t.name: t for t in types}


# Fields several kinds of entry share.
NAME = Field("name", nonempty_text, None, "A name for logs, metrics and health (default: the type and index).")
REDIS_URL = Field("url", nonempty_text, "redis://127.0.0.1:6379/0", "Redis URL (redis:// or rediss://, db in the path).",
                  example='"redis://127.0.0.1:6379/0"')
TEMPLATE = Field("template", key_template, "{cache}:{key}",
                 "How a cache and key map to a key in this store: {cache}, {key}, {tenant}, {manager}.",
                 example='"{cache}:{key}"')
CACHES = Field("caches", nonempty_text_list, None,
               "Only these caches (cache or manager/cache names, * wildcards). Default: all.",
               example='["AppInfoCache", "OAuth*"]')
MEMCACHED_SERVERS = Field("servers", nonempty_text_list, ["127.0.0.1:11211"], "memcached servers, HOST:PORT.",
                          example='["127.0.0.1:11211"]')
DIRECTORY_PATH = Field("path", nonempty_text, None, "The cache directory.", required=True,
                       example='"/var/cache/app"')
