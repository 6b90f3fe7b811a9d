"""Issue 16, item 2, as an operator meets it: `cachesync run` on topic t1, stopped, `run` again
with the same cluster id on t2; then `cachesync invalidate --topic t1` must not reach it."""

from __future__ import annotations

import secrets
import time

import pytest

from ..cli.run import cachesync
from ..redis_dbs import flushed_dbs
from ..transport.brokers import delete_durable_subscription
from .processes import BridgeProcess, bridge_config, wait_until

DB = 13


@pytest.fixture(params=["amqp", "rabbit_stomp", "mosquitto"])
def broker(request) -> str:
    return request.getfixturevalue(f"{request.param}_url")


def test_a_bridge_moved_to_another_topic_does_not_apply_the_old_one(tmp_path, broker, redis_url, request):
    cluster = f"moved-{secrets.token_hex(3)}"
    t1, t2 = f"cachesync.test.{secrets.token_hex(4)}", f"cachesync.test.{secrets.token_hex(4)}"
    request.addfinalizer(lambda: [delete_durable_subscription(broker, cluster, t) for t in (t1, t2)])
    with flushed_dbs(redis_url, DB) as (redis,):
        with BridgeProcess(bridge_config(tmp_path, cluster, broker, t1, redis_db=DB, redis_url=redis_url)):
            pass  # run on t1, then stopped (SIGTERM)
        with BridgeProcess(bridge_config(tmp_path, cluster, broker, t2, redis_db=DB, redis_url=redis_url)):
            redis.set("AppCache:old-topic", "x")
            redis.set("AppCache:new-topic", "x")
            sent = cachesync("invalidate", "--broker", broker, "--topic", t1, "AppCache", "old-topic")
            assert sent.returncode == 0, sent.stderr
            sent = cachesync("invalidate", "--broker", broker, "--topic", t2, "AppCache", "new-topic")
            assert sent.returncode == 0, sent.stderr
            wait_until(lambda: not redis.exists("AppCache:new-topic"), message="the bridge applies its topic")
            time.sleep(0.5)
            assert redis.exists("AppCache:old-topic") == 1, "the bridge applied an invalidation of its old topic"
