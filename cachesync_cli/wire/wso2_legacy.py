"""The WSO2 connector's text format of versions 2.0.x to 2.1.8 (docs/wire.md §4).

Those versions sent `ClusterCacheInvalidationRequest.toString()` as the TextMessage:

    ClusterCacheInvalidationRequest{tenantId=-1234, tenantDomain='carbon.super',
    messageId=<uuid>, cacheManager=<manager>, cache=$__local__$.<cache>, cacheKey=<key>}

(one line), and read it back with a regular expression (`CONNECTOR_PATTERN`, run with
`find()`): a key ends at its first `}`, `.` does not cross a line terminator, and domains
and managers must be `[\\w.]+` in ASCII. So this module reads a text exactly (the key is
everything up to the closing brace) and refuses to write what the connector would read
wrong or drop. A key object without its own `toString()` travels as `Class@hash`, which
names nothing on another node: it is read as `ObjectKeyText`, for the receiver to flush
that cache rather than drop the invalidation.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from cachesync_cli.errors import DecodeError

PREFIX = "ClusterCacheInvalidationRequest{"
LINE_TERMINATORS = "\n\r\u0085\u2028\u2029"
"""What Java's `.` does not match (Pattern without DOTALL)."""

# The connector's own pattern (JMSConsumer.invalidateCache, v2.0.x-2.1.8), in Python terms:
# Java's \w is ASCII-only and its `.` stops at every line terminator.
_DOT = f"[^{LINE_TERMINATORS}]"
CONNECTOR_PATTERN = re.compile(
    r"ClusterCacheInvalidationRequest\{tenantId=(?P<tenantId>-?\d+), tenantDomain='(?P<tenantDomain>[\w.]+)', "
    r"messageId=(?P<messageId>[\w-]+), cacheManager=(?P<cacheManager>[\w.]+), "
    rf"cache=(?P<cache>{_DOT}*?), cacheKey=(?P<cacheKey>{_DOT}*?)\}}",
    re.ASCII)

_TEXT = re.compile(
    r"ClusterCacheInvalidationRequest\{tenantId=(?P<tenant_id>-?\d{1,10}), tenantDomain='(?P<domain>.*?)', "
    r"messageId=(?P<message_id>[^,]*), cacheManager=(?P<manager>.*?), cache=(?P<cache>.*?), "
    r"cacheKey=(?P<key>.*)\}",
    re.DOTALL)
_OBJECT_KEY = re.compile(r"(?:[A-Za-z_$][\w$]*\.)+[A-Za-z_$][\w$]*@[0-9a-f]{1,8}", re.ASCII)
_CONNECTOR_NAME = re.compile(r"[\w.]+", re.ASCII)


@dataclass(frozen=True)
class ObjectKeyText:
    """A key the sender printed as `Class@hash`: it cannot name the entry to remove."""

    text: str

    @property
    def class_name(self) -> str:
        return self.text.rsplit("@", 1)[0]


@dataclass(frozen=True)
class LegacyRequest:
    tenant_id: int
    tenant_domain: str
    manager: str
    cache: str  # as sent, with the $__local__$. prefix
    key: str | ObjectKeyText
    message_id: str


def parse_legacy(text: str) -> LegacyRequest:
    """Read one legacy text exactly, or raise `DecodeError` (reason "invalid")."""
    match = _TEXT.fullmatch(text)
    if match is None:
        raise DecodeError("not a ClusterCacheInvalidationRequest{tenantId=..., tenantDomain='...', messageId=..., "
                          "cacheManager=..., cache=..., cacheKey=...} text", reason="invalid")
    tenant_id = int(match["tenant_id"])
    if not -2**31 <= tenant_id < 2**31:
        raise DecodeError(f"tenantId {tenant_id} is not a Java int", reason="invalid")
    key = match["key"]
    return LegacyRequest(tenant_id=tenant_id, tenant_domain=match["domain"], manager=match["manager"],
                         cache=match["cache"], message_id=match["message_id"],
                         key=ObjectKeyText(key) if _OBJECT_KEY.fullmatch(key) else key)


def format_legacy(*, tenant_id: int, tenant_domain: str, manager: str, cache: str, key: str,
                  message_id: str | None = None) -> str:
    """The text a 2.0.x-2.1.8 connector reads as exactly these values.

    Raises `ValueError` naming what it cannot carry: a key with `}` or a line terminator,
    a domain or manager outside ASCII `[\\w.]+`, a cache name with a line terminator or
    `, cacheKey=`."""
    problem = legacy_name_problem(manager, tenant_domain, cache) or legacy_key_problem(key)
    if problem:
        raise ValueError(problem)
    message_id = message_id or str(uuid.uuid4())
    return (f"{PREFIX}tenantId={tenant_id}, tenantDomain='{tenant_domain}', messageId={message_id}, "
            f"cacheManager={manager}, cache={cache}, cacheKey={key}}}")


def legacy_name_problem(manager: str, tenant_domain: str, cache: str) -> str | None:
    """Why the legacy text cannot carry these names (None when it can)."""
    if not _CONNECTOR_NAME.fullmatch(tenant_domain):
        return (f"tenant domain {tenant_domain!r}: the legacy format carries only ASCII letters, digits, '_' "
                "and '.' (the 2.1.8 connector drops the message)")
    if not _CONNECTOR_NAME.fullmatch(manager):
        return (f"cache manager {manager!r}: the legacy format carries only ASCII letters, digits, '_' and '.' "
                "(the 2.1.8 connector drops the message)")
    if _has_line_terminator(cache) or ", cacheKey=" in cache:
        return f"cache name {cache!r} cannot be carried by the legacy format"
    return None


def legacy_key_problem(key: str) -> str | None:
    """Why the legacy text cannot carry `key` (None when it can)."""
    if "}" in key or _has_line_terminator(key):
        return ("a key with '}' or a line break cannot be carried by the legacy format "
                "(the 2.1.8 connector would remove another key or drop the message)")
    return None


def _has_line_terminator(text: str) -> bool:
    return any(char in text for char in LINE_TERMINATORS)
