"""`invalidate --wso2-format` and the NDJSON round trip of IS object keys (issue 17), with real
CLI processes on real brokers: `tail` reads what `invalidate` wrote in each body format, and
what `tail --format ndjson` printed of an IS node's object key is replayed by `invalidate
--file` with the key's exact bytes, never as the string `tail` showed."""

from __future__ import annotations

import base64
import json

import pytest

from cachesync_cli.cli.invalidate import WSO2_FORMATS
from cachesync_cli.wire.wso2 import BODY_FORMATS

from ..bridge.test_wso2_object_keys import is_node_publishes, oauth_key_stream
from .run import Tail, cachesync

M = "IdentityApplicationManagementCacheManager"
OAUTH_CLASS = "org.wso2.carbon.identity.oauth.cache.OAuthCacheKey"


@pytest.fixture(params=["amqp", "activemq_stomp"])
def broker_url(request) -> str:
    return request.getfixturevalue(f"{request.param}_url")


def invalidate(url: str, topic: str, *args: str, input: str | None = None, cwd=None) -> dict:
    result = cachesync("invalidate", *args, "--broker", url, "--topic", topic, "--json", "--confirm",
                       input=input, env={"CACHESYNC_CLUSTER": "dc-test"}, cwd=cwd)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_wso2_format_choices_are_the_wire_formats():
    assert WSO2_FORMATS == BODY_FORMATS


@pytest.mark.parametrize("body_format, expected", [("json", ["json"]), ("legacy", ["legacy"]),
                                                   ("both", ["json", "legacy"])])
def test_tail_reads_what_invalidate_wrote_in_each_format(broker_url, topic_name, body_format, expected):
    with Tail(broker_url, topic_name, "--format", "ndjson", "--count", str(len(expected))) as tail:
        result = invalidate(broker_url, topic_name, "AppInfoCache", "app-1", "--codec", "wso2", "--manager", M,
                            "--sender", "cachesync-dc-test", "--tenant", "wso2.com:3",
                            "--wso2-format", body_format)
        records = [json.loads(line) for line in tail.lines(len(expected))]
    assert tail.returncode == 0, tail.stderr
    assert result["wso2_format"] == body_format and result["messages"] == len(expected)
    assert [r["wso2_format"] for r in records] == expected
    for record in records:
        assert record["codec"] == "wso2" and record["origin"] == "cachesync-dc-test"
        assert record["tenant"] == {"domain": "wso2.com", "id": 3}
        assert record["items"] == [{"manager": M, "cache": "AppInfoCache", "keys": ["app-1"]}]


def test_the_flag_overrides_the_config_file(activemq_stomp_url, topic_name, tmp_path):
    (tmp_path / "cachesync.toml").write_text('[codec]\nname = "wso2"\nwso2_format = "legacy"\n')
    with Tail(activemq_stomp_url, topic_name, "--format", "raw", "--count", "2") as tail:
        invalidate(activemq_stomp_url, topic_name, "AppInfoCache", "from-config", "--manager", M, cwd=tmp_path)
        invalidate(activemq_stomp_url, topic_name, "AppInfoCache", "from-flag", "--manager", M,
                   "--wso2-format", "json", cwd=tmp_path)
        from_config, from_flag = tail.lines(2)
    assert from_config.startswith("ClusterCacheInvalidationRequest{") and "cacheKey=from-config}" in from_config
    assert json.loads(from_flag)["cacheKeyBase64"]  # the 2.1.9+ JSON


def test_wso2_format_needs_the_wso2_codec():
    result = cachesync("invalidate", "AppInfoCache", "k", "--wso2-format", "legacy", "--broker", "memory://x")
    assert result.returncode == 2
    assert "--wso2-format legacy applies to the wso2 codec only" in result.stderr
    assert "--codec wso2" in result.stderr


