"""What the broker-leg tests share: IS stand-ins on a real broker (`cachesync invalidate --codec
wso2` publishing, an observer reading the IS topic as an IS node does, a hybrid-mode
re-publisher), and the config of a bridge with a leg."""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import queue
import secrets
import subprocess
import sys
import threading

from cachesync_cli.local.leg_guard import is_leg_producer
from cachesync_cli.transport.base import ConnectOptions, SubscriptionSpec
from cachesync_cli.transport.connection import BrokerConnection
from cachesync_cli.wire import decode_message
from cachesync_cli.wire.wso2 import encode_wso2

from ..wire.conftest import VECTORS_PATH

M = "IdentityApplicationManagementCacheManager"
OAUTH_M = "OAuthCacheManager"
FLUSH = [f"{M}/AppInfoCache", f"{OAUTH_M}/OAuthCache"]


def oauth_key_stream() -> bytes:
    vectors = {v["name"]: v for v in json.loads(VECTORS_PATH.read_text(encoding="utf-8"))}
    return base64.b64decode(vectors["oauth-cache-key-object"]["cacheKeyBase64"])


def object_key_body(stream: bytes) -> bytes:
    """What an IS node publishes for an OAuthCacheKey (connector 2.1.9+ JSON)."""
    return json.dumps({"tenantDomain": "carbon.super", "tenantId": -1234, "cacheManagerName": OAUTH_M,
                       "cacheName": "$__local__$.OAuthCache",
                       "cacheKeyBase64": base64.b64encode(stream).decode()}).encode()


def leg_toml(url: str, topic: str, *, subscription: str, flush=FLUSH, extra_target: str = "",
             codec: str = "wso2", flush_interval: float = 1) -> str:
    return f'''
[[sources]]
type = "broker"
url = "{url}"
topic = "{topic}"
subscription = "{subscription}"
codec = "{codec}"

[[targets]]
type = "broker"
name = "is-nodes"
url = "{url}"
topic = "{topic}"
tenants = [{{domain = "carbon.super", id = -1234}}]
flush = {json.dumps(flush)}
flush_interval = {flush_interval}
codec = "{codec}"
{extra_target}
'''


def invalidate(url: str, topic: str, *args: str, sender: str = "is-node-1", lines: list[dict] | None = None) -> None:
    """An IS node's invalidations, sent by `cachesync invalidate --codec wso2` (`lines`: NDJSON
    items on stdin, one message each, in order)."""
    if lines is not None:
        args = (*args, "--file", "-", "--input", "ndjson")
    environ = {k: v for k, v in os.environ.items() if not k.startswith("CACHESYNC_")}
    result = subprocess.run([sys.executable, "-m", "cachesync_cli", "invalidate", *args, "--codec", "wso2",
                             "--sender", sender, "--tenant", "carbon.super:-1234", "--broker", url, "--topic", topic,
                             "--confirm", "--timeout", "15"], env=environ, capture_output=True, text=True,
                            timeout=60, input="".join(json.dumps(line) + "\n" for line in lines or ()))
    assert result.returncode == 0, result.stderr


class IsTopic:
    """An IS node's view of its topic: every WSO2 message, decoded as (sender, message). With
    `republish`, it also does what IS hybrid mode does: what a bridge delivered is published
    again under this node's own sender."""

    def __init__(self, url: str, topic: str, *, republish_as: str | None = None, codec: str = "wso2") -> None:
        self.url, self.topic, self.codec = url, topic, codec
        self.seen: list = []
        self.republish_as = republish_as
        self._outbox: queue.SimpleQueue = queue.SimpleQueue()
        self.connection = BrokerConnection([url], ConnectOptions(client_id=f"is-{secrets.token_hex(4)}"))
        self.connection.subscribe(SubscriptionSpec(topic, self._on_message))
        self.connection.open(timeout=15)
        if republish_as:
            threading.Thread(target=self._republish, daemon=True).start()

    def _on_message(self, delivery) -> None:
        decoded = decode_message(delivery.body, delivery.headers, self.codec)
        if decoded.envelope is not None:  # the native codec: (origin, envelope)
            self.seen.append((decoded.envelope.origin, decoded.envelope))
            return
        message = decoded.wso2
        self.seen.append((message.sender, message))
        if self.republish_as and is_leg_producer(message.sender):
            self._outbox.put(message)

    def _republish(self) -> None:
        while True:
            message = self._outbox.get()
            if message is None:
                return
            body, headers = encode_wso2(dataclasses.replace(message, sender=self.republish_as), message.body_format)
            self.connection.publish(self.topic, body, headers, confirm=True, timeout=10)

    def publish(self, body: bytes, sender: str = "is-node-1") -> None:
        self.connection.publish(self.topic, body, {"sender": sender}, confirm=True, timeout=10)

    def from_bridges(self, cache: str | None = None) -> list:
        return [m for s, m in self.seen if is_leg_producer(s) and (cache is None or m.cache == cache)]

    def close(self) -> None:
        self._outbox.put(None)
        self.connection.close()
