"""HMAC signatures over RFC 8785 JSON: signing, verification, rotation, tampering."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json

import pytest
import rfc8785

from cachesync_cli.errors import DecodeError, SignatureError
from cachesync_cli.wire.envelope import Envelope, Item, Tenant, decode_envelope, encode_envelope, envelope_to_dict
from cachesync_cli.wire.signing import Keyring, encode_signed, sign_envelope

OLD, NEW = b"old secret \x00\xff", b"new secret"
ENV = Envelope(type="invalidate", id="9f1c0e6a2b7d4c55a1e3f0b2c4d6e8fa", origin="dc-east", node="dc-east/1",
               seq=7, ts=1795374419621, tenant=Tenant("carbon.super", -1234),
               items=(Item("AppInfoCache", ("app-1", "ключ"), manager="m"),))


def rejected(keyring: Keyring, raw: dict) -> SignatureError:
    with pytest.raises(SignatureError) as caught:
        keyring.verify(raw)
    assert isinstance(caught.value, DecodeError)
    return caught.value


def test_signature_is_hmac_sha256_of_the_rfc8785_form_without_sig():
    keyring = Keyring("k1", {"k1": NEW})
    sig = keyring.sign(ENV)
    expected = hmac.new(NEW, rfc8785.dumps(envelope_to_dict(ENV)), hashlib.sha256).hexdigest()
    assert sig == f"v1:k1:{expected}"
    assert keyring.sign(envelope_to_dict(ENV) | {"sig": "ignored"}) == sig


def test_signed_envelope_verifies_after_the_wire():
    keyring = Keyring("k1", {"k1": NEW})
    received = decode_envelope(encode_signed(ENV, keyring))
    assert received.sig.startswith("v1:k1:")
    assert keyring.verify_envelope(received) == "k1"
    assert keyring.verify(json.loads(encode_signed(ENV, keyring))) == "k1"
    assert keyring.verify_envelope(sign_envelope(ENV, keyring)) == "k1"


def test_rotation_accepts_old_and_new_keys_and_signs_with_one():
    old_sender = Keyring("old", {"old": OLD})
    new_sender = Keyring("new", {"new": NEW, "old": OLD})
    receiver = Keyring(None, {"old": OLD, "new": NEW})
    assert new_sender.sign(ENV).startswith("v1:new:")
    for sender in (old_sender, new_sender):
        assert receiver.verify(decode_envelope(encode_signed(ENV, sender)).raw) == sender.signing_key_id
    retired = Keyring("new", {"new": NEW})
    assert rejected(retired, decode_envelope(encode_signed(ENV, old_sender)).raw).reason == "unknown_key"


def test_verify_only_keyring_cannot_sign():
    with pytest.raises(ValueError):
        Keyring(None, {"k": NEW}).sign(ENV)


def test_unsigned_message_is_rejected():
    keyring = Keyring("k1", {"k1": NEW})
    assert rejected(keyring, decode_envelope(encode_envelope(ENV)).raw).reason == "unsigned"


def test_any_change_breaks_the_signature():
    keyring = Keyring("k1", {"k1": NEW})
    signed = json.loads(encode_signed(ENV, keyring))
    for field, value in [("seq", 8), ("origin", "dc-west"), ("items", [{"cache": "AppInfoCache", "all": True}]),
                         ("tenant", {"domain": "carbon.super"}), ("extra", 1)]:
        assert rejected(keyring, signed | {field: value}).reason == "bad_signature", field


def test_unknown_fields_are_covered_by_the_signature():
    keyring = Keyring("k1", {"k1": NEW})
    obj = envelope_to_dict(ENV) | {"from_the_future": {"b": 1, "a": [True, None]}}
    obj["sig"] = keyring.sign(obj)
    received = decode_envelope(json.dumps(obj, indent=2, sort_keys=True).encode())
    assert keyring.verify_envelope(received) == "k1"
    assert rejected(keyring, received.raw | {"from_the_future": {}}).reason == "bad_signature"


def test_wrong_secret_and_malformed_signatures():
    keyring = Keyring("k1", {"k1": NEW})
    impostor = Keyring("k1", {"k1": OLD})
    assert rejected(keyring, json.loads(encode_signed(ENV, impostor))).reason == "bad_signature"
    good = keyring.sign(ENV)
    obj = envelope_to_dict(ENV)
    for sig in ["", "v1:k1", f"v2:{good[3:]}", good.upper(), good + "00", good[:-1], "v1:k1:" + "z" * 64,
                f"v1:k1:{good[6:]}:x", 17, ["v1"], "v1:k1:ü"]:
        assert rejected(keyring, obj | {"sig": sig}).reason == "bad_signature", sig
    assert rejected(keyring, obj | {"sig": "v1:k9:" + good[6:]}).reason == "unknown_key"


def test_content_that_cannot_be_canonicalized_is_a_bad_signature_not_a_crash():
    keyring = Keyring("k1", {"k1": NEW})
    obj = envelope_to_dict(ENV) | {"sig": keyring.sign(ENV)}
    for extra in (1.5, 2**60, "\ud800"):
        assert rejected(keyring, obj | {"extra": extra}).reason == "bad_signature"


@pytest.mark.parametrize("args", [
    ("k1", {}), ("k2", {"k1": NEW}), ("k1", {"k1": b""}), ("k1", {"k1": "text"}), ("a:b", {"a:b": NEW}),
    (None, {"": NEW}),
])
def test_keyring_validation(args):
    with pytest.raises(ValueError):
        Keyring(*args)


def test_sign_envelope_keeps_everything_else():
    keyring = Keyring("k1", {"k1": NEW})
    signed = sign_envelope(ENV, keyring)
    assert dataclasses.replace(signed, sig=None) == ENV
