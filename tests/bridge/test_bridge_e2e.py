"""Two bridges, clusters `a` and `b`, as real processes on a real broker, each with its own Redis db.

These are the acceptance tests of `cachesync run` (issue 4): local invalidations reach the
other cluster and never come back, a bridge that was down catches up, a gap is flushed,
and every kind of target is applied for real.
"""

from __future__ import annotations

import http.server
import json
import secrets
import sys
import threading
import time

import pytest

from cachesync_cli.publisher import Publisher
from cachesync_cli.transport.base import ConnectOptions
from cachesync_cli.transport.connection import BrokerConnection
from cachesync_cli.wire import Item

from ..cli.run import Tail
from ..transport.brokers import delete_bridge_queue
from .processes import BridgeProcess, bridge_config, http_get, wait_until

DB_A, DB_B = 13, 14


@pytest.fixture(params=["amqp", "activemq_stomp"])
def broker(request) -> str:
    return request.getfixturevalue(f"{request.param}_url")




def configs(tmp_path, broker, topic_name, redis_url, clusters, extra_b: str = "", sources_a=None, sources_b=None):
    a, b = clusters
    return (bridge_config(tmp_path, a, broker, topic_name, redis_db=DB_A, redis_url=redis_url, sources=sources_a),
            bridge_config(tmp_path, b, broker, topic_name, redis_db=DB_B, redis_url=redis_url, extra=extra_b,
                          sources=sources_b))


def publish_local(client, cluster: str, message: dict) -> None:
    assert client.publish(f"local.{cluster}", json.dumps(message)) == 1, "the bridge is not subscribed"


def test_local_message_in_a_deletes_in_b_and_not_in_a(tmp_path, broker, topic_name, redis_url, redis_dbs, clusters):
    redis_a, redis_b = redis_dbs
    config_a, config_b = configs(tmp_path, broker, topic_name, redis_url, clusters)
    for client in redis_dbs:
        client.mset({"AppInfoCache:app-1": "x", "AppInfoCache:app-2": "x", "AuthzCache:u1": "x"})
    with BridgeProcess(config_a), BridgeProcess(config_b) as bridge_b:
        publish_local(redis_a, clusters[0], {"cache": "AppInfoCache", "keys": ["app-1"]})
        publish_local(redis_a, clusters[0], {"tenant": {"domain": "wso2.com", "id": 3},
                                             "items": [{"cache": "AuthzCache", "all": True}]})
        wait_until(lambda: redis_b.exists("AppInfoCache:app-1", "AuthzCache:u1") == 0, message="b applies")
        assert redis_b.exists("AppInfoCache:app-2") == 1
        time.sleep(1.5)  # a would have re-applied its own message by now if echo suppression failed
        assert redis_a.exists("AppInfoCache:app-1", "AppInfoCache:app-2", "AuthzCache:u1") == 3
        assert "rejected" not in bridge_b.text


def test_wso2_codec_bridges_carry_invalidations_and_reject_what_it_cannot_carry(
        tmp_path, broker, topic_name, redis_url, redis_dbs, clusters):
    """Both bridges on the wso2 codec (WSO2 IS's TextMessages on the topic): an item with a
    cache manager crosses; one without cannot be written in that format, so a rejects it
    loudly and goes on (it once killed the publishing thread, and nothing was sent after)."""
    redis_a, redis_b = redis_dbs
    codec = '[codec]\nname = "wso2"\n'
    config_a = bridge_config(tmp_path, clusters[0], broker, topic_name, redis_db=DB_A, redis_url=redis_url,
                             extra=codec)
    config_b = bridge_config(tmp_path, clusters[1], broker, topic_name, redis_db=DB_B, redis_url=redis_url,
                             extra=codec)
    redis_b.mset({"AppInfoCache:app-1": "x", "AppInfoCache:app-2": "x", "AuthzCache:u1": "x"})
    manager = "IdentityApplicationManagementCacheManager"
    with BridgeProcess(config_a) as bridge_a, BridgeProcess(config_b), \
            Tail(broker, topic_name, "--codec", "wso2", "--format", "ndjson", "--idle-timeout", "4") as tail:
        watching = time.monotonic()
        publish_local(redis_a, clusters[0], {"cache": "AppInfoCache", "keys": ["app-2"]})  # no manager
        publish_local(redis_a, clusters[0], {"manager": manager, "cache": "AppInfoCache", "keys": ["app-1"]})
        publish_local(redis_a, clusters[0], {"items": [{"manager": manager, "cache": "AuthzCache", "all": True}]})
        wait_until(lambda: redis_b.exists("AppInfoCache:app-1", "AuthzCache:u1") == 0, message="b applies")
        assert redis_b.exists("AppInfoCache:app-2") == 1
        bridge_a.wait_for_log("rejected a local message (no-manager): cache 'AppInfoCache'")
        metrics = http_get(f"http://{bridge_a.monitor_url}/metrics")[1]
        assert 'cachesync_local_rejected_total{reason="no-manager"} 1.0' in metrics
        time.sleep(max(0.0, watching + 1.5 - time.monotonic()))  # over a heartbeat interval (1 s): none may show
        tail.stop()  # its --idle-timeout is a guard only
    seen = [json.loads(line) for line in tail.process_output()]
    assert {m["codec"] for m in seen} == {"wso2"}  # no heartbeats: IS nodes would read them as theirs
    assert [(m["items"][0]["cache"], m["items"][0].get("keys"), m["items"][0].get("all")) for m in seen] == \
        [("AppInfoCache", ["app-1"], None), ("AuthzCache", None, True)]


