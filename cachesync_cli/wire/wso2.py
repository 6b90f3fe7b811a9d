"""The WSO2 Identity Server cache-sync format (docs/wire.md §3 and §4).

One key per message: a JSON body (connector 2.1.9+) naming tenant, cache manager and
cache, with the key as a base64 Java serialization stream, and a `sender` header naming
the producer; or, from connectors 2.0.x-2.1.8, the text of `wso2_legacy`. Both are read
(told apart by their first character); either or both are written (`BODY_FORMATS`).
Cache names travel with the `$__local__$.` prefix and are shown without it; clearing
a whole cache sends the key `$__clear__all__$.`. Only string keys can be published;
other keys (e.g. `OAuthCacheKey` objects) are read for display via `javaser`.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cachesync_cli.errors import DecodeError
from cachesync_cli.wire.envelope import INVALIDATE, Item, dumps_compact
from cachesync_cli.wire.javaser import JavaValue, describe, read_object, serialize_string
from cachesync_cli.wire.strictjson import DEFAULT_MAX_BYTES, parse_json_object
from cachesync_cli.wire.wso2_legacy import PREFIX as LEGACY_PREFIX
from cachesync_cli.wire.wso2_legacy import ObjectKeyText, format_legacy, parse_legacy

LOCAL_PREFIX = "$__local__$."
LEGACY_PREFIX_BYTES = LEGACY_PREFIX.encode("ascii")
CLEAR_ALL_KEY = "$__clear__all__$."
SENDER_HEADER = "sender"
DEFAULT_ORIGIN = "wso2"
"""The origin shown for a WSO2 message without a `sender`."""
BODY_FORMATS = ("json", "legacy", "both")
"""What a WSO2 producer writes: the 2.1.9+ JSON, the 2.0.x-2.1.8 text, or one of each
(clusters mid-upgrade)."""


@dataclass(frozen=True)
class Wso2Message:
    """One WSO2 invalidation. `cache` has no prefix; `key` is None when `clear_all`.

    `key` is a str, a JavaValue read from an object key's stream, or (legacy text only)
    an `ObjectKeyText` (`Class@hash`, which names no entry). `key_stream` is an object
    key's exact serialization stream (read from `cacheKeyBase64`, or to write there as it
    is). `body_format` is how it came."""

    tenant_domain: str
    tenant_id: int
    manager: str
    cache: str
    key: JavaValue = None
    clear_all: bool = False
    sender: str | None = None
    body_format: str = "json"
    key_stream: bytes | None = None


def add_local_prefix(cache: str) -> str:
    """The cache name as IS nodes expect it (with `$__local__$.`)."""
    return cache if cache.startswith(LOCAL_PREFIX) else LOCAL_PREFIX + cache


def strip_local_prefix(cache: str) -> str:
    """The cache name as shown and matched (without `$__local__$.`)."""
    return cache[len(LOCAL_PREFIX):] if cache.startswith(LOCAL_PREFIX) else cache


def encode_wso2(msg: Wso2Message, body_format: str = "json") -> tuple[bytes, dict[str, str]]:
    """Body and headers for one message in `body_format` ("json" or "legacy"). Raises
    `ValueError` for non-string keys, no sender, or what the legacy text cannot carry."""
    if msg.clear_all:
        key = CLEAR_ALL_KEY
    elif msg.key_stream is not None:
        key = None  # an object key, written as the exact stream it came as
    elif isinstance(msg.key, str):
        key = msg.key
    else:
        raise ValueError(f"only string keys can be published to WSO2, not {type(msg.key).__name__}")
    if not msg.sender:
        raise ValueError("a WSO2 message needs a sender (the producer name)")
    if isinstance(msg.tenant_id, bool) or not isinstance(msg.tenant_id, int):
        raise ValueError("tenant_id must be an integer")
    if body_format == "legacy":
        if key is None:
            raise ValueError("an object key cannot be carried by the legacy format (it prints as Class@hash)")
        text = format_legacy(tenant_id=msg.tenant_id, tenant_domain=msg.tenant_domain, manager=msg.manager,
                             cache=add_local_prefix(msg.cache), key=key)
        return text.encode("utf-8"), {SENDER_HEADER: msg.sender}
    if body_format != "json":
        raise ValueError(f"unknown WSO2 body format {body_format!r}: json or legacy")
    body = {
        "tenantDomain": msg.tenant_domain,
        "tenantId": msg.tenant_id,
        "cacheManagerName": msg.manager,
        "cacheName": add_local_prefix(msg.cache),
        "cacheKeyBase64": base64.b64encode(serialize_string(key) if key is not None else msg.key_stream)
        .decode("ascii"),
    }
    return dumps_compact(body), {SENDER_HEADER: msg.sender}


def decode_wso2(body: bytes, headers: Mapping[str, Any], *, max_bytes: int = DEFAULT_MAX_BYTES) -> Wso2Message:
    """Decode one WSO2 message, JSON or legacy text, or raise `DecodeError` ("oversized",
    "malformed", "invalid")."""
    if body[:len(LEGACY_PREFIX_BYTES)] == LEGACY_PREFIX_BYTES:
        if len(body) > max_bytes:
            raise DecodeError(f"message of {len(body)} bytes exceeds {max_bytes}", reason="oversized")
        try:
            text = bytes(body).decode("utf-8")
        except UnicodeDecodeError:
            raise DecodeError("message is not UTF-8", reason="malformed") from None
        return wso2_from_legacy_text(text, headers)
    return wso2_from_object(parse_json_object(body, max_bytes=max_bytes), headers)


def wso2_from_legacy_text(text: str, headers: Mapping[str, Any]) -> Wso2Message:
    """A 2.0.x-2.1.8 connector's text as a message (see `wso2_legacy`)."""
    request = parse_legacy(text)
    clear_all = request.key == CLEAR_ALL_KEY
    return Wso2Message(
        tenant_domain=request.tenant_domain, tenant_id=request.tenant_id, manager=request.manager,
        cache=strip_local_prefix(request.cache), key=None if clear_all else request.key, clear_all=clear_all,
        sender=_sender(headers), body_format="legacy",
    )


