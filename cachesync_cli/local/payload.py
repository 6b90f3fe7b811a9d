"""The JSON document webhook and command targets hand over: one remote invalidation.

    {"origin": "dc-west", "tenant": {"domain": "carbon.super", "id": -1234} | null,
     "items": [{"manager": "M", "cache": "C", "keys": ["k1"]}, {"cache": "D", "all": true}],
     "id": "<envelope id, or flush-... for a gap flush>", "reason": "remote" | "gap-flush"}

Items have the wire form of docs/wire.md §2 (`manager` only when known). An item of Java
object keys (`java_keys`, base64 of each key's serialization stream) also has
`java_keys_read`: each key as `{"class": ..., "fields": {...}}`, read without running Java
(`{"unreadable": reason}` when it cannot be read). Compact UTF-8 JSON.
"""

from __future__ import annotations

from typing import Any

from cachesync_cli.local.base import Invalidation
from cachesync_cli.errors import DecodeError
from cachesync_cli.wire.envelope import Item, dumps_compact, item_to_dict
from cachesync_cli.wire.javaser import read_object
from cachesync_cli.wire.javavalues import to_plain


def invalidation_document(invalidation: Invalidation) -> dict[str, Any]:
    tenant = invalidation.tenant
    return {
        "origin": invalidation.origin,
        "tenant": None if tenant is None else {"domain": tenant.domain, "id": tenant.id},
        "items": [_item_document(item) for item in invalidation.items],
        "id": invalidation.id,
        "reason": invalidation.reason,
    }


def _item_document(item: Item) -> dict[str, Any]:
    document = item_to_dict(item)
    if item.java_keys:
        document["java_keys_read"] = [_read(stream) for stream in item.java_keys]
    return document


def _read(stream: bytes) -> object:
    try:
        return to_plain(read_object(stream))
    except DecodeError as exc:
        return {"unreadable": str(exc)}


def invalidation_json(invalidation: Invalidation) -> bytes:
    return dumps_compact(invalidation_document(invalidation))
