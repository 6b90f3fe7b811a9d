"""The http source's answers with a real bridge on RabbitMQ: 200 "confirmed" once the broker
confirmed the invalidation, 202 "spooled" while the broker is unreachable (and b gets it
once it is back)."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request


from .helpers import (
    DB_A,
    BridgeProcess,
    broker_proxy,
    bridge_config,
    cluster_names,
    redis_dbs,  # noqa: F401 (fixture)
    wait_until,
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def post(port: int, message: dict) -> tuple[int, dict]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/invalidations", data=json.dumps(message).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_http_answers_confirmed_then_spooled_while_the_broker_is_away(tmp_path, amqp_url, topic_name, redis_url,
                                                                     redis_dbs, request):
    _, redis_b = redis_dbs
    a, b = cluster_names(amqp_url, request)
    proxy = broker_proxy(amqp_url, request)
    port = free_port()
    source = f'[[sources]]\ntype = "http"\nlisten = "127.0.0.1:{port}"\n'
    config_a = bridge_config(tmp_path, a, proxy.url(amqp_url), topic_name, redis_db=DB_A, redis_url=redis_url,
                             sources=source)
    config_b = bridge_config(tmp_path, b, amqp_url, topic_name, redis_db=2, redis_url=redis_url)
    redis_b.mset({"C:first": "x", "C:second": "x"})
    with BridgeProcess(config_b), BridgeProcess(config_a) as bridge_a:
        assert post(port, {"cache": "C", "keys": ["first"]}) == (200, {"accepted": 1, "status": "confirmed"})
        wait_until(lambda: not redis_b.exists("C:first"), message="b applied the confirmed key")
        proxy.refuse()
        bridge_a.wait_for_log("lost connection", timeout=10)
        assert post(port, {"cache": "C", "keys": ["second"]}) == (202, {"accepted": 1, "status": "spooled"})
        assert redis_b.exists("C:second")
        proxy.restore()
        wait_until(lambda: not redis_b.exists("C:second"), timeout=30, message="b applied the spooled key")