def test_keyspace_delete_is_mirrored_and_does_not_bounce(tmp_path, broker, topic_name, redis_url, redis_dbs,
                                                         clusters):
    redis_a, redis_b = redis_dbs
    base = redis_url.rstrip("/")

    def keyspace(db: int) -> str:
        return f'[[sources]]\ntype = "redis-keyspace"\nurl = "{base}/{db}"\ntemplate = "{{cache}}:{{key}}"\n'

    config_a, config_b = configs(tmp_path, broker, topic_name, redis_url, clusters,
                                 sources_a=keyspace(DB_A), sources_b=keyspace(DB_B))
    for client in redis_dbs:
        client.mset({"SessionCache:s-1": "x", "SessionCache:s-2": "x"})
    with BridgeProcess(config_a), BridgeProcess(config_b), \
            Tail(broker, topic_name, "--format", "ndjson", "--idle-timeout", "4") as tail:
        redis_a.delete("SessionCache:s-1")  # the application deletes in its own Redis
        wait_until(lambda: redis_b.exists("SessionCache:s-1") == 0, message="b mirrors the delete")
        redis_a.set("SessionCache:s-1", "fresh")  # a bounce would delete this again
        time.sleep(2)
        assert redis_a.get("SessionCache:s-1") == b"fresh"
        assert redis_b.exists("SessionCache:s-2") == 1
        tail.stop()  # a bounce would have shown in these 2 s; its --idle-timeout is a guard only
    seen = [json.loads(line) for line in tail.process_output()]
    invalidations = [m for m in seen if m.get("type") == "invalidate"]
    assert [m["origin"] for m in invalidations] == [clusters[0]], invalidations
    assert invalidations[0]["items"] == [{"cache": "SessionCache", "keys": ["s-1"]}]


def test_bridge_that_was_down_gets_all_1000_on_restart(tmp_path, broker, topic_name, redis_url, redis_dbs,
                                                        clusters):
    redis_a, redis_b = redis_dbs
    config_a, config_b = configs(tmp_path, broker, topic_name, redis_url, clusters)
    keys = [f"t-{n:04d}" for n in range(1000)]
    redis_b.mset({f"TokenCache:{key}": "x" for key in keys})
    redis_b.set("OtherCache:keep", "x")
    BridgeProcess(config_b).start().stop()  # b has subscribed once: its durable subscription exists
    with BridgeProcess(config_a):
        for key in keys:
            publish_local(redis_a, clusters[0], {"cache": "TokenCache", "keys": [key]})
        time.sleep(2)  # let a publish everything while b is away
        assert redis_b.exists(*[f"TokenCache:{key}" for key in keys]) == 1000
        with BridgeProcess(config_b):
            wait_until(lambda: redis_b.dbsize() == 1, timeout=60, message="b applies the 1,000 it missed")
    assert redis_b.exists("OtherCache:keep") == 1


def test_a_gap_in_sequence_numbers_makes_b_flush(tmp_path, broker, topic_name, redis_url, redis_dbs, clusters):
    _, redis_b = redis_dbs
    _, config_b = configs(tmp_path, broker, topic_name, redis_url, clusters)
    redis_b.mset({"AppInfoCache:k1": "x", "AppInfoCache:k2": "x", "OtherCache:k3": "x"})
    with BridgeProcess(config_b) as bridge_b:
        connection = BrokerConnection([broker], ConnectOptions()).open()
        publisher = Publisher(topic_name, origin="x-cluster", node="x-cluster/1")
        try:
            first = publisher.envelope_message(publisher.build((Item("AppInfoCache", ("k1",)),)))
            publisher.publish(connection, first, confirm=True)
            wait_until(lambda: redis_b.exists("AppInfoCache:k1") == 0, message="b applies seq 1")
            assert redis_b.exists("AppInfoCache:k2", "OtherCache:k3") == 2  # no flush without a gap
            publisher.next_seq(), publisher.next_seq()  # seq 2 and 3 are never sent
            fourth = publisher.envelope_message(publisher.build((Item("AppInfoCache", ("nothing",)),)))
            publisher.publish(connection, fourth, confirm=True)
        finally:
            connection.close()
        wait_until(lambda: redis_b.dbsize() == 0, message="b flushes every cache after the gap")
        bridge_b.wait_for_log("2 message(s) from x-cluster")


