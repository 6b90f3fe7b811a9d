"""The JSON document webhook and command targets hand over: one remote invalidation.

    {"origin": "dc-west", "tenant": {"domain": "carbon.super", "id": -1234} | null,
     "items": [{"manager": "M", "cache": "C", "keys": ["k1"]}, {"cache": "D", "all": true}],
     "id": "<envelope id, or flush-... for a gap flush>", "reason": "remote" | "gap-flush"}

Items have the wire form of WIRE.md §2 (`manager` only when known). Compact UTF-8 JSON.
"""

from __future__ import annotations

from typing import Any

from cachesync_cli.local.base import Invalidation
from cachesync_cli.wire.envelope import dumps_compact, item_to_dict


def invalidation_document(invalidation: Invalidation) -> dict[str, Any]:
    tenant = invalidation.tenant
    return {
        "origin": invalidation.origin,
        "tenant": None if tenant is None else {"domain": tenant.domain, "id": tenant.id},
        "items": [item_to_dict(item) for item in invalidation.items],
        "id": invalidation.id,
        "reason": invalidation.reason,
    }


def invalidation_json(invalidation: Invalidation) -> bytes:
    return dumps_compact(invalidation_document(invalidation))
