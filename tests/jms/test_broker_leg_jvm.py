"""Two WSO2 IS clusters end to end (issue 17): JVM peers (`IsPeer.java`, OpenWire) on each
cluster's own ActiveMQ topic, each cluster behind a bridge whose broker leg (STOMP) sits on
that topic, the central topic native. A string key, an object key and a clear-all cross
from cluster a's IS nodes to cluster b's; an IS node of b in hybrid mode re-publishes what
it gets and nothing comes back to a; a message lost on the central topic ends in clear-alls
on b's IS nodes."""

from __future__ import annotations

import base64
import secrets
import uuid

import pytest

from cachesync_cli.publisher import Publisher
from cachesync_cli.transport.base import ConnectOptions
from cachesync_cli.transport.connection import BrokerConnection
from cachesync_cli.wire import Item
from tests.bridge.processes import BridgeProcess, bridge_config
from tests.local.leg_helpers import FLUSH, M, OAUTH_M, leg_toml, oauth_key_stream
from tests.redis_dbs import flushed_dbs

pytestmark = pytest.mark.activemq

DB_A, DB_B = 15, 10


def from_bridge(event) -> bool:
    return (event.get("sender") or "").startswith("cachesync-bridge/")


def test_two_is_clusters_through_their_bridges_legs(tmp_path, jms_peer, activemq_stomp_url, redis_url):
    central, tag = f"central-{uuid.uuid4().hex[:8]}", secrets.token_hex(3)
    is_topics = {c: f"is-{c}-{uuid.uuid4().hex[:8]}" for c in "ab"}
    configs = {c: bridge_config(tmp_path, f"{c}-{tag}", activemq_stomp_url, central, redis_db=db, redis_url=redis_url,
                                sources=leg_toml(activemq_stomp_url, is_topics[c], subscription=f"cachesync-leg-{c}-{tag}"))
               for c, db in (("a", DB_A), ("b", DB_B))}
    peers = [jms_peer(is_topics[sender[3]], sender, mode, wait=False) for sender, mode in
             (("is-a-1", "send"), ("is-a-2", "consume"), ("is-b-1", "consume"), ("is-b-2", "hybrid"))]
    a_node, a_watch, b_node, b_hybrid = (peer.ready() for peer in peers)  # four JVMs booting together
    with flushed_dbs(redis_url, DB_A, DB_B), BridgeProcess(configs["b"]) as bridge_b, BridgeProcess(configs["a"]):
        a_node.publish(manager=M, cache="AppInfoCache", key="app-1")
        a_node.publish(manager=OAUTH_M, cache="OAuthCache", oauth_key="client-abc:user-1")
        a_node.publish(manager=M, cache="AppInfoCache", clear_all=True)
        for peer in (b_node, b_hybrid):
            got = [peer.received(from_bridge, timeout=30) for _ in range(3)]
            assert all(event["accepted"] for event in got), got
            assert (got[0]["key"], got[0]["keyClass"], got[0]["cacheName"]) == ("app-1", "java.lang.String",
                                                                                "$__local__$.AppInfoCache")
            assert got[1]["keyClass"] == "org.wso2.carbon.identity.oauth.cache.OAuthCacheKey"
            assert got[1]["cacheKeyBase64"] == base64.b64encode(oauth_key_stream()).decode()
            assert got[2]["clearAll"] is True and got[2]["cacheName"] == "$__local__$.AppInfoCache"
            assert all((e["tenantDomain"], e["tenantId"]) == ("carbon.super", -1234) for e in got)
        for _ in range(3):  # a's own three, from is-a-1
            assert a_watch.received(timeout=10)["sender"] == "is-a-1"
        # b's hybrid node re-published all three under its own sender: b's leg knows them, nothing crosses back
        a_watch.assert_nothing_received(within=5)

        lost = Publisher(central, origin=f"x-{tag}")
        with BrokerConnection([activemq_stomp_url], ConnectOptions()).open(timeout=10) as connection:
            lost.publish(connection, next(lost.messages([Item(cache="Unrelated", keys=("k",))])), confirm=True)
            lost.next_seq()  # lost on the central topic
            lost.publish(connection, next(lost.messages([Item(cache="Unrelated", keys=("k2",))])), confirm=True)
        bridge_b.wait_for_log("gap: 1 message(s)")
        cleared = {(e["cacheManagerName"], e["cacheName"]) for e in
                   (b_node.received(lambda e: from_bridge(e) and e.get("clearAll"), timeout=30) for _ in FLUSH)}
        assert cleared == {(f.split("/")[0], "$__local__$." + f.split("/")[1]) for f in FLUSH}