class Recorder(http.server.BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        length = int(self.headers["Content-Length"])
        Recorder.received.append(json.loads(self.rfile.read(length)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


def test_every_target_type_is_applied(tmp_path, amqp_url, topic_name, redis_url, redis_dbs, memcached_address,
                                      request):
    from pymemcache.client.base import Client

    redis_a, redis_b = redis_dbs
    suffix = secrets.token_hex(3)
    clusters = (f"a-{suffix}", f"b-{suffix}")
    request.addfinalizer(lambda: [delete_bridge_queue(amqp_url, c, topic_name) for c in clusters])
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    request.addfinalizer(server.shutdown)
    Recorder.received = []
    cache_dir = tmp_path / "files"
    (cache_dir / "AppInfoCache").mkdir(parents=True)
    for name in ("app-1", "app-2"):
        (cache_dir / "AppInfoCache" / name).write_text("cached")
    command_log = tmp_path / "command.log"
    script = f"import sys; open({str(command_log)!r}, 'a').write(sys.stdin.read() + '\\n')"
    memcached_key = f"AppInfoCache:app-1-{suffix}"
    extra = f'''
[[targets]]
type = "memcached"
servers = ["{memcached_address}"]
template = "{{cache}}:{{key}}-{suffix}"

[[targets]]
type = "webhook"
urls = ["http://127.0.0.1:{server.server_address[1]}/invalidate"]

[[targets]]
type = "command"
argv = {json.dumps([sys.executable, "-c", script])}

[[targets]]
type = "directory"
path = "{cache_dir}"

[[targets]]
type = "redis-channel"
url = "{redis_url.rstrip('/')}/{DB_B}"
channel = "remote.{clusters[1]}"
'''
    config_a, config_b = configs(tmp_path, amqp_url, topic_name, redis_url, clusters, extra_b=extra)
    memcached = Client(memcached_address, default_noreply=False)  # set done before the bridge deletes
    memcached.set(memcached_key, b"cached")
    redis_b.set("AppInfoCache:app-1", "x")
    pubsub = redis_b.pubsub()
    pubsub.subscribe(f"remote.{clusters[1]}")
    with BridgeProcess(config_a), BridgeProcess(config_b):
        publish_local(redis_a, clusters[0], {"tenant": {"domain": "wso2.com", "id": 3},
                                             "items": [{"cache": "AppInfoCache", "keys": ["app-1"]}]})
        wait_until(lambda: redis_b.exists("AppInfoCache:app-1") == 0, message="redis target")
        wait_until(lambda: memcached.get(memcached_key) is None, message="memcached target")
        wait_until(lambda: Recorder.received, message="webhook target")
        wait_until(lambda: command_log.exists() and command_log.read_text().strip(), message="command target")
        wait_until(lambda: not (cache_dir / "AppInfoCache" / "app-1").exists(), message="directory target")
        rebroadcast = None
        deadline = time.monotonic() + 10
        while rebroadcast is None and time.monotonic() < deadline:
            message = pubsub.get_message(timeout=1)
            if message and message["type"] == "message":
                rebroadcast = json.loads(message["data"])
    pubsub.close()
    memcached.close()
    assert (cache_dir / "AppInfoCache" / "app-2").exists()
    expected_items = [{"cache": "AppInfoCache", "keys": ["app-1"]}]
    assert Recorder.received[0]["items"] == expected_items and Recorder.received[0]["origin"] == clusters[0]
    assert json.loads(command_log.read_text().splitlines()[0])["items"] == expected_items
    assert rebroadcast["items"] == expected_items and rebroadcast["origin"] == clusters[0]
    assert rebroadcast["tenant"] == {"domain": "wso2.com", "id": 3}


def test_sigterm_publishes_what_is_queued(tmp_path, amqp_url, topic_name, redis_url, redis_dbs, request):
    redis_a, _ = redis_dbs
    cluster = f"a-{secrets.token_hex(3)}"
    request.addfinalizer(lambda: delete_bridge_queue(amqp_url, cluster, topic_name))
    config = bridge_config(tmp_path, cluster, amqp_url, topic_name, redis_db=DB_A, redis_url=redis_url)
    bridge = BridgeProcess(config).start()  # before the tail: its idle timeout must not run out while a starts
    request.addfinalizer(bridge.kill)
    with Tail(amqp_url, topic_name, "--format", "ndjson", "--idle-timeout", "3") as tail:
        for n in range(200):
            publish_local(redis_a, cluster, {"cache": "C", "keys": [f"k{n}"]})
        assert bridge.stop() == 0
    keys = [k for line in tail.process_output() for m in [json.loads(line)] if m.get("type") == "invalidate"
            for item in m["items"] for k in item["keys"]]
    assert sorted(keys) == sorted(f"k{n}" for n in range(200))
