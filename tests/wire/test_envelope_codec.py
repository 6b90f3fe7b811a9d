"""The native envelope: exact encoding, round trips, and strict decoding with reasons."""

from __future__ import annotations

import json
import re
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cachesync_cli.errors import DecodeError
from cachesync_cli.wire.canonical import MAX_SAFE_INTEGER
from cachesync_cli.wire.envelope import (
    Envelope,
    Item,
    Tenant,
    decode_envelope,
    encode_envelope,
    envelope_to_dict,
    new_envelope_id,
    now_ms,
)

SPEC_EXAMPLE = Envelope(
    type="invalidate", id="9f1c0e6a2b7d4c55a1e3f0b2c4d6e8fa", origin="dc-east", node="dc-east/3f2a9c",
    seq=42, ts=1795374419621, tenant=Tenant("carbon.super", -1234),
    items=(Item(manager="IdentityApplicationManagementCacheManager", cache="AppInfoCache", keys=("app-1", "app-2")),
           Item(cache="AuthorizationCache", all=True)),
    sig="v1:k1:00",
)


def valid_dict(**changes) -> dict:
    obj = envelope_to_dict(SPEC_EXAMPLE)
    obj.update(changes)
    return obj


def encode_dict(obj: dict) -> bytes:
    return json.dumps(obj).encode("utf-8")


def decode_failure(data: bytes, **kwargs) -> DecodeError:
    with pytest.raises(DecodeError) as caught:
        decode_envelope(data, **kwargs)
    return caught.value


def test_encodes_the_spec_example_compactly_in_spec_order():
    expected = (
        '{"v":1,"type":"invalidate","id":"9f1c0e6a2b7d4c55a1e3f0b2c4d6e8fa","origin":"dc-east",'
        '"node":"dc-east/3f2a9c","seq":42,"ts":1795374419621,"tenant":{"domain":"carbon.super","id":-1234},'
        '"items":[{"manager":"IdentityApplicationManagementCacheManager","cache":"AppInfoCache",'
        '"keys":["app-1","app-2"]},{"cache":"AuthorizationCache","all":true}],"ack":false,"sig":"v1:k1:00"}'
    )
    assert encode_envelope(SPEC_EXAMPLE) == expected.encode("utf-8")


def test_optional_fields_are_omitted_and_required_ones_kept():
    heartbeat = Envelope(type="heartbeat", id="a" * 32, origin="o", node="n", seq=1, ts=0, applied={})
    assert envelope_to_dict(heartbeat) == {
        "v": 1, "type": "heartbeat", "id": "a" * 32, "origin": "o", "node": "n", "seq": 1, "ts": 0,
        "ack": False, "applied": {},
    }
    ack = Envelope(type="ack", id="b", origin="o", node="n", seq=2, ts=5, ack_of="a" * 32, tenant=Tenant("t"))
    assert envelope_to_dict(ack)["ack_of"] == "a" * 32
    assert envelope_to_dict(ack)["tenant"] == {"domain": "t"}
    assert "items" not in envelope_to_dict(ack) and "sig" not in envelope_to_dict(ack)


def test_non_ascii_is_written_as_utf8_not_escaped():
    env = Envelope(type="invalidate", id="i", origin="o", node="n", seq=1, ts=1, items=(Item("c", ("ключ😀",)),))
    assert "ключ😀".encode("utf-8") in encode_envelope(env)


def test_decodes_the_spec_example_and_keeps_raw():
    data = encode_envelope(SPEC_EXAMPLE)
    env = decode_envelope(data)
    assert env == SPEC_EXAMPLE
    assert env.raw == json.loads(data)


def test_unknown_fields_are_ignored_but_kept_in_raw():
    env = decode_envelope(encode_dict(valid_dict(future={"x": [1, 2]}, priority=3)))
    assert env == SPEC_EXAMPLE
    assert env.raw["future"] == {"x": [1, 2]} and env.raw["priority"] == 3


