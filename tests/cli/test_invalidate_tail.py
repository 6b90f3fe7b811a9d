"""`invalidate` and `tail` end to end: real CLI processes on real brokers."""

from __future__ import annotations

import base64
import json

import pytest

from cachesync_cli.wire.javaser import serialize_string

from .run import Tail, cachesync

REAL_BROKERS = ["amqp", "rabbit_stomp", "activemq_stomp"]


@pytest.fixture(params=REAL_BROKERS)
def real_broker(request) -> str:
    return request.getfixturevalue(f"{request.param}_url")


def invalidate(url: str, topic: str, *args: str, input: str | None = None, env=None) -> dict:
    result = cachesync("invalidate", *args, "--broker", url, "--topic", topic, "--json", "--confirm",
                       input=input, env={"CACHESYNC_CLUSTER": "dc-test", **(env or {})})
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_tail_shows_exactly_what_invalidate_sent(real_broker, topic_name):
    with Tail(real_broker, topic_name, "--count", "3", "--format", "ndjson") as tail:
        first = invalidate(real_broker, topic_name, "AppInfoCache", "app-1", "app-2",
                           "--manager", "IdentityApplicationManagementCacheManager")
        second = invalidate(real_broker, topic_name, "AuthorizationCache", "--all", "--tenant", "wso2.com:3")
        invalidate(real_broker, topic_name, "AppInfoCache", "ユーザー:admin", "--codec", "wso2",
                   "--manager", "IdentityApplicationManagementCacheManager", "--sender", "is-node-1")
        lines = tail.lines(3)
    assert tail.returncode == 0, tail.stderr
    native_1, native_2, wso2 = (json.loads(line) for line in lines)
    assert native_1["id"] == first["ids"][0]
    assert native_1["origin"] == "dc-test" and native_1["codec"] == "native"
    assert native_1["items"] == [{"manager": "IdentityApplicationManagementCacheManager",
                                  "cache": "AppInfoCache", "keys": ["app-1", "app-2"]}]
    assert native_1["destination"] == topic_name and native_1["verified"] is None
    assert native_2["id"] == second["ids"][0]
    assert native_2["tenant"] == {"domain": "wso2.com", "id": 3}
    assert native_2["items"] == [{"cache": "AuthorizationCache", "all": True}]
    assert native_2["seq"] == 1  # every CLI process is its own node, numbering from 1
    assert wso2["codec"] == "wso2" and wso2["origin"] == "is-node-1"
    assert wso2["tenant"] == {"domain": "carbon.super", "id": -1234}
    assert wso2["items"] == [{"manager": "IdentityApplicationManagementCacheManager",
                              "cache": "AppInfoCache", "keys": ["ユーザー:admin"]}]


def test_bulk_100000_keys_arrive_complete(real_broker, topic_name, tmp_path):
    keys = [f"token-{n:06d}" for n in range(100_000)]
    key_file = tmp_path / "keys.txt"
    key_file.write_text("\n".join(keys) + "\n")
    with Tail(real_broker, topic_name, "--format", "ndjson", "--idle-timeout", "5") as tail:
        result = invalidate(real_broker, topic_name, "OAuthCache", "--file", str(key_file))
        lines = tail.lines(result["messages"])
        tail.stop()  # its --idle-timeout is a guard only
    assert result["keys"] == 100_000 and result["confirmed"] is True
    assert 1 < result["messages"] < 100  # batched into envelopes, not one message per key
    received = [key for line in lines for item in json.loads(line)["items"] for key in item["keys"]]
    assert received == keys
    for line in lines:  # each envelope, as sent, is under the 1 MiB size limit
        envelope = {k: v for k, v in json.loads(line).items() if k not in ("codec", "destination", "verified")}
        assert len(json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode()) <= 1024 * 1024


def test_keys_from_stdin(real_broker, topic_name):
    with Tail(real_broker, topic_name, "--format", "ndjson", "--count", "1") as tail:
        invalidate(real_broker, topic_name, "SessionCache", "--file", "-", input="s-1\ns-2\n\ns-3\n")
        line = json.loads(tail.lines(1)[0])
    assert line["items"] == [{"cache": "SessionCache", "keys": ["s-1", "s-2", "s-3"]}]


