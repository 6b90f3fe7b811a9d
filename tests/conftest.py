"""Where the services of the test suite are, and whether they answer.

`scripts/test` starts the services (`scripts/services start`) and exports the
CACHESYNC_TEST_* variables; without them each fixture falls back to the local
default. A fixture whose service does not accept a TCP connection skips the
test, or fails it when CI=true, so that a broken CI machine can't pass by
skipping everything.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest

CONNECT_TIMEOUT = 1.0


@dataclass(frozen=True)
class Service:
    """One service a fixture gives the address of."""

    title: str
    env_var: str
    default: str
    default_port: int
    marker: str

    def value(self) -> str:
        return os.environ.get(self.env_var) or self.default

    def host_port(self, value: str) -> tuple[str, int]:
        if "://" in value:
            parts = urlsplit(value)
            return parts.hostname or "127.0.0.1", parts.port or self.default_port
        host, _, port = value.rpartition(":")
        return host or "127.0.0.1", int(port) if port else self.default_port


SERVICES = {
    "amqp_url": Service(
        "RabbitMQ (AMQP)", "CACHESYNC_TEST_AMQP_URL",
        "amqp://guest:guest@127.0.0.1:5672/", 5672, "rabbitmq",
    ),
    "rabbit_stomp_url": Service(
        "RabbitMQ (STOMP plugin)", "CACHESYNC_TEST_RABBIT_STOMP_URL",
        "stomp://guest:guest@127.0.0.1:61613", 61613, "rabbitmq",
    ),
    "activemq_stomp_url": Service(
        "ActiveMQ (STOMP)", "CACHESYNC_TEST_ACTIVEMQ_STOMP_URL",
        "stomp://127.0.0.1:61623", 61623, "activemq",
    ),
    "redis_url": Service(
        "Redis", "CACHESYNC_TEST_REDIS_URL", "redis://127.0.0.1:6379", 6379, "redis",
    ),
    "memcached_address": Service(
        "memcached", "CACHESYNC_TEST_MEMCACHED", "127.0.0.1:11211", 11211, "memcached",
    ),
}


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("true", "1")


def reachable(service: Service) -> str:
    """The service's address from its variable; skips (fails in CI) when nothing listens."""
    value = service.value()
    host, port = service.host_port(value)
    try:
        with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT):
            pass
    except OSError as exc:
        message = (
            f"{service.title} is not reachable at {host}:{port} "
            f"({service.env_var}={value!r}): {exc}. Start it with `scripts/services start`."
        )
        if in_ci():
            pytest.fail(f"CI=true: {message}", pytrace=False)
        pytest.skip(message)
    return value


@pytest.fixture(scope="session")
def amqp_url() -> str:
    """amqp://user:password@host:port/vhost of RabbitMQ."""
    return reachable(SERVICES["amqp_url"])


@pytest.fixture(scope="session")
def rabbit_stomp_url() -> str:
    """stomp://user:password@host:port of RabbitMQ's STOMP plugin."""
    return reachable(SERVICES["rabbit_stomp_url"])


@pytest.fixture(scope="session")
def activemq_stomp_url() -> str:
    """stomp://host:port of ActiveMQ's STOMP connector (no authentication)."""
    return reachable(SERVICES["activemq_stomp_url"])


@pytest.fixture(scope="session")
def redis_url() -> str:
    """redis://host:port of Redis."""
    return reachable(SERVICES["redis_url"])


@pytest.fixture(scope="session")
def memcached_address() -> str:
    """host:port of memcached."""
    return reachable(SERVICES["memcached_address"])