_names = st.text(st.characters(codec="utf-8"), min_size=1, max_size=10)
_ints = st.integers(0, MAX_SAFE_INTEGER)
_items = st.one_of(
    st.builds(Item, cache=_names, keys=st.lists(st.text(st.characters(codec="utf-8"), max_size=8), min_size=1,
                                                max_size=4).map(tuple), manager=st.none() | _names),
    st.builds(Item, cache=_names, all=st.just(True), manager=st.none() | _names),
)
_common = dict(id=_names, origin=_names, node=_names, seq=st.integers(1, MAX_SAFE_INTEGER), ts=_ints,
               tenant=st.none() | st.builds(Tenant, _names, st.none() | st.integers(-2**31, 2**31)),
               ack=st.booleans(), sig=st.none() | _names)
envelopes = st.one_of(
    st.builds(Envelope, type=st.just("invalidate"), items=st.lists(_items, min_size=1, max_size=3).map(tuple),
              **_common),
    st.builds(Envelope, type=st.just("heartbeat"), applied=st.dictionaries(_names, _ints, max_size=3), **_common),
    st.builds(Envelope, type=st.just("ack"), ack_of=_names, **_common),
)


@settings(max_examples=150, deadline=None)
@given(envelopes)
def test_round_trip(env):
    data = encode_envelope(env)
    decoded = decode_envelope(data)
    assert decoded == env
    assert decoded.raw == envelope_to_dict(env)
    assert encode_envelope(decoded) == data


def test_new_envelope_id_is_32_hex_and_unique():
    ids = {new_envelope_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)


def test_now_ms_is_integer_milliseconds():
    before = time.time() * 1000
    value = now_ms()
    assert isinstance(value, int) and before - 1 <= value <= time.time() * 1000 + 1


def _without(name: str) -> dict:
    obj = valid_dict()
    del obj[name]
    return obj


INVALID = {
    "missing v": _without("v"),
    "missing id": _without("id"),
    "missing origin": _without("origin"),
    "missing node": _without("node"),
    "missing seq": _without("seq"),
    "missing ts": _without("ts"),
    "missing type": _without("type"),
    "type not a string": valid_dict(type=1),
    "empty id": valid_dict(id=""),
    "empty origin": valid_dict(origin=""),
    "node not a string": valid_dict(node=7),
    "seq zero": valid_dict(seq=0),
    "seq negative": valid_dict(seq=-1),
    "seq boolean": valid_dict(seq=True),
    "seq float": valid_dict(seq=1.0),
    "seq string": valid_dict(seq="1"),
    "seq beyond 2**53": valid_dict(seq=2**60),
    "ts negative": valid_dict(ts=-5),
    "ts float": valid_dict(ts=1.5e12),
    "ack not bool": valid_dict(ack=1),
    "invalidate without items": _without("items"),
    "invalidate with empty items": valid_dict(items=[]),
    "items not a list": valid_dict(items={"cache": "c", "all": True}),
    "item not an object": valid_dict(items=["c"]),
    "item without cache": valid_dict(items=[{"keys": ["k"]}]),
    "item with empty cache": valid_dict(items=[{"cache": "", "keys": ["k"]}]),
    "item with empty keys": valid_dict(items=[{"cache": "c", "keys": []}]),
    "item with neither keys nor all": valid_dict(items=[{"cache": "c"}]),
    "item with keys and all": valid_dict(items=[{"cache": "c", "keys": ["k"], "all": True}]),
    "item with all false": valid_dict(items=[{"cache": "c", "all": False}]),
    "item with all as 1": valid_dict(items=[{"cache": "c", "all": 1}]),
    "key not a string": valid_dict(items=[{"cache": "c", "keys": [1]}]),
    "keys a string": valid_dict(items=[{"cache": "c", "keys": "k"}]),
    "manager not a string": valid_dict(items=[{"cache": "c", "all": True, "manager": 5}]),
    "tenant not an object": valid_dict(tenant="carbon.super"),
    "tenant without domain": valid_dict(tenant={"id": 1}),
    "tenant id boolean": valid_dict(tenant={"domain": "d", "id": False}),
    "tenant id string": valid_dict(tenant={"domain": "d", "id": "-1234"}),
    "sig not a string": valid_dict(sig=["v1"]),
    "ack without ack_of": valid_dict(type="ack", items=None),
    "ack with items": valid_dict(type="ack", ack_of="x"),
    "heartbeat without applied": valid_dict(type="heartbeat", items=None),
    "heartbeat with items": valid_dict(type="heartbeat", applied={}),
    "applied not an object": valid_dict(type="heartbeat", items=None, applied=[1]),
    "applied seq not an int": valid_dict(type="heartbeat", items=None, applied={"dc": "3"}),
    "applied seq negative": valid_dict(type="heartbeat", items=None, applied={"dc": -1}),
    "applied empty origin": valid_dict(type="heartbeat", items=None, applied={"": 1}),
}


