"""decode_message: telling the formats apart, and signatures when a keyring is given."""

from __future__ import annotations

import pytest

from cachesync_cli.errors import DecodeError, SignatureError
from cachesync_cli.wire.codec import decode_message
from cachesync_cli.wire.envelope import Envelope, Item, encode_envelope, envelope_to_dict
from cachesync_cli.wire.signing import Keyring, encode_signed
from cachesync_cli.wire.wso2 import Wso2Message, encode_wso2

ENV = Envelope(type="invalidate", id="i" * 32, origin="dc-east", node="dc-east/1", seq=3, ts=1795374419621,
               items=(Item("AppInfoCache", ("app-1",)),))
WSO2 = Wso2Message("carbon.super", -1234, "M", "AppInfoCache", key="app-42", sender="is-1")
KEYRING = Keyring("k", {"k": b"secret"})


def failure(*args, **kwargs) -> DecodeError:
    with pytest.raises(DecodeError) as caught:
        decode_message(*args, **kwargs)
    return caught.value


def test_auto_detects_native():
    decoded = decode_message(encode_envelope(ENV), {})
    assert decoded.codec == "native" and decoded.envelope == ENV and decoded.wso2 is None
    assert decoded.display == envelope_to_dict(ENV)


def test_auto_detects_wso2():
    body, headers = encode_wso2(WSO2)
    decoded = decode_message(body, headers)
    assert decoded.codec == "wso2" and decoded.wso2 == WSO2 and decoded.envelope is None
    assert decoded.display["items"] == [{"manager": "M", "cache": "AppInfoCache", "keys": ["app-42"]}]
    assert decoded.display["origin"] == "is-1"


def test_explicit_codec_does_not_guess():
    body, headers = encode_wso2(WSO2)
    assert failure(body, headers, "native").reason == "invalid"
    assert failure(encode_envelope(ENV), {}, "wso2").reason == "invalid"
    assert decode_message(encode_envelope(ENV), None, "native").envelope == ENV


def test_neither_format_is_invalid():
    assert failure(b'{"cache":"c","keys":["k"]}', {}).reason == "invalid"


def test_native_reasons_pass_through():
    assert failure(encode_envelope(ENV).replace(b'"v":1', b'"v":9'), {}).reason == "version"
    assert failure(b"x" * 100, {}, max_bytes=99).reason == "oversized"


def test_with_a_keyring_signatures_are_required():
    decoded = decode_message(encode_signed(ENV, KEYRING), {}, keyring=KEYRING)
    assert decoded.envelope.sig.startswith("v1:k:")
    with pytest.raises(SignatureError) as caught:
        decode_message(encode_envelope(ENV), {}, keyring=KEYRING)
    assert caught.value.reason == "unsigned"
    with pytest.raises(SignatureError) as caught:
        decode_message(encode_signed(ENV, Keyring("k", {"k": b"other"})), {}, keyring=KEYRING)
    assert caught.value.reason == "bad_signature"
    body, headers = encode_wso2(WSO2)
    with pytest.raises(SignatureError):
        decode_message(body, headers, keyring=KEYRING)


def test_unknown_codec_is_a_programming_error():
    with pytest.raises(ValueError):
        decode_message(b"{}", {}, "xml")
