"""Every command over MQTT, end to end: real `cachesync` processes on Mosquitto and RabbitMQ's
MQTT plugin. Bridges use Redis dbs 3 and 4 only."""

from __future__ import annotations

import json
import secrets
import time

import pytest

from ..bridge.processes import BridgeProcess, bridge_config, wait_until
from ..doctor.helpers import check, doctor, statuses
from ..redis_dbs import flushed_dbs
from ..transport.brokers import end_mqtt_session
from .run import Tail, cachesync

DB_A, DB_B = 3, 4
MANAGER = "IdentityApplicationManagementCacheManager"


def invalidate(url: str, topic: str, *args: str) -> dict:
    result = cachesync("invalidate", *args, "--broker", url, "--topic", topic, "--json", "--confirm",
                       env={"CACHESYNC_CLUSTER": "dc-mqtt"})
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_invalidate_and_tail_on_mosquitto(mosquitto_url, topic_name):
    with Tail(mosquitto_url, topic_name, "--count", "2", "--format", "ndjson") as tail:
        sent = invalidate(mosquitto_url, topic_name, "AppInfoCache", "app-1", "app-2", "--manager", MANAGER)
        invalidate(mosquitto_url, topic_name, "AppInfoCache", "ユーザー:admin", "--codec", "wso2",
                   "--manager", MANAGER, "--sender", "is-node-1")
        lines = tail.lines(2)
    assert tail.returncode == 0, tail.stderr
    native, wso2 = (json.loads(line) for line in lines)
    assert native["id"] == sent["ids"][0] and native["origin"] == "dc-mqtt"
    assert native["items"] == [{"manager": MANAGER, "cache": "AppInfoCache", "keys": ["app-1", "app-2"]}]
    assert native["destination"] == topic_name
    # MQTT 5 carries the WSO2 `sender` header as a user property
    assert wso2["codec"] == "wso2" and wso2["origin"] == "is-node-1"
    assert wso2["items"] == [{"manager": MANAGER, "cache": "AppInfoCache", "keys": ["ユーザー:admin"]}]


def test_wso2_sender_is_lost_on_mqtt_311(rabbit_mqtt_url, topic_name):
    """MQTT 3.1.1 has no headers: the native envelope does not need them; a WSO2 message
    arrives without its sender, so its origin falls back to "wso2"."""
    with Tail(rabbit_mqtt_url, topic_name, "--count", "1", "--format", "ndjson") as tail:
        invalidate(rabbit_mqtt_url, topic_name, "AppInfoCache", "k", "--codec", "wso2",
                   "--manager", MANAGER, "--sender", "is-node-1")
        [line] = tail.lines(1)
    message = json.loads(line)
    assert message["codec"] == "wso2" and message["origin"] == "wso2"
    assert message["items"] == [{"manager": MANAGER, "cache": "AppInfoCache", "keys": ["k"]}]


@pytest.mark.parametrize("publish_on, tail_on", [("amqp", "rabbit_mqtt"), ("rabbit_mqtt", "amqp"),
                                                 ("rabbit_stomp", "rabbit_mqtt")])
def test_cli_across_protocols_on_rabbitmq(publish_on, tail_on, request, topic_name):
    publisher, tailer = (request.getfixturevalue(f"{name}_url") for name in (publish_on, tail_on))
    with Tail(tailer, topic_name, "--count", "1", "--format", "ndjson") as tail:
        sent = invalidate(publisher, topic_name, "AuthorizationCache", "--all")
        [line] = tail.lines(1)
    message = json.loads(line)
    assert message["id"] == sent["ids"][0] and message["destination"] == topic_name
    assert message["items"] == [{"cache": "AuthorizationCache", "all": True}]


def test_doctor_on_mosquitto(mosquitto_url, topic_name):
    code, report, _ = doctor("--broker", mosquitto_url, "--topic", topic_name)
    got = statuses(report)
    assert code == 0, report
    assert all(got[name] == "ok" for name in ("config", "dns", "tcp", "auth", "permissions", "roundtrip")), got
    assert "MQTT/5.0" in check(report, "auth")["message"]
    clock = check(report, "clock")
    assert clock["status"] == "skip" and "MQTT messages carry no broker timestamp" in clock["message"]


@pytest.fixture
def redis_dbs(redis_url):
    with flushed_dbs(redis_url, DB_A, DB_B) as clients:
        yield clients


@pytest.fixture
def clusters(mosquitto_url):
    suffix = secrets.token_hex(3)
    names = (f"a-{suffix}", f"b-{suffix}")
    yield names
    for name in names:
        end_mqtt_session(mosquitto_url, f"cachesync-{name}")


def test_two_bridges_on_mosquitto(tmp_path, mosquitto_url, topic_name, redis_url, redis_dbs, clusters):
    redis_a, redis_b = redis_dbs
    a, b = clusters
    config_a = bridge_config(tmp_path, a, mosquitto_url, topic_name, redis_db=DB_A, redis_url=redis_url)
    config_b = bridge_config(tmp_path, b, mosquitto_url, topic_name, redis_db=DB_B, redis_url=redis_url)
    for client in redis_dbs:
        client.mset({"AppInfoCache:app-1": "x", "AppInfoCache:app-2": "x", "TokenCache:t-1": "x"})
    BridgeProcess(config_b).start().stop()  # b's persistent session exists
    with BridgeProcess(config_a):
        assert redis_a.publish(f"local.{a}", json.dumps({"cache": "AppInfoCache", "keys": ["app-1"]})) == 1
        time.sleep(1)  # published while b is away: its session keeps it
        with BridgeProcess(config_b) as bridge_b:
            wait_until(lambda: redis_b.exists("AppInfoCache:app-1") == 0, message="b applies what it missed")
            assert redis_b.publish(f"local.{b}", json.dumps({"cache": "TokenCache", "all": True})) == 1
            wait_until(lambda: redis_a.exists("TokenCache:t-1") == 0, message="a applies b's clear-all")
            time.sleep(1)
            assert redis_b.exists("AppInfoCache:app-2") == 1 and redis_a.exists("AppInfoCache:app-1") == 1
            assert "rejected" not in bridge_b.text


def test_second_bridge_of_one_cluster_is_reported(tmp_path, mosquitto_url, topic_name, redis_url, redis_dbs,
                                                  clusters):
    a, _ = clusters
    config = bridge_config(tmp_path, a, mosquitto_url, topic_name, redis_db=DB_A, redis_url=redis_url)
    second_config = tmp_path / "second.toml"
    second_config.write_text(config.read_text().replace(f"spool-{a}.sqlite", f"spool-{a}-2.sqlite"))
    first, second = BridgeProcess(config), BridgeProcess(second_config)
    try:
        first.start()
        second.start()
        wait_until(lambda: first.process.poll() is not None or second.process.poll() is not None,
                   timeout=30, message="one of the two bridges gives up")
        loser = first if first.process.poll() is not None else second
        assert loser.process.returncode != 0
        assert f"client id 'cachesync-{a}'" in loser.text and "one bridge per cluster" in loser.text, loser.text
    finally:
        for bridge in (first, second):
            bridge.kill()
