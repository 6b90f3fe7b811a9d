"""`cachesync run` runs the [[cleanup]] schedules of its config: logged, counted in /metrics."""

from __future__ import annotations

import secrets
import urllib.request

from cachesync_cli.transport.amqp import durable_queue_name

from ..bridge.processes import BridgeProcess, wait_until
from .conftest import BRIDGE_DB, keys_of, redis_db


def delete_queue(amqp_url: str, queue: str) -> None:
    import pika

    try:
        connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    except pika.exceptions.AMQPConnectionError:
        return  # the broker restarted meanwhile (other suites do that): nothing to tidy that matters
    try:
        connection.channel().queue_delete(queue)
    finally:
        connection.close()


def test_the_bridge_runs_cleanup_schedules(amqp_url, redis_url, tmp_path):
    url, client = redis_db(redis_url, BRIDGE_DB)
    cluster = f"cleanup-{secrets.token_hex(4)}"
    config = tmp_path / "bridge.toml"
    config.write_text(f'''
[cluster]
id = "{cluster}"

[broker]
url = "{amqp_url}"
topic = "cachesync.test.{cluster}"

[sync]
spool_path = "{tmp_path}/spool.sqlite"

[monitor]
listen = "127.0.0.1:0"

[[cleanup]]
type = "redis"
name = "app-redis"
url = "{url}"
caches = ["App"]
every = "1s"

[[cleanup]]
type = "directory"
name = "manual-only"
path = "{tmp_path}"
''')
    try:
        client.mset({"App:1": 1, "App:2": 2, "Other:1": 3})
        with BridgeProcess(config) as bridge:
            bridge.wait_for_log("redis cleanup 'app-redis'")
            wait_until(lambda: bridge.text.count("cleanup app-redis (redis, all)") >= 3, timeout=10,
                       message="three cleanup runs in the log")
            assert keys_of(client) == {"Other:1"}
            assert "cleanup app-redis (redis, all): removed 2 of 2 scanned" in bridge.text
            assert "'manual-only' has no every or cron: the bridge does not run it" in bridge.text
            with urllib.request.urlopen(f"http://{bridge.monitor_url}/metrics", timeout=5) as answer:
                metrics = answer.read().decode()
            runs = [line for line in metrics.splitlines()
                    if line.startswith('cachesync_cleanup_runs_total{target="app-redis"}')]
            assert runs and float(runs[0].split()[-1]) >= 3, metrics
            assert 'cachesync_cleanup_removed_total{target="app-redis"} 2.0' in metrics
    finally:
        client.flushdb()
        client.close()
        delete_queue(amqp_url, durable_queue_name(cluster, f"cachesync.test.{cluster}"))
