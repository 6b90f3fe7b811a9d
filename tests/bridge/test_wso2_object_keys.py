"""IS object keys reaching a bridge (issue 17): a webhook target gets the key's class and fields,
a Redis target skips it and the bridge counts it, and a legacy connector's `Class@hash` key
flushes its cache instead of being dropped. A real bridge on ActiveMQ; the IS node is
played by a publisher putting the connector's bodies on the topic."""

from __future__ import annotations

import base64
import json
import secrets

from cachesync_cli.transport.base import ConnectOptions
from cachesync_cli.transport.connection import BrokerConnection

from ..local.test_webhook_target import Node
from ..redis_dbs import flushed_dbs
from ..reliability.helpers import metric
from ..wire.conftest import VECTORS_PATH
from .processes import BridgeProcess, bridge_config, wait_until

M = "IdentityApplicationManagementCacheManager"
DB = 9


def oauth_key_stream() -> bytes:
    vectors = {v["name"]: v for v in json.loads(VECTORS_PATH.read_text(encoding="utf-8"))}
    return base64.b64decode(vectors["oauth-cache-key-object"]["cacheKeyBase64"])


def is_node_publishes(broker: str, topic: str, *bodies: bytes) -> None:
    connection = BrokerConnection([broker], ConnectOptions(client_id=f"is-node-{secrets.token_hex(3)}")).open(
        timeout=10)
    try:
        for body in bodies:
            connection.publish(topic, body, {"sender": "is-node-1"}, confirm=True, timeout=10)
    finally:
        connection.close()


def test_object_keys_go_to_webhooks_are_counted_by_redis_and_legacy_object_keys_flush(
        tmp_path, activemq_stomp_url, topic_name, redis_url):
    node = Node()
    cluster = f"is-{secrets.token_hex(3)}"
    extra = f'''
[codec]
name = "wso2"
producer = "cachesync-{cluster}"

[[targets]]
type = "webhook"
name = "is-nodes"
urls = ["{node.url}"]
'''
    config = bridge_config(tmp_path, cluster, activemq_stomp_url, topic_name, redis_db=DB, redis_url=redis_url,
                           extra=extra)
    stream = oauth_key_stream()
    json_body = json.dumps({"tenantDomain": "carbon.super", "tenantId": -1234, "cacheManagerName": M,
                            "cacheName": "$__local__$.OAuthCache",
                            "cacheKeyBase64": base64.b64encode(stream).decode()}).encode()
    legacy_body = ("ClusterCacheInvalidationRequest{tenantId=-1234, tenantDomain='carbon.super', messageId=m-1, "
                   f"cacheManager={M}, cache=$__local__$.AppAuthFrameworkSessionContextCache, cacheKey=org.wso2."
                   "carbon.identity.application.authentication.framework.cache.SessionContextCacheKey@543af693}"
                   ).encode()
    try:
        with flushed_dbs(redis_url, DB) as (redis,), BridgeProcess(config) as bridge:
            redis.mset({"AppAuthFrameworkSessionContextCache:s1": "x", "OAuthCache:client-abc:user-1": "x"})
            is_node_publishes(activemq_stomp_url, topic_name, json_body, legacy_body)
            wait_until(lambda: len(node.requests) >= 2, message="the webhook gets both")
            wait_until(lambda: not redis.exists("AppAuthFrameworkSessionContextCache:s1"),
                       message="the Class@hash key flushes its cache")
            assert redis.exists("OAuthCache:client-abc:user-1") == 1  # Redis cannot use an object key
            assert metric(bridge, "cachesync_skipped_java_keys_total") == 1
            assert metric(bridge, 'cachesync_unusable_keys_total{cache="AppAuthFrameworkSessionContextCache"}') == 1
            assert "rejected" not in bridge.text
        documents = [body for _, _, body in node.requests]
        [oauth] = [d["items"][0] for d in documents if d["items"][0]["cache"] == "OAuthCache"]
        assert oauth["java_keys"] == [base64.b64encode(stream).decode()]  # the exact bytes
        assert oauth["java_keys_read"] == [{"class": "org.wso2.carbon.identity.oauth.cache.OAuthCacheKey",
                                            "fields": {"cacheKeyString": "client-abc:user-1"}}]
        [session] = [d["items"][0] for d in documents if d["items"][0]["cache"] != "OAuthCache"]
        assert session == {"manager": M, "cache": "AppAuthFrameworkSessionContextCache", "all": True}
    finally:
        node.close()
