"""WSO2 IS nodes (our JMS peer, `IsPeer.java`, on ActiveMQ OpenWire) and cachesync (STOMP).

Both directions, both connector body formats (2.1.9+ JSON, 2.0.x-2.1.8 text): string keys
(empty, non-ASCII, emoji, NUL), an IS object key (`OAuthCacheKey`), clear-all. And no
cachesync message stops the JMS consumer: after each one, the peer still receives the next.
ActiveMQ keeps a TextMessage's text in Java's modified UTF-8; these tests are what shows
that `transport/activemq_text.py` converts it both ways (emoji and NUL broke before).
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest

from tests.cli.run import Tail, cachesync

pytestmark = pytest.mark.activemq

VECTORS = Path(__file__).resolve().parent.parent / "wire" / "data" / "wso2-key-vectors.json"
MANAGER = "IdentityApplicationManagementCacheManager"
CACHE = "AppInfoCache"
KEYS = ["app-42", "", "ユーザー:admin@wso2.com", "token-😀", "a\x00b", "ü-€-😀-\x00-end"]
"""ASCII, empty, BMP, an emoji (beyond U+FFFF), NUL, all of them."""


@pytest.fixture
def jms_topic() -> str:
    return f"cachesync.test.jms.{secrets.token_hex(6)}"


def vector(name: str) -> str:
    return next(v["cacheKeyBase64"] for v in json.loads(VECTORS.read_text()) if v["name"] == name)


def invalidate_wso2(url: str, topic: str, tmp_path: Path, lines: list[dict], *, body_format: str,
                    sender: str = "cachesync-test") -> None:
    """`cachesync invalidate --codec wso2` with NDJSON items on stdin (a NUL cannot be an argument)."""
    config = tmp_path / f"wso2-{body_format}.toml"
    config.write_text(f'[codec]\nname = "wso2"\nwso2_format = "{body_format}"\n')
    result = cachesync("invalidate", "--config", str(config), "--broker", url, "--topic", topic, "--sender", sender,
                       "--confirm", "--file", "-", "--input", "ndjson",
                       input="".join(json.dumps(line) + "\n" for line in lines), timeout=60)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("body_format", ["json", "legacy"])
def test_is_node_to_tail(jms_peer, activemq_stomp_url, jms_topic, body_format):
    node = jms_peer(jms_topic, "is-node-1", "send")
    count = len(KEYS) + 2
    with Tail(activemq_stomp_url, jms_topic, "--codec", "wso2", "--format", "ndjson", "--count", str(count)) as tail:
        for key in KEYS:
            node.publish(manager=MANAGER, cache=CACHE, key=key, body_format=body_format)
        sent = node.publish(manager="OAuthCacheManager", cache="OAuthCache", oauth_key="client-abc:user-1",
                            body_format=body_format)
        node.publish(manager=MANAGER, cache=CACHE, clear_all=True, body_format=body_format)
        shown = [json.loads(line) for line in tail.lines(count, timeout=30)]
    assert tail.returncode == 0, tail.stderr
    assert not [line for line in shown if line.get("malformed")], shown
    assert all(line["origin"] == "is-node-1" and line["codec"] == "wso2" for line in shown)
    assert all(line["tenant"] == {"domain": "carbon.super", "id": -1234} for line in shown)
    assert [line["items"] for line in shown[:len(KEYS)]] == [
        [{"manager": MANAGER, "cache": CACHE, "keys": [key]}] for key in KEYS]
    object_key = shown[len(KEYS)]["items"][0]
    if body_format == "json":  # the connector's bytes, read by our own code
        assert json.loads(sent)["cacheKeyBase64"] == vector("oauth-cache-key-object")
        assert object_key["keys"] == ['OAuthCacheKey(cacheKeyString="client-abc:user-1")']
    else:  # String.valueOf(key): Class@hash, which names no entry
        assert object_key["keys"][0].startswith("org.wso2.carbon.identity.oauth.cache.OAuthCacheKey@")
    assert shown[-1]["items"] == [{"manager": MANAGER, "cache": CACHE, "all": True}]


@pytest.mark.parametrize("body_format", ["legacy", "both"])  # both: the JSON too
def test_invalidate_to_is_nodes(jms_peer, activemq_stomp_url, jms_topic, tmp_path, body_format):
    """Each message `invalidate` sends reaches the JMS consumer as the connector reads it, and
    the consumer goes on: a native envelope on the IS topic first (the connector rejects it),
    then the WSO2 messages, then one from another IS node, which must still arrive. A node in
    hybrid mode re-publishes what it accepted; `tail` reads those back from the JVM."""
    peers = [jms_peer(jms_topic, name, mode, wait=False)  # three JVMs boot at once
             for name, mode in [("is-node-1", "consume"), ("is-node-2", "hybrid"), ("is-node-3", "send")]]
    node, hybrid, other = (peer.ready() for peer in peers)
    formats = ["json", "legacy"] if body_format == "both" else [body_format]
    wso2_messages = (len(KEYS) + 1) * len(formats)
    with Tail(activemq_stomp_url, jms_topic, "--codec", "wso2", "--format", "ndjson", "--origin", "is-node-2",
              "--count", str(wso2_messages)) as tail:
        native = cachesync("invalidate", CACHE, "k-😀", "--broker", activemq_stomp_url, "--topic", jms_topic,
                           "--confirm", env={"CACHESYNC_CLUSTER": "dc-test"})
        assert native.returncode == 0, native.stderr
        invalidate_wso2(activemq_stomp_url, jms_topic, tmp_path, body_format=body_format, lines=[
            {"manager": MANAGER, "cache": CACHE, "keys": KEYS}, {"manager": MANAGER, "cache": CACHE, "all": True}])
        other.publish(manager=MANAGER, cache=CACHE, key="after-cachesync")
        for peer in (node, hybrid):
            rejected = peer.received()
            assert rejected["sender"] is None and rejected["accepted"] is False
            assert "Unrecognized field" in rejected["error"]  # IS's Jackson rejects the envelope
            assert json.loads(rejected["text"])["items"][0]["keys"] == ["k-😀"]  # what Java read
            for key in KEYS + ["$__clear__all__$."]:
                for form in formats:
                    got = peer.received(lambda event: event["sender"] == "cachesync-test")
                    assert got["accepted"] is True, got
                    assert (got["format"], got["key"], got["keyClass"]) == (form, key, "java.lang.String")
                    assert got["clearAll"] is (key == "$__clear__all__$.")
                    assert (got["tenantDomain"], got["tenantId"]) == ("carbon.super", -1234)
                    assert (got["cacheManagerName"], got["cacheName"]) == (MANAGER, "$__local__$." + CACHE)
            assert peer.received(lambda event: event["sender"] == "is-node-3")["key"] == "after-cachesync"
        republished = [json.loads(line) for line in tail.lines(wso2_messages, timeout=30)]
    assert not [line for line in republished if line.get("malformed")], republished
    shown_keys = [line["items"][0].get("keys", ["<all>"])[0] for line in republished]
    assert shown_keys == [key for key in KEYS + ["<all>"] for _ in formats]
