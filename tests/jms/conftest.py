"""Fixtures of the JMS peer (`peer.py`, `IsPeer.java`) standing in for WSO2 IS nodes.

`jms_peer_classes` compiles the peer once per session (javac, Debian's ActiveMQ jars);
`jms_peer(topic, sender, mode)` starts peers on ActiveMQ's OpenWire port and stops them
after the test. Without javac or a jar the tests skip, and fail when CI=true, like a
missing service.
"""

from __future__ import annotations

import pytest

from tests.conftest import SERVICES, Service, in_ci, reachable
from tests.jms.peer import JmsPeer, PeerUnavailable, compile_peer

SERVICES["activemq_openwire_url"] = Service(
    "ActiveMQ (OpenWire)", "CACHESYNC_TEST_ACTIVEMQ_OPENWIRE_URL", "tcp://127.0.0.1:61626", 61626, "activemq",
)


@pytest.fixture(scope="session")
def activemq_openwire_url() -> str:
    """tcp://host:port of ActiveMQ's OpenWire connector (the broker behind activemq_stomp_url)."""
    return reachable(SERVICES["activemq_openwire_url"])


@pytest.fixture(scope="session")
def jms_peer_classes(tmp_path_factory):
    """The directory of the compiled peer (compiled once per session)."""
    try:
        return compile_peer(tmp_path_factory.mktemp("is-peer"))
    except PeerUnavailable as exc:
        if in_ci():
            pytest.fail(f"CI=true: the JMS peer cannot be built: {exc}", pytrace=False)
        pytest.skip(f"the JMS peer cannot be built: {exc}")


@pytest.fixture
def jms_peer(jms_peer_classes, activemq_openwire_url):
    """start(topic, sender, mode="consume", wait=True) -> a running JmsPeer; all are stopped
    afterwards. Modes: "consume" (an IS node), "hybrid" (re-publishes what it accepts under
    its own sender) and "send" (no subscription). With wait=False call `peer.ready()` before
    using it, so that several JVMs boot at once."""
    started: list[JmsPeer] = []

    def start(topic: str, sender: str, mode: str = "consume", *, wait: bool = True) -> JmsPeer:
        try:
            peer = JmsPeer(jms_peer_classes, activemq_openwire_url, topic, sender, mode, wait=wait)
        except PeerUnavailable as exc:
            if in_ci():
                pytest.fail(f"CI=true: the JMS peer cannot run: {exc}", pytrace=False)
            pytest.skip(f"the JMS peer cannot run: {exc}")
        started.append(peer)
        return peer

    yield start
    for peer in started:
        peer.stop()
