"""The connector's 2.0.x-2.1.8 text format, against texts a JVM produced with its toString()."""

from __future__ import annotations

import pytest

from cachesync_cli.errors import DecodeError
from cachesync_cli.wire import decode_message
from cachesync_cli.wire.wso2 import Wso2Message, encode_wso2
from cachesync_cli.wire.wso2_legacy import CONNECTOR_PATTERN, ObjectKeyText, format_legacy, parse_legacy

MANAGER = "IdentityApplicationManagementCacheManager"


def texts(legacy_vectors):
    return [v for v in legacy_vectors["jvm_produced"] if "text" in v]


def test_reads_every_jvm_text_exactly(legacy_vectors):
    vectors = texts(legacy_vectors)
    assert len(vectors) >= 10
    for vector in vectors:
        request = parse_legacy(vector["text"])
        assert request.key == vector["key"], vector["name"]
        assert (request.tenant_id, request.tenant_domain) == (-1234, "carbon.super")
        decoded = decode_message(vector["text"].encode(), {"sender": "is-node-1"}, "auto")
        assert decoded.codec == "wso2" and decoded.wso2.body_format == "legacy"
        assert decoded.wso2.cache == "AppInfoCache" and decoded.wso2.sender == "is-node-1"


def test_our_copy_of_the_connector_pattern_reads_what_the_jvm_read(legacy_vectors):
    for vector in texts(legacy_vectors):
        reads = vector["connector_regex_reads"]
        if not isinstance(reads, dict):
            continue
        match = CONNECTOR_PATTERN.search(vector["text"])
        assert (match is not None) == reads["matched"], vector["name"]
        if match:
            assert match["cacheKey"] == reads["cacheKey"] and match["cache"] == reads["cache"]


def test_writes_exactly_what_the_jvm_wrote_when_the_connector_reads_it_back(legacy_vectors):
    written = 0
    for vector in texts(legacy_vectors):
        request = parse_legacy(vector["text"])
        reads = vector["connector_regex_reads"]
        carried = not isinstance(reads, dict) or reads["matched"] and reads["cacheKey"] == vector["key"]
        if not carried:
            with pytest.raises(ValueError):
                format_legacy(tenant_id=-1234, tenant_domain="carbon.super", manager=MANAGER,
                              cache=request.cache, key=vector["key"])
            continue
        text = format_legacy(tenant_id=-1234, tenant_domain="carbon.super", manager=MANAGER, cache=request.cache,
                             key=vector["key"], message_id=request.message_id)
        assert text == vector["text"]
        written += 1
    assert written >= 5


@pytest.mark.parametrize("key", ["a}b", "a\nb", "a\rb", "a\u0085b", "a\u2028b", "a\u2029b"])
def test_refuses_keys_the_connector_would_misread(key):
    message = Wso2Message("carbon.super", -1234, MANAGER, "AppInfoCache", key=key, sender="cachesync-dc-east")
    with pytest.raises(ValueError, match="legacy"):
        encode_wso2(message, "legacy")
    assert encode_wso2(message, "json")  # the JSON format carries it


@pytest.mark.parametrize("domain, manager", [("my-tenant.com", MANAGER), ("exämple.com", MANAGER),
                                             ("carbon.super", "My-Manager"), ("carbon.super", "Managér")])
def test_refuses_domains_and_managers_outside_ascii_word_characters(domain, manager):
    with pytest.raises(ValueError, match="ASCII"):
        format_legacy(tenant_id=1, tenant_domain=domain, manager=manager, cache="$__local__$.C", key="k")


def test_a_legacy_object_key_is_read_as_unusable(legacy_vectors):
    quoted = next(q["text"] for q in legacy_vectors["quoted_from_source"] if "SessionContextCacheKey@" in q.get("text", ""))
    decoded = decode_message(quoted.encode(), {}, "wso2").wso2
    assert isinstance(decoded.key, ObjectKeyText)
    assert decoded.key.class_name.endswith(".SessionContextCacheKey")
    assert decoded.cache == "AppAuthFrameworkSessionContextCache" and decoded.tenant_domain == "example.com"


def test_encode_then_decode_round_trips_through_the_legacy_text():
    message = Wso2Message("wso2.com", 3, MANAGER, "AppInfoCache", key="ünï-€-😀 x", sender="cachesync-dc-east")
    body, headers = encode_wso2(message, "legacy")
    assert body.startswith(b"ClusterCacheInvalidationRequest{tenantId=3, tenantDomain='wso2.com', messageId=")
    assert decode_message(body, headers).wso2 == Wso2Message(
        "wso2.com", 3, MANAGER, "AppInfoCache", key="ünï-€-😀 x", sender="cachesync-dc-east", body_format="legacy")


@pytest.mark.parametrize("text", [
    "ClusterCacheInvalidationRequest{tenantId=x, tenantDomain='a', messageId=1, cacheManager=m, cache=c, cacheKey=k}",
    "ClusterCacheInvalidationRequest{tenantId=99999999999, tenantDomain='a', messageId=1, cacheManager=m, "
    "cache=c, cacheKey=k}",
    "ClusterCacheInvalidationRequest{tenantId=1, tenantDomain='a', messageId=1, cacheManager=m, cache=c}",
    "ClusterCacheInvalidationRequest{tenantId=1, tenantDomain='a', messageId=1, cacheManager=m, cache=c, cacheKey=k",
])
def test_broken_texts_are_invalid(text):
    with pytest.raises(DecodeError) as caught:
        decode_message(text.encode(), {})
    assert caught.value.reason == "invalid"
