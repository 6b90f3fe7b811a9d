"""Java object keys in native items (`java_keys`): carried as their exact bytes, coalesced by
bytes, split like string keys, never readable as something else by an older bridge."""

from __future__ import annotations

import json

import pytest

from cachesync_cli.bridge.coalesce import coalesce
from cachesync_cli.errors import DecodeError
from cachesync_cli.local.base import Invalidation
from cachesync_cli.local.payload import invalidation_document
from cachesync_cli.observed import observe, pretty_line
from cachesync_cli.publisher import Publisher
from cachesync_cli.transport.base import Delivery
from cachesync_cli.wire import Item, decode_envelope, decode_message, encode_envelope
from cachesync_cli.wire.batching import batch_items

M = "IdentityApplicationManagementCacheManager"


@pytest.fixture
def oauth_key(wso2_vectors) -> bytes:
    return wso2_vectors["oauth-cache-key-object"]["stream"]


def test_an_object_key_crosses_a_native_envelope_byte_for_byte(oauth_key):
    publisher = Publisher("t", origin="dc-east")
    [message] = publisher.messages([Item("OAuthCache", java_keys=(oauth_key,), manager=M)])
    wire = json.loads(message.body)
    assert "keys" not in wire["items"][0] and len(wire["items"][0]["java_keys"]) == 1
    [item] = decode_envelope(message.body).items
    assert item.java_keys == (oauth_key,) and item.keys == () and not item.all
    assert message.keys == 1


def test_an_older_bridge_rejects_such_an_item_rather_than_reading_it_as_empty(oauth_key):
    """The decoder before java_keys built Item(cache, keys=[], all=False), which is invalid:
    the whole envelope is rejected and its sequence number is missed, so a gap flush follows."""
    publisher = Publisher("t", origin="dc-east")
    [message] = publisher.messages([Item("OAuthCache", java_keys=(oauth_key,), manager=M)])
    wire = json.loads(message.body)
    older = dict(wire["items"][0])
    del older["java_keys"]  # what an older decoder sees of the item
    with pytest.raises(ValueError, match="needs one of"):
        Item(cache=older["cache"], keys=tuple(older.get("keys", [])), all=older.get("all", False))


@pytest.mark.parametrize("fields", [
    {"keys": ["k"], "java_keys": ["rO0ABXQAAWs="]},
    {"all": True, "java_keys": ["rO0ABXQAAWs="]},
    {"java_keys": ["not base64!"]},
    {"java_keys": ["aGVsbG8="]},  # not a Java stream
    {"java_keys": "rO0ABXQAAWs="},
])
def test_invalid_java_keys_are_rejected(fields):
    body = json.dumps({"v": 1, "type": "invalidate", "id": "a" * 32, "origin": "o", "node": "o/1", "seq": 1,
                       "ts": 1, "items": [{"cache": "C", **fields}], "ack": False}).encode()
    with pytest.raises(DecodeError) as caught:
        decode_envelope(body)
    assert caught.value.reason == "invalid"


def test_coalesced_by_bytes_and_kept_apart_from_string_keys(oauth_key):
    other = oauth_key.replace(b"user-1", b"user-2")
    batches = coalesce([(None, [Item("OAuthCache", java_keys=(oauth_key,), manager=M)]),
                        (None, [Item("OAuthCache", keys=("s",), manager=M)]),
                        (None, [Item("OAuthCache", java_keys=(oauth_key, other), manager=M)])])
    [(tenant, items)] = batches
    assert items == (Item("OAuthCache", keys=("s",), manager=M), Item("OAuthCache", java_keys=(oauth_key, other),
                                                                        manager=M))
    [(_, flushed)] = coalesce([(None, items), (None, [Item("OAuthCache", all=True, manager=M)])])
    assert flushed == (Item("OAuthCache", all=True, manager=M),)


def test_many_object_keys_are_split_into_envelopes_that_fit(oauth_key):
    keys = tuple(oauth_key.replace(b"user-1", f"u-{n:04d}".encode()) for n in range(3000))
    batches = batch_items([Item("OAuthCache", java_keys=keys, manager=M)], origin="o", node="o/1",
                          sig_key_id=None, max_bytes=32 * 1024)
    assert len(batches) > 1
    assert tuple(k for batch in batches for item in batch for k in item.java_keys) == keys
    publisher = Publisher("t", origin="o", max_bytes=32 * 1024)
    assert all(len(m.body) <= 32 * 1024 for m in publisher.messages([Item("OAuthCache", java_keys=keys)]))


def test_webhook_and_command_documents_show_class_and_fields(oauth_key):
    document = invalidation_document(Invalidation(origin="dc-west", items=(
        Item("OAuthCache", java_keys=(oauth_key, b"\xac\xed\x00\x05\x99"), manager=M),)))
    [item] = document["items"]
    assert item["java_keys_read"][0] == {"class": "org.wso2.carbon.identity.oauth.cache.OAuthCacheKey",
                                         "fields": {"cacheKeyString": "client-abc:user-1"}}
    assert "unreadable" in item["java_keys_read"][1]


def test_tail_shows_class_and_fields(oauth_key):
    publisher = Publisher("t", origin="dc-east")
    [message] = publisher.messages([Item("OAuthCache", java_keys=(oauth_key,), manager=M)])
    line = pretty_line(observe(Delivery(body=message.body, headers={}, destination="t")))
    assert 'OAuthCacheKey(cacheKeyString="client-abc:user-1")' in line


def test_a_wso2_object_key_keeps_its_exact_stream_and_is_written_back_as_it_came(oauth_key):
    import base64
    body = json.dumps({"tenantDomain": "carbon.super", "tenantId": -1234, "cacheManagerName": M,
                       "cacheName": "$__local__$.OAuthCache",
                       "cacheKeyBase64": base64.b64encode(oauth_key).decode()}).encode()
    message = decode_message(body, {"sender": "is-node-1"}).wso2
    assert message.key_stream == oauth_key
    out = Publisher("t", origin="dc-east", codec="wso2")
    [written] = out.messages([Item("OAuthCache", java_keys=(message.key_stream,), manager=M)])
    assert json.loads(written.body)["cacheKeyBase64"] == base64.b64encode(oauth_key).decode()
