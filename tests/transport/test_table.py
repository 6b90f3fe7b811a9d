"""The transport table (`transport/schemes.py`) and what every transport says about itself.

No broker needed: these tests read the table, build transports without connecting them, and
resolve credentials. The contract tests (test_contract.py) run the transports on real brokers.
"""

from __future__ import annotations

import pytest

from cachesync_cli.errors import UsageError
from cachesync_cli.transport import SCHEMES, ConnectOptions, Transport, parse_endpoint, transport_class
from cachesync_cli.transport.connection import BrokerConnection
from cachesync_cli.transport.memory import memory_broker


@pytest.mark.parametrize("name", sorted(SCHEMES))
def test_every_scheme_loads_a_transport_that_can_be_closed_before_it_connects(name):
    """Each row names a complete Transport (no abstract method left), whose state is made in
    __init__: closing one that never connected is harmless."""
    url = f"{name}://some-host" if not SCHEMES[name].in_process else f"{name}://table-test"
    endpoint = parse_endpoint(url)
    cls = transport_class(name)
    assert issubclass(cls, Transport)
    transport = cls(endpoint, ConnectOptions(), lambda error: None)
    transport.close()
    transport.close()


@pytest.mark.parametrize("name", sorted(s for s in SCHEMES if not SCHEMES[s].in_process))
def test_urls_take_their_default_port_and_tls_from_the_table(name):
    endpoint = parse_endpoint(f"{name}://h")
    assert (endpoint.port, endpoint.tls, endpoint.family) == (
        SCHEMES[name].default_port, SCHEMES[name].tls, SCHEMES[name].family)
    assert parse_endpoint(f"{name}://h:1234").port == 1234


def test_an_unknown_scheme_names_the_closest_and_the_supported_ones():
    with pytest.raises(UsageError) as raised:
        parse_endpoint("amqpss://mq:5671/")
    assert "did you mean amqps://" in raised.value.hint
    assert all(name in raised.value.hint for name in SCHEMES)


def test_failover_urls_share_one_protocol_family():
    BrokerConnection(["amqp://a", "amqps://b"])  # TLS or not, one protocol
    BrokerConnection(["stomp://a", "stomp+ssl://b"])
    with pytest.raises(UsageError, match="one protocol, got amqp, mqtt"):
        BrokerConnection(["amqp://a", "mqtts://b"])


def test_credentials_are_resolved_once_url_first_then_options_then_the_protocols_default():
    options = ConnectOptions(username="opt-user", password="opt-pw")
    amqp = transport_class("amqp")
    assert amqp.login_for(parse_endpoint("amqp://u:p@h"), options) == amqp.login_for(
        parse_endpoint("amqp://u:p@h"), ConnectOptions())
    assert (amqp.login_for(parse_endpoint("amqp://u:p@h"), options).username,
            amqp.login_for(parse_endpoint("amqp://u:p@h"), options).password) == ("u", "p")
    login = amqp.login_for(parse_endpoint("amqp://h"), options)
    assert (login.username, login.password) == ("opt-user", "opt-pw")
    login = amqp.login_for(parse_endpoint("amqp://h"), ConnectOptions())
    assert (login.username, login.password) == ("guest", "guest")  # RabbitMQ's default user
    for name in ("stomp", "mqtt"):
        login = transport_class(name).login_for(parse_endpoint(f"{name}://h"), ConnectOptions())
        assert (login.username, login.password) == (None, None)  # anonymous
    transport = amqp(parse_endpoint("amqp://u@h"), options, lambda error: None)
    assert (transport.login.username, transport.login.password) == ("u", "opt-pw")
    assert "opt-pw" not in repr(transport.login)


def test_the_takeover_count_belongs_to_the_connection_and_outlives_its_transports():
    """A BrokerConnection makes a transport for every connection; what the transports count
    (MQTT's session takeovers) lives in the connection, not in the process."""
    url = "memory://takeovers-test"
    with BrokerConnection([url]) as first, BrokerConnection([url]) as second:
        first.open()
        second.open()
        before = first.transport
        memory_broker("takeovers-test").drop_connections()
        first.wait_connected(10)
        assert first.transport is not before
        assert first.transport.takeovers is before.takeovers
        assert second.wait_connected(10).takeovers is not first.transport.takeovers
