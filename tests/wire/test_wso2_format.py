"""The WSO2 Identity Server format: byte-exact encoding, strict decoding, display."""

from __future__ import annotations

import base64
import json

import pytest

from cachesync_cli.errors import DecodeError
from cachesync_cli.wire.javaser import JavaObject, describe
from cachesync_cli.wire.wso2 import (
    CLEAR_ALL_KEY,
    LOCAL_PREFIX,
    Wso2Message,
    decode_wso2,
    encode_wso2,
    wso2_to_envelope_dict,
)

SPEC_BODY = (b'{"tenantDomain":"carbon.super","tenantId":-1234,"cacheManagerName":'
             b'"IdentityApplicationManagementCacheManager","cacheName":"$__local__$.AppInfoCache",'
             b'"cacheKeyBase64":"rO0ABXQABmFwcC00Mg=="}')
MANAGER = "IdentityApplicationManagementCacheManager"


def message(**changes) -> Wso2Message:
    fields = dict(tenant_domain="carbon.super", tenant_id=-1234, manager=MANAGER, cache="AppInfoCache",
                  key="app-42", sender="is-node-1")
    return Wso2Message(**(fields | changes))


def body_with(**changes) -> bytes:
    obj = json.loads(SPEC_BODY)
    obj.update(changes)
    return json.dumps({k: v for k, v in obj.items() if v is not ...}).encode()


def decode_failure(body: bytes, headers=None, **kwargs) -> DecodeError:
    with pytest.raises(DecodeError) as caught:
        decode_wso2(body, headers or {}, **kwargs)
    return caught.value


def test_encodes_the_spec_example_byte_for_byte():
    body, headers = encode_wso2(message())
    assert body == SPEC_BODY
    assert headers == {"sender": "is-node-1"}


def test_prefix_is_added_once():
    assert json.loads(encode_wso2(message(cache=LOCAL_PREFIX + "AppInfoCache"))[0]) == json.loads(SPEC_BODY)


def test_decodes_the_spec_example():
    assert decode_wso2(SPEC_BODY, {"sender": "is-node-1"}) == message()


@pytest.mark.parametrize("name", ["ascii", "empty", "bmp-unicode", "astral-emoji", "nul-char", "long-string-70000"])
def test_string_key_vectors_encode_exactly_and_decode_back(wso2_vectors, name):
    vector = wso2_vectors[name]
    body, _ = encode_wso2(message(key=vector["key"]))
    assert json.loads(body)["cacheKeyBase64"] == vector["cacheKeyBase64"]
    decoded = decode_wso2(body, {"sender": "is-node-1"})
    assert decoded.key == vector["key"] and not decoded.clear_all
    assert wso2_to_envelope_dict(decoded)["items"][0]["keys"] == [vector["key"]]


def test_clear_all_sends_the_marker_key_and_decodes_as_clear_all(wso2_vectors):
    body, _ = encode_wso2(message(key=None, clear_all=True))
    assert json.loads(body)["cacheKeyBase64"] == wso2_vectors["clear-all-marker"]["cacheKeyBase64"]
    decoded = decode_wso2(body, {"sender": "x"})
    assert decoded.clear_all and decoded.key is None and decoded.cache == "AppInfoCache"
    assert wso2_to_envelope_dict(decoded)["items"] == [{"manager": MANAGER, "cache": "AppInfoCache", "all": True}]


@pytest.mark.parametrize("name, class_name, fields, shown", [
    ("integer", "java.lang.Integer", {"value": 42}, "Integer(value=42)"),
    ("oauth-cache-key-object", "org.wso2.carbon.identity.oauth.cache.OAuthCacheKey",
     {"cacheKeyString": "client-abc:user-1"}, 'OAuthCacheKey(cacheKeyString="client-abc:user-1")'),
])
def test_object_key_vectors_decode_for_display(wso2_vectors, name, class_name, fields, shown):
    body = body_with(cacheName="$__local__$.OAuthCache", cacheKeyBase64=wso2_vectors[name]["cacheKeyBase64"])
    decoded = decode_wso2(body, {})
    assert isinstance(decoded.key, JavaObject)
    assert decoded.key.class_name == class_name and decoded.key.fields == fields
    assert decoded.sender is None
    assert describe(decoded.key) == shown
    # displayed (and replayed by `invalidate --file`) as the exact stream, never as the text shown
    assert wso2_to_envelope_dict(decoded) == {
        "type": "invalidate", "origin": "wso2", "tenant": {"domain": "carbon.super", "id": -1234},
        "items": [{"manager": MANAGER, "cache": "OAuthCache", "java_keys": [wso2_vectors[name]["cacheKeyBase64"]]}],
        "wso2_format": "json",
    }


def test_display_dict_uses_the_sender_as_origin():
    shown = wso2_to_envelope_dict(decode_wso2(SPEC_BODY, {"sender": "is-node-1"}))
    assert shown["origin"] == "is-node-1"
    assert shown["items"] == [{"manager": MANAGER, "cache": "AppInfoCache", "keys": ["app-42"]}]


def test_sender_header_variants():
    assert decode_wso2(SPEC_BODY, {"Sender": "a"}).sender == "a"
    assert decode_wso2(SPEC_BODY, {"sender": b"b"}).sender == "b"
    assert decode_wso2(SPEC_BODY, {"sender": ""}).sender is None
    assert decode_failure(SPEC_BODY, {"sender": 5}).reason == "invalid"


def test_cache_name_without_prefix_is_kept():
    assert decode_wso2(body_with(cacheName="Plain"), {}).cache == "Plain"


@pytest.mark.parametrize("msg", [
    message(key=JavaObject("java.lang.Integer", {"value": 1})), message(key=42), message(key=None),
    message(sender=None), message(sender=""), message(tenant_id="-1234"), message(tenant_id=True),
])
def test_unpublishable_messages_are_refused(msg):
    with pytest.raises(ValueError):
        encode_wso2(msg)


@pytest.mark.parametrize("changes", [
    dict(tenantDomain=...), dict(tenantId=...), dict(cacheManagerName=...), dict(cacheName=...),
    dict(cacheKeyBase64=...), dict(tenantId="-1234"), dict(tenantId=True), dict(tenantId=1.5),
    dict(tenantDomain=None), dict(cacheName=["x"]), dict(cacheKeyBase64=5),
    dict(cacheKeyBase64="rO0ABXQABmFwcC00Mg"), dict(cacheKeyBase64="rO0AB XQABmFwcC00Mg=="),
    dict(cacheKeyBase64="rO0ABXQABmFwcC00Mg==!"), dict(cacheKeyBase64="ключ"),
], ids=str)
def test_schema_violations_are_invalid(changes):
    assert decode_failure(body_with(**changes)).reason == "invalid"


@pytest.mark.parametrize("key_stream", [b"", b"not java", b"\xac\xed\x00\x05\x74\x00\x09short"])
def test_unreadable_key_streams_are_malformed(key_stream):
    body = body_with(cacheKeyBase64=base64.b64encode(key_stream).decode())
    assert decode_failure(body).reason == "malformed"


def test_size_and_json_errors():
    assert decode_failure(SPEC_BODY, max_bytes=len(SPEC_BODY) - 1).reason == "oversized"
    assert decode_wso2(SPEC_BODY, {}, max_bytes=len(SPEC_BODY)).key == "app-42"
    assert decode_failure(b"{not json").reason == "malformed"
    assert decode_failure(b"[]").reason == "invalid"


def test_clear_all_constant():
    assert CLEAR_ALL_KEY == "$__clear__all__$." and LOCAL_PREFIX == "$__local__$."
