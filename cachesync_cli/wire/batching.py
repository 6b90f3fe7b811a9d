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
def _skeleton_len(origin: str, node: str, ack: bool, sig_key_id: str | None) -> int:
    """Bytes of the widest envelope with these fields and no tenant, not counting its items'
    contents. (Cached by configuration values only: a tenant comes from input, and may be big.)"""
    placeholder = Item(cache="c", all=True)
    widest = Envelope(
        type=INVALIDATE, id="0" * 32, origin=origin, node=node,
        seq=MAX_SAFE_INTEGER, ts=MAX_SAFE_INTEGER, items=(placeholder,), ack=ack,
        sig=None if sig_key_id is None else f"v1:{sig_key_id}:{'0' * 64}",
    )
    return len(encode_envelope(widest)) - _json_len(item_to_dict(placeholder))


def _tenant_len(tenant: Tenant | None) -> int:
    """Bytes the tenant adds to an envelope: `,"tenant":{...}`."""
    if tenant is None:
        return 0
    wire: dict = {"domain": tenant.domain}
    if tenant.id is not None:
        wire["id"] = tenant.id
    return len(',"tenant":') + _json_len(wire)


def items_budget(*, origin: str, node: str, tenant: Tenant | None = None, ack: bool = False,
                 sig_key_id: str | None, max_bytes: int = DEFAULT_MAX_BYTES) -> int:
    """Bytes left for the contents of an envelope's items list once every other field is at
    its widest. Zero or less when nothing fits (a huge tenant domain)."""
    return max_bytes - _skeleton_len(origin, node, ack, sig_key_id) - _tenant_len(tenant)


def all_item_len(cache: str, manager: str | None) -> int:
    """Bytes of the item `{"manager":..,"cache":..,"all":true}` in an items list."""
    return _json_len(item_to_dict(Item(cache=cache, all=True, manager=manager)))


def _shell_len(cache: str, manager: str | None, field: str = "keys") -> int:
    """Bytes of an item of `cache` with an empty `field` list: every key adds its JSON (and a comma)."""
    empty = item_to_dict(Item(cache=cache, manager=manager, all=True))
    del empty["all"]
    empty[field] = []
    return _json_len(empty)


def _java_key_len(stream: bytes) -> int:
    """Bytes of a Java key in `java_keys`: its base64, quoted."""
    return 4 * ((len(stream) + 2) // 3) + 2


def _chunk(item: Item, keys: list) -> Item:
    """An item of `item`'s cache carrying `keys` (strings or Java streams, as `item` does)."""
    if item.java_keys:
        return Item(cache=item.cache, java_keys=tuple(keys), manager=item.manager)
    return Item(cache=item.cache, keys=tuple(keys), manager=item.manager)


def one_key_item_len(cache: str, manager: str | None, key: str) -> int:
    """Bytes of an item of `cache` carrying only `key`: it fits an envelope alone when this is
    at most `items_budget`."""
    return _shell_len(cache, manager) + _key_len(key)


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
    budget = items_budget(origin=origin, node=node, tenant=tenant, ack=ack, sig_key_id=sig_key_id,
                          max_bytes=max_bytes)
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
        if item.all or not (item.keys or item.java_keys):
            size = _json_len(item_to_dict(item))
            if used + size + (1 if group else 0) > budget:
                flush()
                if size > budget:
                    raise ValueError(f"item for {item.cache!r} does not fit in {max_bytes} bytes")
            add(item, size)
            continue
        java = bool(item.java_keys)
        shell = _shell_len(item.cache, item.manager, "java_keys" if java else "keys")
        keys: list = []
        size = shell
        for key in item.java_keys if java else item.keys:
            key_len = (_java_key_len(key) if java else _key_len(key)) + (1 if keys else 0)
            if used + (1 if group else 0) + size + key_len > budget:
                if keys:
                    add(_chunk(item, keys), size)
                    keys, size = [], shell
                    key_len -= 1
                flush()
                if shell + key_len > budget:
                    raise ValueError(f"a key of {item.cache!r} does not fit in {max_bytes} bytes")
            keys.append(key)
            size += key_len
        add(_chunk(item, keys), size)
    flush()
    return batches