BROKERS = [
    pytest.param("memory", id="memory"),
    pytest.param("amqp", id="amqp", marks=pytest.mark.rabbitmq),
    pytest.param("rabbit_stomp", id="rabbit_stomp", marks=pytest.mark.rabbitmq),
    pytest.param("activemq_stomp", id="activemq_stomp", marks=pytest.mark.activemq),
    pytest.param("mosquitto", id="mosquitto", marks=pytest.mark.mosquitto),
    pytest.param("rabbit_mqtt", id="rabbit_mqtt", marks=pytest.mark.rabbitmq),
    pytest.param("activemq_mqtt", id="activemq_mqtt", marks=pytest.mark.activemq),
]


@pytest.fixture(params=BROKERS)
def broker_url(request: pytest.FixtureRequest) -> str:
    """Each broker in turn, for the transport contract tests: memory://, then the real ones
    (AMQP, STOMP and MQTT; the MQTT services are defined at the end of this file)."""
    if request.param == "memory":
        return "memory://"
    return request.getfixturevalue(f"{request.param}_url")


@pytest.fixture
def topic_name() -> str:
    """A topic no other test uses, so tests never see each other's messages."""
    return f"cachesync.test.{secrets.token_hex(6)}"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark tests by the services they use, so `-m "not activemq"` deselects them."""
    for item in items:
        for fixture_name in getattr(item, "fixturenames", ()):
            service = SERVICES.get(fixture_name)
            if service is not None:
                item.add_marker(service.marker)


# -- RabbitMQ's TLS listeners and a user without permissions (tests of `cachesync doctor`) --------
# `scripts/services start` makes a test CA in .run/tls/, TLS listeners for AMQP (5671) and STOMP
# (61614) with a certificate for localhost and 127.0.0.1, and the user cachesync-restricted.

RUN_TLS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), ".run", "tls")

SERVICES.update({
    "amqps_url": Service(
        "RabbitMQ (AMQP over TLS)", "CACHESYNC_TEST_AMQPS_URL",
        "amqps://guest:guest@localhost:5671/", 5671, "rabbitmq",
    ),
    "rabbit_stomps_url": Service(
        "RabbitMQ (STOMP over TLS)", "CACHESYNC_TEST_RABBIT_STOMPS_URL",
        "stomp+ssl://guest:guest@localhost:61614", 61614, "rabbitmq",
    ),
    "restricted_amqp_url": Service(
        "RabbitMQ (AMQP, user without permissions)", "CACHESYNC_TEST_RESTRICTED_AMQP_URL",
        "amqp://cachesync-restricted:restricted-test-password@127.0.0.1:5672/", 5672, "rabbitmq",
    ),
    "restricted_stomp_url": Service(
        "RabbitMQ (STOMP, user without permissions)", "CACHESYNC_TEST_RESTRICTED_STOMP_URL",
        "stomp://cachesync-restricted:restricted-test-password@127.0.0.1:61613", 61613, "rabbitmq",
    ),
})


def harness_file(env_var: str, default: str, what: str) -> str:
    """A file the harness makes, from its variable; skips (fails in CI) when it is missing."""
    path = os.environ.get(env_var) or default
    if not os.path.isfile(path):
        message = f"{what} not found at {path} ({env_var}). Make it with `scripts/services start`."
        if in_ci():
            pytest.fail(f"CI=true: {message}", pytrace=False)
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def amqps_url() -> str:
    """amqps://guest:guest@localhost:5671/: RabbitMQ's TLS listener (certificate from tls_ca)."""
    return reachable(SERVICES["amqps_url"])


@pytest.fixture(scope="session")
def rabbit_stomps_url() -> str:
    """stomp+ssl://guest:guest@localhost:61614: RabbitMQ's STOMP plugin over TLS."""
    return reachable(SERVICES["rabbit_stomps_url"])


@pytest.fixture(scope="session")
def restricted_amqp_url() -> str:
    """amqp:// as cachesync-restricted, who may connect but not publish or subscribe."""
    return reachable(SERVICES["restricted_amqp_url"])


@pytest.fixture(scope="session")
def restricted_stomp_url() -> str:
    """stomp:// as cachesync-restricted, who may connect but not publish or subscribe."""
    return reachable(SERVICES["restricted_stomp_url"])


