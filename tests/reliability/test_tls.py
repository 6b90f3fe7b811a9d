"""TLS against RabbitMQ's listeners set up by the harness (test CA in .run/tls/): amqps://
and stomp+ssl:// publish and receive, verification on by default, a wrong CA refused with
a message that says so, and client certificates, through a TLS front that requires one."""

from __future__ import annotations

import socket
import ssl
import subprocess
import threading
from pathlib import Path

import pytest

from cachesync_cli.errors import ConnectionFailed
from cachesync_cli.transport.base import TlsOptions
from cachesync_cli.transport.endpoint import parse_endpoint

from ..transport.brokers import connect, subscribe


@pytest.fixture(params=["amqps", "stomps"])
def tls_url(request) -> str:
    return request.getfixturevalue("amqps_url" if request.param == "amqps" else "rabbit_stomps_url")


def round_trip(url: str, topic: str, tls: TlsOptions) -> bytes:
    connection = connect(url, tls=tls)
    try:
        inbox = subscribe(connection, topic)
        connection.publish(topic, b'{"tls": true}', {"content-type": "application/json"}, confirm=True)
        return inbox.take(1)[0].body
    finally:
        connection.close()


def test_publish_and_receive_over_tls_with_the_test_ca(tls_url, tls_ca, topic_name):
    assert round_trip(tls_url, topic_name, TlsOptions(ca_file=tls_ca)) == b'{"tls": true}'


def test_verification_is_on_by_default_and_a_wrong_ca_is_refused(tls_url, tls_other_ca, topic_name):
    for tls in (TlsOptions(), TlsOptions(ca_file=tls_other_ca)):  # the system's store, then the wrong CA
        with pytest.raises(ConnectionFailed) as caught:
            round_trip(tls_url, topic_name, tls)
        assert "TLS handshake failed" in str(caught.value) and "certificate verify failed" in str(caught.value)
        assert "ca_file" in caught.value.hint


@pytest.fixture(scope="session")
def client_certs(tls_ca, tmp_path_factory) -> dict[str, str]:
    """A client certificate signed by the test CA, and one signed by the unrelated CA."""
    directory = tmp_path_factory.mktemp("client-tls")
    tls = Path(tls_ca).parent
    made = {}
    for name, ca in (("client", "ca"), ("stranger", "other-ca")):
        key, csr, pem = (str(directory / f"{name}.{ext}") for ext in ("key", "csr", "pem"))
        subprocess.run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN=cachesync-{name}",
                        "-keyout", key, "-out", csr], check=True, capture_output=True)
        subprocess.run(["openssl", "x509", "-req", "-sha256", "-days", "2", "-in", csr, "-CA", str(tls / f"{ca}.pem"),
                        "-CAkey", str(tls / f"{ca}.key"), "-CAcreateserial", "-out", pem],
                       check=True, capture_output=True)
        made[f"{name}_cert"], made[f"{name}_key"] = pem, key
    return made


class MutualTlsFront:
    """A TLS listener on localhost that requires a client certificate signed by the test CA
    and forwards the plaintext to the broker (RabbitMQ's own listeners do not ask for one)."""

    def __init__(self, tls_ca: str, upstream: tuple[str, int]) -> None:
        tls = Path(tls_ca).parent
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(tls / "server.pem", tls / "server.key")
        self.context.load_verify_locations(tls_ca)
        self.context.verify_mode = ssl.CERT_REQUIRED
        self.upstream = upstream
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.peers: list[str] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                raw, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(raw,), daemon=True).start()

    def _serve(self, raw: socket.socket) -> None:
        try:
            client = self.context.wrap_socket(raw, server_side=True)
        except (ssl.SSLError, OSError):
            raw.close()
            return
        self.peers.append(dict(x[0] for x in client.getpeercert()["subject"])["commonName"])
        upstream = socket.create_connection(self.upstream)
        for source, sink in ((client, upstream), (upstream, client)):
            threading.Thread(target=_pump, args=(source, sink), daemon=True).start()

    def close(self) -> None:
        self.listener.close()


def _pump(source, sink) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    for sock in (source, sink):
        try:
            sock.close()
        except OSError:
            pass


@pytest.mark.parametrize("plain", ["amqp_url", "rabbit_stomp_url"])
def test_client_certificates(plain, tls_ca, client_certs, topic_name, request):
    endpoint = parse_endpoint(request.getfixturevalue(plain))
    front = MutualTlsFront(tls_ca, (endpoint.host, endpoint.port))
    request.addfinalizer(front.close)
    scheme = "amqps" if endpoint.scheme == "amqp" else "stomp+ssl"
    url = f"{scheme}://guest:guest@localhost:{front.port}" + ("/" if scheme == "amqps" else "")
    good = TlsOptions(ca_file=tls_ca, cert_file=client_certs["client_cert"], key_file=client_certs["client_key"])
    assert round_trip(url, topic_name, good) == b'{"tls": true}'
    assert "cachesync-client" in front.peers
    for refused in (TlsOptions(ca_file=tls_ca),  # no certificate
                    TlsOptions(ca_file=tls_ca, cert_file=client_certs["stranger_cert"],
                               key_file=client_certs["stranger_key"])):  # one the front does not trust
        with pytest.raises(ConnectionFailed):
            round_trip(url, topic_name, refused)
    assert "cachesync-stranger" not in front.peers
