"""batch_items: every envelope built from a batch encodes within the byte budget."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cachesync_cli.wire.batching import batch_items
from cachesync_cli.wire.canonical import MAX_SAFE_INTEGER
from cachesync_cli.wire.envelope import Envelope, Item, Tenant, decode_envelope, encode_envelope, new_envelope_id
from cachesync_cli.wire.signing import Keyring, encode_signed

KEYRING = Keyring("rotation-2025", {"rotation-2025": b"secret"})
TENANT = Tenant("carbon.super", -1234)
ORIGIN, NODE = "dc-east", "dc-east/3f2a9c"


def build(batch, *, seq=MAX_SAFE_INTEGER, ts=MAX_SAFE_INTEGER, tenant=TENANT, ack=True) -> Envelope:
    return Envelope(type="invalidate", id=new_envelope_id(), origin=ORIGIN, node=NODE,
                    seq=seq, ts=ts, tenant=tenant, items=batch, ack=ack)


def flatten(batches):
    return [(item.cache, item.manager, key) for batch in batches for item in batch for key in item.keys]


def test_100000_keys_become_a_few_signed_envelopes_under_the_limit():
    keys = [f"user:{n}:session-é\"\\{n * 7919 % 100003}" for n in range(100_000)]
    item = Item("AuthorizationCache", tuple(keys), manager="IdentityApplicationManagementCacheManager")
    limit = 1024 * 1024
    batches = batch_items([item], origin=ORIGIN, node=NODE, tenant=TENANT, ack=True,
                          sig_key_id=KEYRING.signing_key_id, max_bytes=limit)
    sizes = []
    for seq, batch in enumerate(batches, start=1):
        data = encode_signed(build(batch, seq=seq, ts=1795374419621), KEYRING)
        sizes.append(len(data))
        assert len(data) <= limit
        assert decode_envelope(data).items == batch
    assert [key for _, _, key in flatten(batches)] == keys
    total = sum(sizes)
    assert len(batches) == -(-total // limit) or len(batches) == -(-total // limit) + 1  # as few as possible
    assert all(size > limit - 200 for size in sizes[:-1])  # every batch but the last is full


def test_small_budget_splits_keys_in_order_and_fills_batches():
    keys = tuple(f"k{n:05d}" for n in range(5000))
    batches = batch_items([Item("c", keys)], origin=ORIGIN, node=NODE, sig_key_id=None,
                          max_bytes=4096)
    assert len(batches) > 10
    assert [key for _, _, key in flatten(batches)] == list(keys)
    for batch in batches:
        assert len(encode_envelope(build(batch, tenant=None, ack=False))) <= 4096


def test_all_items_and_several_caches_share_batches():
    items = [Item("a", all=True), Item("b", ("x", "y"), manager="m"), Item("c", all=True, manager="m")]
    batches = batch_items(items, origin="o", node="n", sig_key_id="k")
    assert batches == [tuple(items)]


def test_a_key_too_large_for_any_envelope_is_refused():
    with pytest.raises(ValueError, match="does not fit"):
        batch_items([Item("c", ("x" * 5000,))], origin="o", node="n", sig_key_id=None, max_bytes=4096)


_keys = st.text(st.characters(codec="utf-8"), max_size=40)
_item = st.one_of(
    st.builds(Item, cache=st.text(min_size=1, max_size=10), keys=st.lists(_keys, min_size=1, max_size=60).map(tuple),
              manager=st.none() | st.text(min_size=1, max_size=10)),
    st.builds(Item, cache=st.text(min_size=1, max_size=10), all=st.just(True)),
)


@settings(max_examples=60, deadline=None)
@given(items=st.lists(_item, min_size=1, max_size=4, unique_by=lambda item: (item.cache, item.manager)), max_bytes=st.integers(700, 3000),
       tenant=st.none() | st.just(TENANT), ack=st.booleans(), signed=st.booleans())
def test_every_batch_fits_with_the_widest_fields_and_one_more_key_would_not(items, max_bytes, tenant, ack, signed):
    key_id = KEYRING.signing_key_id if signed else None
    batches = batch_items(items, origin=ORIGIN, node=NODE, tenant=tenant, ack=ack, sig_key_id=key_id,
                          max_bytes=max_bytes)
    assert flatten(batches) == flatten([items])
    assert sum(1 for batch in batches for item in batch if item.all) == sum(1 for item in items if item.all)

    def size(batch):
        env = build(batch, tenant=tenant, ack=ack)
        return len(encode_signed(env, KEYRING) if signed else encode_envelope(env))

    for current, following in zip(batches, batches[1:]):
        assert size(current) <= max_bytes
        # Exactness: the first key (or item) of the next batch would have overflowed this one.
        # (Items are unique by cache and manager, so a shared pair means one input item was split.)
        head = following[0]
        last = current[-1]
        if head.keys and not last.all and (head.cache, head.manager) == (last.cache, last.manager):
            grown = current[:-1] + (dataclasses.replace(last, keys=last.keys + head.keys[:1]),)
        else:
            grown = current + ((dataclasses.replace(head, keys=head.keys[:1]) if head.keys else head),)
        assert size(grown) > max_bytes
    assert size(batches[-1]) <= max_bytes


@settings(max_examples=500, deadline=None)
@given(key=st.text(st.characters(codec="utf-8"), max_size=30) | st.text(st.characters(max_codepoint=127), max_size=30))
def test_the_fast_key_length_is_the_encoded_length(key):
    from cachesync_cli.wire.batching import _json_len, _key_len

    assert _key_len(key) == _json_len(key)