@pytest.fixture(scope="session")
def tls_ca() -> str:
    """The PEM file of the test CA that signed the TLS listeners' certificate."""
    return harness_file("CACHESYNC_TEST_TLS_CA", os.path.join(RUN_TLS, "ca.pem"), "the test CA")


@pytest.fixture(scope="session")
def tls_other_ca() -> str:
    """The PEM file of an unrelated CA: the wrong one to verify the listeners with."""
    return harness_file("CACHESYNC_TEST_TLS_OTHER_CA", os.path.join(RUN_TLS, "other-ca.pem"), "the unrelated test CA")


# -- MQTT: Mosquitto, RabbitMQ's MQTT plugin and ActiveMQ's MQTT connector ---------------------
# `scripts/services start` runs Mosquitto on 1883 (MQTT 5), enables RabbitMQ's MQTT plugin on
# 1884 (and 8884 over TLS, certificate from tls_ca) and ActiveMQ's MQTT connector on 1885 (both 3.1.1).

SERVICES.update({
    "mosquitto_url": Service(
        "Mosquitto (MQTT)", "CACHESYNC_TEST_MOSQUITTO_URL", "mqtt://127.0.0.1:1883", 1883, "mosquitto",
    ),
    "rabbit_mqtt_url": Service(
        "RabbitMQ (MQTT plugin)", "CACHESYNC_TEST_RABBIT_MQTT_URL",
        "mqtt://guest:guest@127.0.0.1:1884", 1884, "rabbitmq",
    ),
    "rabbit_mqtts_url": Service(
        "RabbitMQ (MQTT over TLS)", "CACHESYNC_TEST_RABBIT_MQTTS_URL",
        "mqtts://guest:guest@localhost:8884", 8884, "rabbitmq",
    ),
    "activemq_mqtt_url": Service(
        "ActiveMQ (MQTT)", "CACHESYNC_TEST_ACTIVEMQ_MQTT_URL", "mqtt://127.0.0.1:1885", 1885, "activemq",
    ),
})

def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "mosquitto: needs Mosquitto (MQTT)")


@pytest.fixture(scope="session")
def mosquitto_url() -> str:
    """mqtt://host:port of Mosquitto (MQTT 5 and 3.1.1, anonymous)."""
    return reachable(SERVICES["mosquitto_url"])


@pytest.fixture(scope="session")
def rabbit_mqtt_url() -> str:
    """mqtt://guest:guest@host:port of RabbitMQ's MQTT plugin (MQTT 3.1.1, topics on amq.topic)."""
    return reachable(SERVICES["rabbit_mqtt_url"])


@pytest.fixture(scope="session")
def rabbit_mqtts_url() -> str:
    """mqtts://guest:guest@localhost:8884: RabbitMQ's MQTT plugin over TLS (certificate from tls_ca)."""
    return reachable(SERVICES["rabbit_mqtts_url"])


@pytest.fixture(scope="session")
def activemq_mqtt_url() -> str:
    """mqtt://host:port of ActiveMQ's MQTT connector (MQTT 3.1.1, no authentication)."""
    return reachable(SERVICES["activemq_mqtt_url"])


@pytest.fixture
def private_memcached(memcached_address):
    """HOST:PORT of a memcached of this test alone: a flush_all must not wipe the shared one
    other tests use (memcached has no databases to keep them apart). Needs the memcached
    program, as the suite does."""
    program = shutil.which("memcached") or "/usr/bin/memcached"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    user = ["-u", "root"] if os.geteuid() == 0 else []  # memcached refuses root without -u
    process = subprocess.Popen([program, *user, "-l", "127.0.0.1", "-p", str(port), "-U", "0", "-m", "16"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 5
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                pytest.fail(f"memcached on port {port} did not start")
            time.sleep(0.02)
    yield f"127.0.0.1:{port}"
    process.terminate()
    process.wait(5)
