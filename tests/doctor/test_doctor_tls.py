"""TLS: doctor's own handshake check, and cachesync's TLS transports (amqps://, stomp+ssl://)
against RabbitMQ's TLS listeners with the harness's test CA; expiry and host name against a
small TLS server of the test's own."""

from __future__ import annotations

import queue
import socket
import ssl
import subprocess
import threading

import pytest

from cachesync_cli.errors import ConnectionFailed
from cachesync_cli.transport.base import ConnectOptions, SubscriptionSpec, TlsOptions
from cachesync_cli.transport.connection import BrokerConnection
from tests.doctor.helpers import check, doctor, statuses


def tls_config(tmp_path, ca_file: str | None) -> str:
    path = tmp_path / "cachesync.toml"
    path.write_text(f'[broker.tls]\nca_file = "{ca_file}"\n' if ca_file else "")
    return str(path)


@pytest.mark.parametrize("broker", ["amqps", "rabbit_stomps"])
def test_tls_with_the_right_ca_is_ok_end_to_end(request, broker, tls_ca, tmp_path, topic_name):
    url = request.getfixturevalue(f"{broker}_url")
    code, report, _ = doctor("--config", tls_config(tmp_path, tls_ca), "--broker", url, "--topic", topic_name,
                             "--skip", "targets")  # a file with no sources or targets: warns, not this test's point
    tls = check(report, "tls")
    assert code == 0, report
    assert tls["status"] == "ok" and "certificate verified for localhost" in tls["message"]
    assert statuses(report)["roundtrip"] == "ok"


@pytest.mark.parametrize("ca", ["none", "wrong"])
def test_tls_with_no_or_the_wrong_ca_fails_with_the_fix(amqps_url, tls_other_ca, tmp_path, topic_name, ca):
    config = tls_config(tmp_path, tls_other_ca if ca == "wrong" else None)
    code, report, _ = doctor("--config", config, "--broker", amqps_url, "--topic", topic_name)
    tls = check(report, "tls")
    assert code == 2
    assert tls["status"] == "fail" and "certificate not trusted" in tls["message"]
    assert "ca_file" in tls["hint"]
    assert (tls_other_ca in tls["message"]) == (ca == "wrong")
    assert statuses(report)["auth"] == "skip"


@pytest.mark.parametrize("broker", ["amqps", "rabbit_stomps"])
def test_tls_transport_publishes_and_receives(request, broker, tls_ca, topic_name):
    url = request.getfixturevalue(f"{broker}_url")
    inbox: queue.Queue = queue.Queue()
    with BrokerConnection([url], ConnectOptions(tls=TlsOptions(ca_file=tls_ca), connect_timeout=5)).open() as conn:
        conn.subscribe(SubscriptionSpec(topic_name, inbox.put))
        conn.publish(topic_name, b"over tls", {"content-type": "text/plain"}, confirm=True)
        assert inbox.get(timeout=10).body == b"over tls"


@pytest.mark.parametrize("broker", ["amqps", "rabbit_stomps"])
def test_tls_transport_with_the_wrong_ca_says_so(request, broker, tls_other_ca):
    url = request.getfixturevalue(f"{broker}_url")
    connection = BrokerConnection([url], ConnectOptions(tls=TlsOptions(ca_file=tls_other_ca), connect_timeout=5))
    with pytest.raises(ConnectionFailed) as caught:
        connection.open()
    assert "TLS handshake failed" in caught.value.message
    assert "CERTIFICATE_VERIFY_FAILED" in caught.value.message
    assert "ca_file" in caught.value.hint


# -- a TLS server of the test's own, for certificates RabbitMQ does not have --------------------

def openssl(*args: str, cwd) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def short_lived_certs(tmp_path_factory):
    """A CA and a certificate for `localhost` valid for 10 days, signed by it."""
    directory = tmp_path_factory.mktemp("tls")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30", "-subj", "/CN=doctor test CA",
            "-keyout", "ca.key", "-out", "ca.pem", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign", cwd=directory)
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout", "server.key",
            "-out", "server.csr", cwd=directory)
    (directory / "ext").write_text("subjectAltName=DNS:localhost\n")
    openssl("x509", "-req", "-days", "10", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-extfile", "ext", "-out", "server.pem", cwd=directory)
    return directory


@pytest.fixture
def tls_server(short_lived_certs):
    """127.0.0.1:PORT completing TLS handshakes with the 10-day certificate, then closing."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(short_lived_certs / "server.pem", short_lived_certs / "server.key")
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                client, _ = listener.accept()
            except OSError:
                continue
            try:
                with context.wrap_socket(client, server_side=True):
                    pass
            except (OSError, ssl.SSLError):
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join(timeout=2)
    listener.close()


def test_certificate_expiring_soon_warns(tls_server, short_lived_certs, tmp_path):
    config = tls_config(tmp_path, str(short_lived_certs / "ca.pem"))
    code, report, _ = doctor("--config", config, "--broker", f"amqps://localhost:{tls_server}/",
                             "--only", "config,dns,tcp,tls")
    tls = check(report, "tls")
    assert code == 1, report
    assert tls["status"] == "warn" and "expires in" in tls["message"] and "renew" in tls["hint"]


def test_certificate_for_another_host_name_fails(tls_server, short_lived_certs, tmp_path):
    config = tls_config(tmp_path, str(short_lived_certs / "ca.pem"))
    code, report, _ = doctor("--config", config, "--broker", f"amqps://127.0.0.1:{tls_server}/",
                             "--only", "config,dns,tcp,tls")
    tls = check(report, "tls")
    assert code == 2
    assert tls["status"] == "fail" and "does not name host '127.0.0.1'" in tls["message"]
    assert "subjectAltName" in tls["hint"]