def test_messages_from_foreign_clients_and_malformed_ones(real_broker, topic_name):
    wso2_body = json.dumps({
        "tenantDomain": "carbon.super", "tenantId": -1234,
        "cacheManagerName": "OAuthCacheManager", "cacheName": "$__local__$.OAuthCache",
        "cacheKeyBase64": base64.b64encode(serialize_string("client-abc:user-1")).decode(),
    }, separators=(",", ":")).encode()
    with Tail(real_broker, topic_name, "--format", "ndjson", "--count", "2") as tail:
        foreign_publish(real_broker, topic_name, b"{not json", {})
        foreign_publish(real_broker, topic_name, wso2_body, {"sender": "wso2-is-7"})
        malformed, wso2 = (json.loads(line) for line in tail.lines(2))
    assert tail.returncode == 0
    assert malformed["malformed"] is True and malformed["reason"] == "malformed"
    assert base64.b64decode(malformed["body_base64"]) == b"{not json"
    assert wso2["codec"] == "wso2" and wso2["origin"] == "wso2-is-7"
    assert wso2["items"] == [{"manager": "OAuthCacheManager", "cache": "OAuthCache", "keys": ["client-abc:user-1"]}]


def foreign_publish(url: str, topic: str, body: bytes, headers: dict[str, str]) -> None:
    """Publish with the bare driver, as a program that is not cachesync would."""
    from cachesync_cli.transport.endpoint import parse_endpoint

    endpoint = parse_endpoint(url)
    if url.startswith("amqp"):
        import pika

        connection = pika.BlockingConnection(pika.ConnectionParameters(
            endpoint.host, endpoint.port, credentials=pika.PlainCredentials(endpoint.username, endpoint.password)))
        connection.channel().basic_publish("amq.topic", topic, body, pika.BasicProperties(headers=headers))
        connection.close()
        return
    import stomp

    connection = stomp.Connection12([(endpoint.host, endpoint.port)], auto_content_length=False, vhost="/")
    connection.connect(endpoint.username, endpoint.password, wait=True)
    connection.send(f"/topic/{topic}", body, headers=headers, receipt="r-1")
    connection.disconnect(receipt="bye")


def test_replay_tail_output_into_invalidate(amqp_url, topic_name):
    with Tail(amqp_url, topic_name, "--format", "ndjson", "--count", "2") as tail:
        invalidate(amqp_url, topic_name, "AppInfoCache", "a-1", "a-2", "--tenant", "t.com:5")
        invalidate(amqp_url, topic_name, "AuthorizationCache", "--all")
        recorded = "\n".join(tail.lines(2)) + "\n"
    with Tail(amqp_url, topic_name, "--format", "ndjson", "--count", "2") as replay_tail:
        replay = invalidate(amqp_url, topic_name, "--file", "-", input=recorded)
        replayed = [json.loads(line) for line in replay_tail.lines(2)]
    assert replay["messages"] == 2
    originals = [json.loads(line) for line in recorded.splitlines()]
    for original, again in zip(originals, replayed):
        assert again["items"] == original["items"]
        assert again.get("tenant") == original.get("tenant")
        assert again["id"] != original["id"]


def test_filters_and_heartbeats_hidden(amqp_url, topic_name):
    with Tail(amqp_url, topic_name, "--format", "ndjson", "--count", "1", "--cache", "Wanted") as tail:
        invalidate(amqp_url, topic_name, "Other", "x")
        invalidate(amqp_url, topic_name, "Wanted", "y")
        line = json.loads(tail.lines(1)[0])
    assert line["items"][0]["cache"] == "Wanted"


def test_pretty_format_is_readable(amqp_url, topic_name):
    with Tail(amqp_url, topic_name, "--count", "1") as tail:
        invalidate(amqp_url, topic_name, "AppInfoCache", "app-1", "--tenant", "wso2.com")
        line = tail.lines(1)[0]
    assert "dc-test" in line and "tenant=wso2.com" in line and "AppInfoCache: app-1" in line


