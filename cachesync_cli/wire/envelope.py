"""The native `cachesync/1` envelope (WIRE.md §2): model, encoder, strict decoder.

`envelope_to_dict` gives the exact object that goes on the wire (and that `tail
--format ndjson` prints); `encode_envelope` is its compact UTF-8 JSON. `decode_envelope`
accepts only what the contract allows and raises `DecodeError` for everything else,
keeping the object as received in `Envelope.raw` so its signature can be checked.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cachesync_cli.errors import DecodeError
from cachesync_cli.wire.bridge_info import BridgeInfo, bridge_info_from_object, bridge_info_to_dict
from cachesync_cli.wire.canonical import MAX_SAFE_INTEGER
from cachesync_cli.wire.strictjson import DEFAULT_MAX_BYTES, parse_json_object

VERSION = 1
INVALIDATE = "invalidate"
HEARTBEAT = "heartbeat"
ACK = "ack"
TYPES = frozenset({INVALIDATE, HEARTBEAT, ACK})


def new_envelope_id() -> str:
    """A fresh message id: 32 lowercase hex characters (a random UUID)."""
    return uuid.uuid4().hex


def now_ms() -> int:
    """The current time in integer milliseconds since the epoch (the `ts` field)."""
    return time.time_ns() // 1_000_000


def _text(value: object, name: str, *, empty: bool = False) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string, not {type(value).__name__}")
    if not value and not empty:
        raise ValueError(f"{name} must not be empty")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError(f"{name} is not valid Unicode (lone surrogate)") from None
    return value


def _integer(value: object, name: str, *, minimum: int = -MAX_SAFE_INTEGER) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer, not {type(value).__name__}")
    if not minimum <= value <= MAX_SAFE_INTEGER:
        raise ValueError(f"{name} must be between {minimum} and {MAX_SAFE_INTEGER}, not {value}")
    return value


def _flag(value: object, name: str) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false, not {type(value).__name__}")
    return value


@dataclass(frozen=True)
class Tenant:
    """A WSO2-style tenant: domain name and optional numeric id."""

    domain: str
    id: int | None = None

    def __post_init__(self) -> None:
        _text(self.domain, "tenant.domain")
        if self.id is not None:
            _integer(self.id, "tenant.id")


JAVA_STREAM_HEADER = b"\xac\xed\x00\x05"
MAX_JAVA_KEY_BYTES = 64 * 1024
"""The largest Java key stream an item carries (an IS key object is a few hundred bytes)."""


@dataclass(frozen=True)
class Item:
    """Keys to drop from one cache, or the whole cache (`all=True`).

    `java_keys` are keys that are Java objects (WSO2 IS's `OAuthCacheKey`...), each the exact
    Java serialization stream an IS node wrote (docs/wire.md §2.4): carried as bytes, never
    re-serialized. An item carries string `keys`, `java_keys` or `all`, one of them: a
    bridge that predates `java_keys` rejects such an item rather than read it as empty."""

    cache: str
    keys: tuple[str, ...] = ()
    all: bool = False
    manager: str | None = None
    java_keys: tuple[bytes, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "keys", tuple(self.keys))
        object.__setattr__(self, "java_keys", tuple(self.java_keys))
        _text(self.cache, "cache")
        if self.manager is not None:
            _text(self.manager, "manager")
        _flag(self.all, "all")
        for key in self.keys:
            if not isinstance(key, str):
                raise ValueError(f"keys of {self.cache!r} must be strings, not {type(key).__name__}")
        try:
            "".join(self.keys).encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError(f"a key of {self.cache!r} is not valid Unicode (lone surrogate)") from None
        for stream in self.java_keys:
            if not isinstance(stream, bytes) or not stream.startswith(JAVA_STREAM_HEADER):
                raise ValueError(f"java_keys of {self.cache!r} must be Java serialization streams")
            if len(stream) > MAX_JAVA_KEY_BYTES:
                raise ValueError(f"a java key of {self.cache!r} is over {MAX_JAVA_KEY_BYTES} bytes")
        if bool(self.keys) + bool(self.java_keys) + self.all != 1:
            raise ValueError(f"item for {self.cache!r} needs one of a non-empty keys list, a non-empty java_keys "
                             "list or all=true")

    @property
    def key_count(self) -> int:
        """Keys it names (string and Java), 0 for `all`."""
        return len(self.keys) + len(self.java_keys)


@dataclass(frozen=True)
class Envelope:
    """One native message. `raw` is the JSON object as received (not compared)."""

    type: str
    id: str
    origin: str
    node: str
    seq: int
    ts: int
    tenant: Tenant | None = None
    items: tuple[Item, ...] = ()
    ack: bool = False
    ack_of: str | None = None
    applied: Mapping[str, int] | None = None
    bridge: BridgeInfo | None = None  # heartbeats from a bridge: see wire/bridge_info.py
    retire: tuple[str, ...] = ()  # heartbeats from `cachesync retire`: clusters no longer to watch
    sig: str | None = None
    v: int = VERSION
    raw: Mapping[str, Any] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "items", tuple(self.items))
        if self.v != VERSION or isinstance(self.v, bool):
            raise ValueError(f"unsupported envelope version {self.v!r}")
        if self.type not in TYPES:
            raise ValueError(f"unknown envelope type {self.type!r}")
        for name in ("id", "origin", "node"):
            _text(getattr(self, name), name)
        _integer(self.seq, "seq", minimum=1)
        _integer(self.ts, "ts", minimum=0)
        _flag(self.ack, "ack")
        if self.tenant is not None and not isinstance(self.tenant, Tenant):
            raise ValueError("tenant must be a Tenant")
        if not all(isinstance(item, Item) for item in self.items):
            raise ValueError("items must be Item instances")
        if (self.type == INVALIDATE) != bool(self.items):
            raise ValueError("an invalidate carries a non-empty items list; other types carry none")
        if self.ack_of is not None:
            _text(self.ack_of, "ack_of")
        elif self.type == ACK:
            raise ValueError("an ack carries ack_of")
        if self.applied is not None:
            if not isinstance(self.applied, Mapping):
                raise ValueError("applied must map origin to seq")
            for origin, seq in self.applied.items():
                _text(origin, "applied origin")
                _integer(seq, f"applied[{origin!r}]", minimum=0)
        elif self.type == HEARTBEAT:
            raise ValueError("a heartbeat carries applied")
        if self.bridge is not None and (self.type != HEARTBEAT or not isinstance(self.bridge, BridgeInfo)):
            raise ValueError("only a heartbeat carries bridge, as a BridgeInfo")
        object.__setattr__(self, "retire", tuple(self.retire))
        if self.retire and self.type != HEARTBEAT:
            raise ValueError("only a heartbeat carries retire")
        for cluster in self.retire:
            _text(cluster, "retire")
        if self.sig is not None:
            _text(self.sig, "sig")


def item_to_dict(item: Item) -> dict[str, Any]:
    """The wire form of one item: manager (if any), cache, then keys or all."""
    result: dict[str, Any] = {}
    if item.manager is not None:
        result["manager"] = item.manager
    result["cache"] = item.cache
    if item.all:
        result["all"] = True
    elif item.java_keys:
        result["java_keys"] = [base64.b64encode(stream).decode("ascii") for stream in item.java_keys]
    else:
        result["keys"] = list(item.keys)
    return result


def envelope_to_dict(env: Envelope) -> dict[str, Any]:
    """The WIRE.md §2 object for `env`, fields in the spec's order, optional ones omitted."""
    result: dict[str, Any] = {
        "v": env.v, "type": env.type, "id": env.id, "origin": env.origin,
        "node": env.node, "seq": env.seq, "ts": env.ts,
    }
    if env.tenant is not None:
        result["tenant"] = {"domain": env.tenant.domain}
        if env.tenant.id is not None:
            result["tenant"]["id"] = env.tenant.id
    if env.items:
        result["items"] = [item_to_dict(item) for item in env.items]
    result["ack"] = env.ack
    if env.ack_of is not None:
        result["ack_of"] = env.ack_of
    if env.applied is not None:
        result["applied"] = dict(env.applied)
    if env.bridge is not None:
        result["bridge"] = bridge_info_to_dict(env.bridge)
    if env.retire:
        result["retire"] = list(env.retire)
    if env.sig is not None:
        result["sig"] = env.sig
    return result


# One encoder for every call: json.dumps with options builds a new one each time.
_COMPACT = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def dumps_compact(obj: Any) -> bytes:
    """Compact UTF-8 JSON (no spaces, non-ASCII kept as is)."""
    return _COMPACT.encode(obj).encode("utf-8")


def encode_envelope(env: Envelope) -> bytes:
    """The bytes to publish for `env` (compact UTF-8 JSON of `envelope_to_dict`)."""
    return dumps_compact(envelope_to_dict(env))


def decode_envelope(data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> Envelope:
    """Decode and validate one native envelope, or raise `DecodeError`.

    Reasons: "oversized", "malformed" (not JSON), "version" (unknown `v`), "type"
    (unknown `type`), "invalid" (anything else against WIRE.md §2). The signature is
    not checked here: see `Keyring.verify`.
    """
    return envelope_from_object(parse_json_object(data, max_bytes=max_bytes))


def envelope_from_object(obj: Mapping[str, Any]) -> Envelope:
    """Validate an already parsed JSON object as an envelope (see `decode_envelope`)."""
    if "v" not in obj:
        raise DecodeError("not a cachesync envelope: no 'v' field", reason="invalid")
    version = obj["v"]
    if isinstance(version, bool) or version != VERSION or not isinstance(version, int):
        raise DecodeError(f"unsupported envelope version {version!r}", reason="version")
    kind = obj.get("type")
    if not isinstance(kind, str):
        raise DecodeError("envelope has no string 'type'", reason="invalid")
    if kind not in TYPES:
        raise DecodeError(f"unknown envelope type {kind!r}", reason="type")
    try:
        return Envelope(
            v=version, type=kind,
            id=_present(obj, "id"), origin=_present(obj, "origin"), node=_present(obj, "node"),
            seq=_present(obj, "seq"), ts=_present(obj, "ts"),
            tenant=_tenant(obj.get("tenant")),
            items=items_from_list(obj.get("items")),
            ack=obj.get("ack", False),
            ack_of=obj.get("ack_of"),
            applied=_applied(obj.get("applied")),
            bridge=bridge_info_from_object(obj.get("bridge")) if kind == HEARTBEAT else None,
            retire=_retire(obj.get("retire")) if kind == HEARTBEAT else (),
            sig=obj.get("sig"),
            raw=obj,
        )
    except (ValueError, TypeError) as exc:
        raise DecodeError(f"invalid {kind} envelope: {exc}", reason="invalid") from None


def _present(obj: Mapping[str, Any], name: str) -> Any:
    if name not in obj:
        raise ValueError(f"missing field {name!r}")
    return obj[name]


def _tenant(value: Any) -> Tenant | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValueError("tenant must be an object")
    return Tenant(domain=_present(value, "domain"), id=value.get("id"))


def items_from_list(value: Any) -> tuple[Item, ...]:
    """Items from their wire form (a list of `item_to_dict` objects); `ValueError` if invalid."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ValueError("items must be a list")
    items = []
    for entry in value:
        if not isinstance(entry, dict):
            raise ValueError("each item must be an object")
        keys = entry.get("keys", [])
        if not isinstance(keys, list):
            raise ValueError("keys must be a list")
        items.append(Item(cache=_present(entry, "cache"), keys=tuple(keys), java_keys=_java_keys(entry),
                          all=entry.get("all", False), manager=entry.get("manager")))
    return tuple(items)


def _java_keys(entry: Mapping[str, Any]) -> tuple[bytes, ...]:
    value = entry.get("java_keys", [])
    if not isinstance(value, list) or not all(isinstance(text, str) for text in value):
        raise ValueError("java_keys must be a list of base64 strings")
    try:
        return tuple(base64.b64decode(text.encode("ascii"), validate=True) for text in value)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise ValueError("java_keys must be a list of base64 strings") from None


def _retire(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ValueError("retire must be a list of cluster ids")
    return tuple(value)


def _applied(value: Any) -> dict[str, int] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValueError("applied must be an object of origin to seq")
    return value
