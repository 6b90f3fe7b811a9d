"""Split many keys into groups of items that each fit one envelope under a byte budget.

`invalidate` may be asked to drop 100,000 keys; one broker message cannot carry them
all. `batch_items` measures exactly what every key adds to the encoded envelope, with
the other fields at their widest (the largest `seq` and `ts`, a full id, a signature
for `sig_key_id`), so every envelope built from a batch encodes within `max_bytes`.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

from cachesync_cli.wire.canonical import MAX_SAFE_INTEGER
from cachesync_cli.wire.envelope import INVALIDATE, Envelope, Item, Tenant, dumps_compact, encode_envelope, item_to_dict
from cachesync_cli.wire.strictjson import DEFAULT_MAX_BYTES


def _json_len(value: object) -> int:
    return len(dumps_compact(value))


def _key_len(key: str) -> int:
    """Bytes of `key` as a JSON string: quotes added, nothing escaped for the common printable
    ASCII key (`"` and `\\` are), exactly what `_json_len` would say, without encoding it."""
    if key.isascii() and key.isprintable() and '"' not in key and "\\" not in key:
        return len(key) + 2
    return _json_len(key)


@functools.lru_cache(maxsize=256)
def _skeleton_len(origin: str, node: str, tenant: Tenant | None, ack: bool, sig_key_id: str | None) -> int:
    """Bytes of the widest envelope with these fields, not counting its items' contents."""
    placeholder = Item(cache="c", all=True)
    widest = Envelope(
        type=INVALIDATE, id="0" * 32, origin=origin, node=node,
        seq=MAX_SAFE_INTEGER, ts=MAX_SAFE_INTEGER, tenant=tenant, items=(placeholder,), ack=ack,
        sig=None if sig_key_id is None else f"v1:{sig_key_id}:{'0' * 64}",
    )
    return len(encode_envelope(widest)) - _json_len(item_to_dict(placeholder))


def batch_items(
    items: Iterable[Item],
    *,
    origin: str,
    node: str,
    tenant: Tenant | None = None,
    ack: bool = False,
    sig_key_id: str | None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> list[tuple[Item, ...]]:
    """Group `items` (splitting long key lists) so each group fits one envelope.

    `sig_key_id` is the key the envelopes will be signed with (None: unsigned); it is
    required so a caller cannot forget the room a signature takes. Keys keep their order; an item is split into several items for the same cache and
    manager when its keys do not fit. Raises `ValueError` when a single key (or an
    `all` item) cannot fit in `max_bytes` even alone.
    """
    budget = max_bytes - _skeleton_len(origin, node, tenant, ack, sig_key_id)
    batches: list[tuple[Item, ...]] = []
    group: list[Item] = []
    used = 0  # bytes of the items list contents in `group`, commas included

    def flush() -> None:
        nonlocal group, used
        if group:
            batches.append(tuple(group))
        group, used = [], 0

    def add(item: Item, size: int) -> None:
        nonlocal used
        used += size + (1 if group else 0)
        group.append(item)

    for item in items:
        if item.all or len(item.keys) == 0:
            size = _json_len(item_to_dict(item))
            if used + size + (1 if group else 0) > budget:
                flush()
                if size > budget:
                    raise ValueError(f"item for {item.cache!r} does not fit in {max_bytes} bytes")
            add(item, size)
            continue
        empty = item_to_dict(Item(cache=item.cache, manager=item.manager, all=True))
        del empty["all"]
        empty["keys"] = []
        shell = _json_len(empty)  # the item with no keys: every key adds its JSON and a comma
        keys: list[str] = []
        size = shell
        for key in item.keys:
            key_len = _key_len(key) + (1 if keys else 0)
            if used + (1 if group else 0) + size + key_len > budget:
                if keys:
                    add(Item(cache=item.cache, keys=tuple(keys), manager=item.manager), size)
                    keys, size = [], shell
                    key_len -= 1
                flush()
                if shell + key_len > budget:
                    raise ValueError(f"a key of {item.cache!r} does not fit in {max_bytes} bytes")
            keys.append(key)
            size += key_len
        add(Item(cache=item.cache, keys=tuple(keys), manager=item.manager), size)
    flush()
    return batches