def wso2_from_object(obj: Mapping[str, Any], headers: Mapping[str, Any]) -> Wso2Message:
    """Validate an already parsed body as a WSO2 message (see `decode_wso2`)."""
    domain = _field(obj, "tenantDomain", str)
    tenant_id = _field(obj, "tenantId", int)
    manager = _field(obj, "cacheManagerName", str)
    cache = _field(obj, "cacheName", str)
    encoded = _field(obj, "cacheKeyBase64", str)
    try:
        stream = base64.b64decode(encoded.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise DecodeError("cacheKeyBase64 is not valid base64", reason="invalid") from None
    key = read_object(stream)
    clear_all = key == CLEAR_ALL_KEY
    return Wso2Message(
        tenant_domain=domain, tenant_id=tenant_id, manager=manager, cache=strip_local_prefix(cache),
        key=None if clear_all else key, clear_all=clear_all, sender=_sender(headers),
        key_stream=None if clear_all or isinstance(key, str) else stream,
    )


def _field(obj: Mapping[str, Any], name: str, kind: type) -> Any:
    if name not in obj:
        raise DecodeError(f"WSO2 message has no {name!r}", reason="invalid")
    value = obj[name]
    if isinstance(value, bool) or not isinstance(value, kind):
        raise DecodeError(f"WSO2 field {name!r} must be a {kind.__name__}", reason="invalid")
    return value


def _sender(headers: Mapping[str, Any]) -> str | None:
    headers = headers or {}
    value = headers.get(SENDER_HEADER)
    if value is None:
        value = next((v for k, v in headers.items() if isinstance(k, str) and k.lower() == SENDER_HEADER), None)
    if isinstance(value, (bytes, bytearray)):
        value = bytes(value).decode("utf-8", "replace")
    if value is not None and not isinstance(value, str):
        raise DecodeError("WSO2 header 'sender' must be a string", reason="invalid")
    return value or None


def wso2_to_envelope_dict(msg: Wso2Message) -> dict[str, Any]:
    """A WIRE.md §2-shaped dict for display (`tail`): an object key as `java_keys` (base64 of
    its exact stream, so `invalidate --file` replays it as it came), a legacy `Class@hash` as
    `unusable_keys` (replayed as a clear-all of its cache, as a bridge does), and the body
    format it came in (`wso2_format`: json or legacy)."""
    item: dict[str, Any] = {"manager": msg.manager, "cache": msg.cache}
    if msg.clear_all:
        item["all"] = True
    elif msg.key_stream is not None:  # an object key: its exact stream, as a native item carries it (§2.4)
        item["java_keys"] = [base64.b64encode(msg.key_stream).decode("ascii")]
    elif isinstance(msg.key, ObjectKeyText):  # a legacy Class@hash: names no entry
        item["unusable_keys"] = [msg.key.text]
    elif isinstance(msg.key, str):
        item["keys"] = [msg.key]
    else:
        item["keys"] = [describe(msg.key)]
    return {
        "type": INVALIDATE,
        "wso2_format": msg.body_format,
        "origin": msg.sender or DEFAULT_ORIGIN,
        "tenant": {"domain": msg.tenant_domain, "id": msg.tenant_id},
        "items": [item],
    }


def wso2_item(msg: Wso2Message) -> tuple[Item, bool]:
    """The item a WSO2 message stands for, and whether its key was usable: an object key
    as its exact stream (`java_keys`); a legacy `Class@hash` key names nothing, so it
    stands for its whole cache (False: the caller counts it)."""
    if msg.clear_all:
        return Item(cache=msg.cache, manager=msg.manager, all=True), True
    if msg.key_stream is not None:
        return Item(cache=msg.cache, manager=msg.manager, java_keys=(msg.key_stream,)), True
    if not isinstance(msg.key, str):
        return Item(cache=msg.cache, manager=msg.manager, all=True), False
    return Item(cache=msg.cache, manager=msg.manager, keys=(msg.key,)), True