@pytest.mark.parametrize("obj", INVALID.values(), ids=INVALID.keys())
def test_schema_violations_are_invalid(obj):
    assert decode_failure(encode_dict(obj)).reason == "invalid"


@pytest.mark.parametrize("version", [2, 0, "1", True, None, 1.0, [1]])
def test_unknown_version_is_rejected_as_version(version):
    assert decode_failure(encode_dict(valid_dict(v=version))).reason == "version"


@pytest.mark.parametrize("kind", ["purge", "", "INVALIDATE"])
def test_unknown_type_is_rejected_as_type(kind):
    assert decode_failure(encode_dict(valid_dict(type=kind))).reason == "type"


@pytest.mark.parametrize("data", [
    b"", b"{", b"not json", b'{"v":1,}', b"\xff\xfe{}", b"\xef\xbb\xbf{}", "{}".encode("utf-16"),
    b'{"v":1,"v":1}', b'{"v":NaN}', b'{"v":Infinity}', b'{"v":1}x', b'{"seq":' + b"9" * 5000 + b"}",
], ids=["empty", "truncated", "text", "trailing comma", "bad utf8", "bom", "utf16", "duplicate key", "nan",
        "infinity", "trailing data", "huge int literal"])
def test_broken_json_is_malformed(data):
    assert decode_failure(data).reason == "malformed"


@pytest.mark.parametrize("data", [b"[]", b'"envelope"', b"1", b"null"])
def test_non_object_json_is_invalid(data):
    assert decode_failure(data).reason == "invalid"


def test_lone_surrogate_escape_in_a_field_is_invalid():
    data = encode_envelope(SPEC_EXAMPLE).replace(b'"dc-east"', b'"dc-\\ud800"')
    assert decode_failure(data).reason == "invalid"


def test_deep_nesting_is_malformed_not_a_crash():
    for depth in (100, 200_000):
        data = b'{"v":1,"deep":' + b"[" * depth + b"]" * depth + b"}"
        assert decode_failure(data).reason == "malformed"


def test_size_is_checked_before_parsing():
    data = encode_envelope(SPEC_EXAMPLE)
    assert decode_envelope(data, max_bytes=len(data)) == SPEC_EXAMPLE
    assert decode_failure(data, max_bytes=len(data) - 1).reason == "oversized"
    # Broken JSON over the limit is reported as oversized: the parser never ran.
    assert decode_failure(b"{" * 2_000_000).reason == "oversized"


def test_default_limit_is_one_mebibyte():
    padded = encode_envelope(SPEC_EXAMPLE)[:-1] + b',"pad":"' + b"x" * (1024 * 1024) + b'"}'
    assert decode_failure(padded).reason == "oversized"
    fits = encode_envelope(SPEC_EXAMPLE)[:-1] + b',"pad":"' + b"x" * (1000 * 1000) + b'"}'
    assert decode_envelope(fits) == SPEC_EXAMPLE


@pytest.mark.parametrize("kwargs", [
    dict(type="invalidate"),  # no items
    dict(type="ack"),  # no ack_of
    dict(type="heartbeat"),  # no applied
    dict(type="nope", items=(Item("c", all=True),)),
    dict(type="invalidate", seq=0, items=(Item("c", all=True),)),
    dict(type="invalidate", origin="", items=(Item("c", all=True),)),
])
def test_constructor_refuses_envelopes_the_decoder_would_reject(kwargs):
    fields = dict(id="i", origin="o", node="n", seq=1, ts=1) | kwargs
    with pytest.raises(ValueError):
        Envelope(**fields)


@pytest.mark.parametrize("kwargs", [dict(), dict(keys=("k",), all=True), dict(keys=(1,)), dict(all=1)])
def test_item_needs_keys_or_all(kwargs):
    with pytest.raises(ValueError):
        Item("cache", **kwargs)
