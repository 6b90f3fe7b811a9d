"""Whatever bytes arrive, decoders raise DecodeError and nothing else, and return quickly.

Random bytes, random JSON, and mutations (byte-level and field-level) of valid native
envelopes, WSO2 messages and Java streams, fed to every decoder.
"""

from __future__ import annotations

import base64
import json
import struct
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cachesync_cli.errors import DecodeError
from cachesync_cli.wire.codec import decode_message
from cachesync_cli.wire.envelope import Envelope, Item, Tenant, decode_envelope, encode_envelope
from cachesync_cli.wire.javaser import describe, read_object, serialize_string
from cachesync_cli.wire.signing import Keyring, encode_signed
from cachesync_cli.wire.wso2 import Wso2Message, decode_wso2, encode_wso2, wso2_to_envelope_dict

KEYRING = Keyring("k", {"k": b"secret"})
NATIVE = [
    encode_signed(Envelope(type="invalidate", id="a" * 32, origin="dc-east", node="dc-east/1", seq=42, ts=1,
                           tenant=Tenant("carbon.super", -1234), ack=True,
                           items=(Item("AppInfoCache", ("app-1", "ключ😀"), manager="M"), Item("C", all=True))),
                  KEYRING),
    encode_envelope(Envelope(type="heartbeat", id="b", origin="o", node="n", seq=1, ts=2, applied={"x": 3})),
    encode_envelope(Envelope(type="ack", id="c", origin="o", node="n", seq=5, ts=2, ack_of="a" * 32)),
]
VECTORS = json.loads((Path(__file__).parent / "data" / "wso2-key-vectors.json").read_text(encoding="utf-8"))
JAVA_STREAMS = [base64.b64decode(v["cacheKeyBase64"]) for v in VECTORS if len(v["cacheKeyBase64"]) < 1000] + [
    b"\xac\xed\x00\x05\x75\x72\x00\x13[Ljava.lang.Object;\x90\xceX\x9f\x10s)l\x02\x00\x00xp\x00\x00\x00\x02"
    b"t\x00\x01aq\x00~\x00\x02",
    b"\xac\xed\x00\x05\x73\x72\x00\x13java.util.ArrayListx\x81\xd2\x1d\x99\xc7a\x9d\x03\x00\x01I\x00\x04sizexp"
    b"\x00\x00\x00\x01w\x04\x00\x00\x00\x01t\x00\x01ax",
]
WSO2 = [encode_wso2(Wso2Message("carbon.super", -1234, "M", "AppInfoCache", key="app-42", sender="s"))[0]] + [
    json.dumps({"tenantDomain": "t", "tenantId": 1, "cacheManagerName": "M", "cacheName": "$__local__$.C",
                "cacheKeyBase64": base64.b64encode(stream).decode()}).encode() for stream in JAVA_STREAMS]
SEEDS = NATIVE + WSO2


def only_decode_errors(decode, data) -> object:
    """Call `decode(data)`; any exception other than DecodeError fails the test."""
    try:
        return decode(data)
    except DecodeError as exc:
        assert exc.reason in {"oversized", "malformed", "invalid", "version", "type", "unsigned",
                              "unknown_key", "bad_signature"}, exc.reason
        return None


DECODERS = [
    decode_envelope,
    lambda data: decode_wso2(data, {"sender": "x"}),
    lambda data: decode_message(data, {}),
    lambda data: decode_message(data, {}, keyring=KEYRING),
]


def feed_all(data: bytes) -> None:
    for decode in DECODERS:
        only_decode_errors(decode, data)
    value = only_decode_errors(read_object, data)
    if value is not None:
        assert isinstance(describe(value), str)


@st.composite
def mutated(draw, seeds):
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "duplicate"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[at] = draw(st.integers(0, 255))
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "delete":
            del data[at:at + draw(st.integers(1, 8))]
        elif kind == "truncate":
            del data[at:]
        else:
            data[at:at] = data[at:at + draw(st.integers(1, 16))]
    return bytes(data)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=15,
)
FIELDS = ["v", "type", "id", "origin", "node", "seq", "ts", "tenant", "items", "ack", "ack_of", "applied", "sig",
          "tenantDomain", "tenantId", "cacheManagerName", "cacheName", "cacheKeyBase64"]


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes(data):
    feed_all(data)
    feed_all(b"\xac\xed\x00\x05" + data)


@settings(max_examples=150, deadline=None)
@given(mutated(SEEDS))
def test_mutated_valid_messages(data):
    feed_all(data)


@settings(max_examples=150, deadline=None)
@given(mutated(JAVA_STREAMS))
def test_mutated_java_streams(data):
    value = only_decode_errors(read_object, data)
    if value is not None:
        assert isinstance(describe(value), str)
    body = json.dumps({"tenantDomain": "t", "tenantId": 1, "cacheManagerName": "M", "cacheName": "C",
                       "cacheKeyBase64": base64.b64encode(data).decode()}).encode()
    decoded = only_decode_errors(lambda b: decode_wso2(b, {}), body)
    if decoded is not None:
        json.dumps(wso2_to_envelope_dict(decoded))  # displayable


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.sampled_from(SEEDS), changes=st.dictionaries(st.sampled_from(FIELDS), _json, min_size=1, max_size=3),
       extra=st.dictionaries(st.text(max_size=6), _json, max_size=2))
def test_valid_messages_with_fields_replaced_by_random_json(seed, changes, extra):
    obj = json.loads(seed) | changes | extra
    data = json.dumps(obj).encode()
    feed_all(data)
    envelope = only_decode_errors(decode_envelope, data)
    if envelope is not None:  # whatever was accepted re-encodes to an envelope that decodes the same
        assert decode_envelope(encode_envelope(envelope)) == envelope


@settings(max_examples=100, deadline=None)
@given(_json)
def test_random_json(value):
    feed_all(json.dumps(value).encode())


def test_hostile_shapes_are_refused_quickly():
    for data in [
        b'{"v":1,"x":' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        b'{"v":1,"x":' + b'{"a":' * 50_000 + b"1" + b"}" * 50_000 + b"}",
        b'{"v":1,"type":"invalidate","items":[' + b'{"cache":"c","keys":["k"]},' * 30_000 + b"1]}",
        b'{"tenantDomain":"t","tenantId":1,"cacheManagerName":"M","cacheName":"C","cacheKeyBase64":"'
        + base64.b64encode(b"\xac\xed\x00\x05\x75" + b"\x71" + struct.pack(">i", 0x7E0000) * 4) + b'"}',
        serialize_string("x" * 2_000_000),
    ]:
        feed_all(data)