def test_tail_idle_timeout_before_count_exits_1(amqp_url, topic_name):
    result = cachesync("tail", "--broker", amqp_url, "--topic", topic_name, "--count", "1", "--idle-timeout", "1")
    assert result.returncode == 1
    assert "idle for 1s after 0 of 1" in result.stderr


def test_tail_idle_timeout_ends_while_bridges_send_hidden_heartbeats(amqp_url, topic_name, tmp_path):
    """Issue 16: heartbeats (hidden) reset the idle timer, so the documented CI example never
    exited while a bridge was alive."""
    from tests.bridge.processes import BridgeProcess

    config = tmp_path / "bridge.toml"
    config.write_text(f'[cluster]\nid = "idle-{topic_name[-6:]}"\n[broker]\nurl = "{amqp_url}"\ntopic = "{topic_name}"\n'
                      f'[monitor]\nenabled = false\n[sync]\nheartbeat_interval = 0.5\n'
                      f'spool_path = "{tmp_path}/spool.sqlite"\n')
    with BridgeProcess(config):  # before the fix, tail outlived the 20 s given here (TimeoutExpired)
        result = cachesync("tail", "--broker", amqp_url, "--topic", topic_name, "--idle-timeout", "2", timeout=20)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""  # the heartbeats stayed hidden


@pytest.mark.parametrize("command", [["invalidate", "C", "k"], ["tail", "--count", "1"]])
def test_unreachable_broker_exits_3(command):
    result = cachesync(*command, "--broker", "amqp://guest:guest@127.0.0.1:1/")
    assert result.returncode == 3
    assert "127.0.0.1:1" in result.stderr and "Traceback" not in result.stderr


def test_wrong_password_exits_3_without_showing_it(amqp_url):
    url = amqp_url.replace("guest:guest@", "guest:Pw-Not-Shown-42@")
    result = cachesync("invalidate", "C", "k", "--broker", url)
    assert result.returncode == 3
    assert "refused user 'guest'" in result.stderr
    assert "Pw-Not-Shown-42" not in result.stderr + result.stdout


@pytest.mark.parametrize("args, message", [
    (["invalidate", "C"], "no keys given for 'C'"),
    (["invalidate", "C", "k", "--all"], "--all clears the whole cache"),
    (["invalidate", "C", "k", "--codec", "wso2"], "the wso2 codec needs a cache manager name"),
    (["invalidate", "C", "k", "--tenant", "t:x"], "the id 'x' is not a whole number"),
    (["invalidate", "C", "--file", "/nonexistent/keys"], "cannot read /nonexistent/keys"),
    (["tail", "--format", "xml"], "--format 'xml': must be one of pretty, ndjson, raw"),
])
def test_usage_errors_exit_2(args, message):
    result = cachesync(*args, "--broker", "amqp://127.0.0.1:1/")
    assert result.returncode == 2, result.stderr
    assert message in result.stderr


def test_no_broker_configured_exits_2(tmp_path):
    result = cachesync("invalidate", "C", "k", cwd=tmp_path, env={"XDG_CONFIG_HOME": str(tmp_path)})
    assert result.returncode == 2
    assert "no broker configured" in result.stderr


def test_bad_ndjson_line_names_file_and_line(tmp_path):
    path = tmp_path / "replay.ndjson"
    path.write_text('{"cache": "C", "keys": ["a"]}\n{"cache": 5, "keys": ["b"]}\n')
    result = cachesync("invalidate", "--file", str(path), "--dry-run", "--broker", "amqp://127.0.0.1:1/")
    assert result.returncode == 2
    assert f"{path}:2" in result.stderr


def test_dry_run_prints_messages_without_a_broker():
    result = cachesync("invalidate", "AppInfoCache", "a", "--dry-run", "--json", "--broker", "amqp://127.0.0.1:1/",
                       env={"CACHESYNC_CLUSTER": "dc-dry"})
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout)
    assert outcome["dry_run"] is True and outcome["confirmed"] is None
    assert outcome["bodies"][0]["items"] == [{"cache": "AppInfoCache", "keys": ["a"]}]
    assert outcome["bodies"][0]["origin"] == "dc-dry"
