"""Local messages (WIRE.md §4): what an application of this cluster sends its bridge.

Either one item, `{"cache": "C", "keys": ["k"]}` / `{"cache": "C", "all": true}`, or
`{"tenant": {...}, "items": [...]}`. The bridge adds the envelope fields itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cachesync_cli.errors import DecodeError
from cachesync_cli.wire.envelope import Item, Tenant, item_to_dict
from cachesync_cli.wire.strictjson import parse_json_object

#: Local messages are small; a bigger one is a mistake or an attack.
LOCAL_MAX_BYTES = 1024 * 1024


@dataclass(frozen=True)
class LocalMessage:
    """Invalidations raised in this cluster: items under one (optional) tenant."""

    items: tuple[Item, ...]
    tenant: Tenant | None = None
    #: set when the message came from a bridge (a re-broadcast); sources skip those
    origin: str | None = None
    #: called once by the bridge's publishing thread when the message is taken care of:
    #: "confirmed" (the broker confirmed every message carrying its items), "spooled" (in the
    #: durable spool, sent later), "filtered" (the sync rules dropped all of it) or
    #: "rejected" (refused at intake). A durable source acknowledges its input only then.
    #: It must only queue or record (it runs on the publishing thread). It is not called
    #: when the bridge stops before it could publish or spool the message.
    receipt: Callable[[str], None] | None = field(default=None, compare=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        result: dict[str, Any] = {}
        if self.origin is not None:
            result["origin"] = self.origin
        if self.tenant is not None:
            result["tenant"] = {"domain": self.tenant.domain, "id": self.tenant.id}
        result["items"] = [item_to_dict(item) for item in self.items]
        return result


def _item(obj: Any) -> Item:
    if not isinstance(obj, dict):
        raise DecodeError("an item must be an object", reason="invalid")
    if not set(obj) <= {"cache", "keys", "all", "manager"}:
        unknown = sorted(set(obj) - {"cache", "keys", "all", "manager"})
        raise DecodeError(f"unknown item field(s): {', '.join(unknown)}", reason="invalid")
    keys = obj.get("keys", [])
    if not isinstance(keys, list):
        raise DecodeError("keys must be a list of strings", reason="invalid")
    try:
        return Item(cache=obj.get("cache"), keys=tuple(keys), all=obj.get("all", False),
                    manager=obj.get("manager"))
    except (ValueError, TypeError) as exc:
        raise DecodeError(str(exc), reason="invalid") from None


def parse_local_message(data: bytes, *, max_bytes: int = LOCAL_MAX_BYTES) -> LocalMessage:
    """Parse a local message or raise DecodeError (reasons: oversized, malformed, invalid)."""
    obj = parse_json_object(data, max_bytes=max_bytes)
    origin = obj.get("origin")
    if origin is not None and (not isinstance(origin, str) or not origin):
        raise DecodeError("origin must be a non-empty string", reason="invalid")
    tenant = None
    if obj.get("tenant") is not None:
        raw = obj["tenant"]
        if not isinstance(raw, dict):
            raise DecodeError("tenant must be an object with domain and id", reason="invalid")
        try:
            tenant = Tenant(raw.get("domain"), raw.get("id"))
        except (ValueError, TypeError) as exc:
            raise DecodeError(f"tenant: {exc}", reason="invalid") from None
    if "items" in obj:
        if "cache" in obj:
            raise DecodeError("give either items or one item's cache, not both", reason="invalid")
        if not isinstance(obj["items"], list) or not obj["items"]:
            raise DecodeError("items must be a non-empty list", reason="invalid")
        items = tuple(_item(item) for item in obj["items"])
    elif "cache" in obj:
        items = (_item({k: v for k, v in obj.items() if k not in ("tenant", "origin")}),)
    else:
        raise DecodeError("expected {\"cache\": ..., \"keys\": [...]} or {\"items\": [...]}", reason="invalid")
    return LocalMessage(items=items, tenant=tenant, origin=origin)
