"""Key templates: how (cache, key, tenant, manager) map to a key in a store, and back.

A template such as "{cache}:{key}" or "t:{tenant}:{cache}:{key}" says where an
application keeps a cache entry. Targets `render` it to find the keys to delete;
the Redis target turns it into a SCAN glob for `all`; the Redis keyspace source
`parse`s a Redis key back into its parts.

A gap flush (`Invalidation.reason == "gap-flush"`) names caches by pattern: "*" is every
cache, "manager/cache" patterns name a manager too (`split_flush_pattern`).

A template needs a value for each placeholder it uses: `{tenant}` comes from the
invalidation's tenant domain, `{manager}` from the item's cache manager. When a
value is missing, `render` raises `MissingValue` (targets skip that item with a
warning: there is no key to compute, and retrying would not make one).
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass

PLACEHOLDERS = ("cache", "key", "tenant", "manager")
_GLOB_SPECIAL = re.compile(r"([*?\[\]\\])")


class MissingValue(ValueError):
    """The template uses {tenant} or {manager} and the invalidation does not carry it."""


def escape_glob(text: str) -> str:
    """`text` as a literal in a Redis glob pattern (SCAN MATCH): escapes * ? [ ] and \\."""
    return _GLOB_SPECIAL.sub(r"\\\1", text)


def split_flush_pattern(pattern: str) -> tuple[str, str | None]:
    """(cache pattern, manager pattern or None) of a gap-flush item's cache ("M/C" or "C")."""
    manager, sep, cache = pattern.rpartition("/")
    return (cache, manager) if sep and manager else (pattern, None)


def is_flush_pattern(invalidation, item) -> bool:
    """Whether `item` of `invalidation` names its cache by glob pattern (a gap flush's `all`)."""
    return item.all and invalidation.reason == "gap-flush"


@dataclass(frozen=True)
class Part:
    literal: str
    field: str | None  # the placeholder after the literal, None at the end


class KeyTemplate:
    """A parsed key template (validated by the config schema: uses only the four placeholders)."""

    def __init__(self, template: str) -> None:
        self.template = template
        self.parts = tuple(Part(literal, field) for literal, field, _, _ in string.Formatter().parse(template))
        self.fields = frozenset(p.field for p in self.parts if p.field)
        unknown = self.fields - set(PLACEHOLDERS)
        if unknown or "key" not in self.fields:
            raise ValueError(f"template {template!r}: needs {{key}} and only {{cache}}, {{key}}, {{tenant}}, "
                             f"{{manager}}")
        self._regex = re.compile(self._build_regex(), re.DOTALL)

    def values(self, cache: str, key: str, tenant: str | None, manager: str | None) -> dict[str, str]:
        values = {"cache": cache, "key": key, "tenant": tenant, "manager": manager}
        for name in self.fields:
            if values[name] is None:
                raise MissingValue(f"template {self.template!r} needs {{{name}}} and the invalidation has none")
        return {name: value for name, value in values.items() if value is not None}

    def render(self, cache: str, key: str, tenant: str | None = None, manager: str | None = None,
               *, encode=None) -> str:
        """The store key of `key` in `cache`; `encode` (if given) is applied to each value."""
        values = self.values(cache, key, tenant, manager)
        if encode is not None:
            values = {name: encode(value) for name, value in values.items()}
        return "".join(p.literal + (values[p.field] if p.field else "") for p in self.parts)

    def prefix(self, cache: str, tenant: str | None = None, manager: str | None = None, *, encode=None) -> str:
        """Everything before the first {key}, rendered: the part shared by every key of a cache."""
        out = []
        values = self.values(cache, "", tenant, manager)
        for p in self.parts:
            out.append(p.literal)
            if p.field == "key":
                break
            if p.field:
                out.append(encode(values[p.field]) if encode else values[p.field])
        return "".join(out)

    def glob(self, cache: str, tenant: str | None = None, manager: str | None = None) -> str:
        """A Redis glob matching every key of `cache`: literals and values escaped, {key} -> *."""
        values = {name: escape_glob(value) for name, value in self.values(cache, "", tenant, manager).items()}
        return self._glob(values)

    def glob_of_patterns(self, cache: str, tenant: str | None = None, manager: str | None = None) -> str:
        """A Redis glob from glob patterns (a gap flush's "*", "OAuth*"): values are kept as
        patterns, a missing tenant or manager matches any; literals are escaped."""
        values = {"cache": cache, "tenant": tenant or "*", "manager": manager or "*"}
        return self._glob(values)

    def _glob(self, values: dict[str, str]) -> str:
        return "".join(escape_glob(p.literal) + ("*" if p.field == "key" else values[p.field] if p.field else "")
                       for p in self.parts)

    def parse(self, store_key: str) -> dict[str, str] | None:
        """The placeholder values a store key was made from, or None when it does not fit.

        Literal parts split the placeholders: {cache}, {tenant} and {manager} cannot contain
        the literal that follows them; {key} takes the rest (it may contain separators)."""
        match = self._regex.fullmatch(store_key)
        return match.groupdict() if match else None

    def _build_regex(self) -> str:
        out, seen = [], set()
        for index, part in enumerate(self.parts):
            out.append(re.escape(part.literal))
            if part.field is None:
                continue
            if part.field in seen:
                out.append(f"(?P={part.field})")
                continue
            seen.add(part.field)
            following = self.parts[index + 1].literal if index + 1 < len(self.parts) else ""
            if part.field == "key":
                out.append(f"(?P<key>.{'*?' if following else '*'})")
            elif following:
                out.append(f"(?P<{part.field}>(?:(?!{re.escape(following)}).)+)")
            else:
                out.append(f"(?P<{part.field}>.+?)")
        return "".join(out)