def test_replayed_object_key_keeps_its_exact_bytes(broker_url, topic_name):
    stream = oauth_key_stream()
    encoded = base64.b64encode(stream).decode()
    body = json.dumps({"tenantDomain": "carbon.super", "tenantId": -1234, "cacheManagerName": "OAuthCacheManager",
                       "cacheName": "$__local__$.OAuthCache", "cacheKeyBase64": encoded}).encode()
    with Tail(broker_url, topic_name, "--format", "ndjson", "--count", "1") as tail:
        is_node_publishes(broker_url, topic_name, body)
        recorded = tail.lines(1)[0]
    record = json.loads(recorded)
    item = record["items"][0]
    assert "keys" not in item  # never the description as a string key
    assert item["java_keys"] == [encoded]
    assert item["java_keys_read"] == [{"class": OAUTH_CLASS, "fields": {"cacheKeyString": "client-abc:user-1"}}]

    # replayed in the wso2 codec: the IS body carries the same bytes; natively: java_keys
    with Tail(broker_url, topic_name, "--format", "raw", "--count", "2") as replay_tail:
        invalidate(broker_url, topic_name, "--file", "-", "--codec", "wso2", "--sender", "replay",
                   input=recorded + "\n")
        invalidate(broker_url, topic_name, "--file", "-", input=recorded + "\n")
        wso2_body, native_body = (json.loads(line) for line in replay_tail.lines(2))
    assert wso2_body["cacheKeyBase64"] == encoded
    assert wso2_body["cacheName"] == "$__local__$.OAuthCache" and wso2_body["cacheManagerName"] == "OAuthCacheManager"
    assert native_body["items"] == [{"manager": "OAuthCacheManager", "cache": "OAuthCache", "java_keys": [encoded]}]


def test_pretty_and_template_show_an_object_key_by_class_and_fields(activemq_stomp_url, topic_name):
    encoded = base64.b64encode(oauth_key_stream()).decode()
    body = json.dumps({"tenantDomain": "carbon.super", "tenantId": -1234, "cacheManagerName": "OAuthCacheManager",
                       "cacheName": "$__local__$.OAuthCache", "cacheKeyBase64": encoded}).encode()
    with Tail(activemq_stomp_url, topic_name, "--template", "{keys}|{key_count}\n", "--count", "1") as tail:
        is_node_publishes(activemq_stomp_url, topic_name, body)
        line = tail.lines(1)[0]
    assert line == 'OAuthCacheKey(cacheKeyString="client-abc:user-1")|1'


def test_replayed_legacy_class_at_hash_clears_its_cache(activemq_stomp_url, topic_name):
    body = ("ClusterCacheInvalidationRequest{tenantId=-1234, tenantDomain='carbon.super', messageId=m-1, "
            "cacheManager=OAuthCacheManager, cache=$__local__$.OAuthCache, "
            "cacheKey=org.wso2.carbon.identity.oauth.cache.OAuthCacheKey@1b6d3586}").encode()
    with Tail(activemq_stomp_url, topic_name, "--format", "ndjson", "--count", "1") as tail:
        is_node_publishes(activemq_stomp_url, topic_name, body)
        recorded = tail.lines(1)[0]
    record = json.loads(recorded)
    assert record["wso2_format"] == "legacy"
    assert record["items"] == [{"manager": "OAuthCacheManager", "cache": "OAuthCache",
                                "unusable_keys": ["org.wso2.carbon.identity.oauth.cache.OAuthCacheKey@1b6d3586"]}]
    with Tail(activemq_stomp_url, topic_name, "--format", "ndjson", "--count", "1") as replay_tail:
        invalidate(activemq_stomp_url, topic_name, "--file", "-", input=recorded + "\n")
        again = json.loads(replay_tail.lines(1)[0])
    assert again["items"] == [{"manager": "OAuthCacheManager", "cache": "OAuthCache", "all": True}]


def test_dry_run_json_shows_both_bodies():
    result = cachesync("invalidate", "AppInfoCache", "k-1", "--codec", "wso2", "--manager", M, "--wso2-format", "both",
                       "--dry-run", "--format", "json", "--broker", "memory://x")
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["wso2_format"] == "both" and shown["messages"] == 2 and shown["keys"] == 1
    as_json, as_text = shown["bodies"]
    assert as_json["cacheName"] == "$__local__$.AppInfoCache"
    assert as_text.startswith("ClusterCacheInvalidationRequest{tenantId=-1234") and as_text.endswith("cacheKey=k-1}")
