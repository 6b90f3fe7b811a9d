"""A stop is bounded however dead the broker is (`Bridge.stop`'s STOP_SECONDS): SIGTERM to a
bridge whose broker path is black-holed (connected, nothing answers), while it runs and
while it starts. A service manager (systemd, Kubernetes) kills what has not stopped after
its grace period, 30 s in docs/deployment.md; before, a bridge that could not reach its
broker at start ignored SIGTERM for its 30 s of connect retries, then exited 3."""

from __future__ import annotations

import json
import secrets
import time

from cachesync_cli.bridge.bridge import STOP_SECONDS

from .helpers import (
    DB_A,
    BridgeProcess,
    bridge_config,
    broker_proxy,
    cluster_names,
    redis_dbs,  # noqa: F401 (fixture)
)


def test_sigterm_while_the_broker_path_is_black_holed_stops_within_the_bound(tmp_path, amqp_url, topic_name,
                                                                              redis_url, redis_dbs, request):
    a, _ = cluster_names(amqp_url, request)
    proxy = broker_proxy(amqp_url, request)
    config = bridge_config(tmp_path, a, proxy.url(amqp_url), topic_name, redis_db=DB_A, redis_url=redis_url)
    bridge = BridgeProcess(config).start()
    proxy.blackhole()
    redis_dbs[0].publish(f"local.{a}", json.dumps({"cache": "C", "keys": ["queued-at-the-cut"]}))
    started = time.monotonic()
    assert bridge.stop(timeout=STOP_SECONDS + 5) == 0, bridge.text  # raises if it did not stop in time
    assert time.monotonic() - started <= STOP_SECONDS + 5
    assert "holding messages until the broker is back" in bridge.text  # not confirmed: spooled, not lost


def test_sigterm_while_the_broker_does_not_answer_at_start_ends_the_start(tmp_path, amqp_url, redis_url, request):
    proxy = broker_proxy(amqp_url, request)
    proxy.blackhole()  # accepts the connection, answers nothing: each attempt waits connect_timeout (5 s)
    config = bridge_config(tmp_path, f"a-{secrets.token_hex(3)}", proxy.url(amqp_url),
                           f"cachesync.test.{secrets.token_hex(6)}", redis_db=DB_A, redis_url=redis_url)
    bridge = BridgeProcess(config)
    bridge.spawn()
    bridge.wait_for_log("health and metrics on")  # up, and connecting now
    time.sleep(0.5)
    started = time.monotonic()
    code = bridge.stop(timeout=10)  # at the latest once the attempt under way times out (5 s)
    assert code == 0, bridge.text
    assert time.monotonic() - started < 10
    assert "stopped while connecting" in bridge.text and " running on " not in bridge.text, bridge.text
