"""HttpSource over real HTTP: answers after the bridge's receipt (confirmed, spooled,
filtered, rejected, none in time), bad bodies, unauthorized, oversized, routes, stop.

Here the bridge is an inbox that tells each message's receipt as a test says; the answers
with a real bridge and RabbitMQ are in tests/reliability/test_http_receipts.py."""

from __future__ import annotations

import http.client
import json
import logging
import socket

import pytest

from cachesync_cli.errors import ConfigError
from cachesync_cli.local.base import EchoGuard, LocalContext, SourceError
from cachesync_cli.local.http_source import HttpSource
from cachesync_cli.wire.envelope import Item, Tenant

from .conftest import Inbox, entry

TOKEN = "s3cret-token-value"


class TellingInbox(Inbox):
    """An inbox that tells each message's receipt `status` at once (None: never)."""

    def __init__(self, status: str | None = "confirmed") -> None:
        super().__init__()
        self.status = status

    def emit(self, message) -> None:
        super().emit(message)
        if self.status is not None:
            message.receipt(self.status)


@pytest.fixture
def inbox() -> TellingInbox:
    return TellingInbox()


def make(context, **fields) -> HttpSource:
    return HttpSource("http-test", entry("sources", type="http", listen="127.0.0.1:0", **fields), context)


@pytest.fixture
def server(context, inbox):
    source = make(context)
    source.start(inbox.emit, inbox.reject)
    yield source
    source.stop()


@pytest.fixture
def secured(inbox):
    context = LocalContext("test", EchoGuard(),
                           {"HTTP_TOKEN": TOKEN})
    source = make(context, token="env:HTTP_TOKEN")
    source.start(inbox.emit, inbox.reject)
    yield source
    source.stop()


def request(source, method, path, body=None, headers=None):
    conn = http.client.HTTPConnection(*source.address, timeout=5)
    try:
        data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
        conn.request(method, path, body=data, headers=headers or {})
        response = conn.getresponse()
        raw = response.read()
        return response.status, (json.loads(raw) if raw else None)
    finally:
        conn.close()


def test_accepts_local_messages(server, inbox):
    assert server.address[1] != 0
    assert request(server, "POST", "/v1/invalidations", {"cache": "App", "keys": ["a", "b"]}) == \
        (200, {"accepted": 1, "status": "confirmed"})
    assert inbox.next_message().items == (Item("App", ("a", "b")),)
    status, body = request(server, "POST", "/v1/invalidations", {
        "tenant": {"domain": "t.com", "id": 3}, "items": [{"cache": "A", "all": True}, {"cache": "B", "keys": ["x"]}]})
    assert (status, body) == (200, {"accepted": 2, "status": "confirmed"})
    message = inbox.next_message()
    assert message.tenant == Tenant("t.com", 3) and len(message.items) == 2
    server.check()


def test_rejects_bad_bodies(server, inbox):
    status, body = request(server, "POST", "/v1/invalidations", b"{nope")
    assert status == 400 and "error" in body
    assert inbox.next_rejection()[0] == "malformed"
    status, body = request(server, "POST", "/v1/invalidations", {"cache": "App", "keys": []})
    assert status == 400 and "error" in body
    assert inbox.next_rejection()[0] == "invalid"
    inbox.assert_quiet()


def test_oversized_body_is_refused_before_reading(server, inbox):
    conn = http.client.HTTPConnection(*server.address, timeout=5)
    conn.putrequest("POST", "/v1/invalidations")
    conn.putheader("Content-Length", str(2 * 1024 * 1024))
    conn.endheaders()  # no body sent: the server must answer from the header alone
    response = conn.getresponse()
    assert response.status == 413
    conn.close()
    assert inbox.next_rejection()[0] == "oversized"


@pytest.mark.parametrize("length, status", [("\u00b2", 411), ("-5", 411), ("9" * 5000, 413), (" 12 ", 400)])
def test_hostile_content_lengths_get_an_answer(server, inbox, length, status):
    """A superscript digit or 5,000 digits once made int() raise in the handler: the client got
    no answer, only a traceback on the bridge's stderr."""
    with socket.create_connection(server.address, timeout=5) as conn:
        conn.sendall(b"POST /v1/invalidations HTTP/1.1\r\nHost: x\r\nContent-Length: " + length.encode("latin-1")
                     + b"\r\n\r\n" + b"{nope" + b" " * 7)
        answer = conn.makefile("rb").readline()
    assert answer.split()[1] == str(status).encode(), answer
    if status != 411:
        assert inbox.next_rejection()[0] in ("oversized", "malformed")


def test_rebroadcasts_are_accepted_but_not_emitted(server, inbox):
    assert request(server, "POST", "/v1/invalidations", {"origin": "dc-west", "cache": "A", "keys": ["k"]}) == \
        (202, {"accepted": 0})
    inbox.assert_quiet()


def test_routes_and_methods(server):
    assert request(server, "GET", "/v1/health") == (200, {"status": "ok"})
    assert request(server, "GET", "/v1/other")[0] == 404
    assert request(server, "POST", "/")[0] == 404
    assert request(server, "GET", "/v1/invalidations")[0] == 405
    assert request(server, "DELETE", "/v1/invalidations")[0] == 405
    assert request(server, "POST", "/v1/health", {})[0] == 405


def test_bearer_token(secured, inbox, caplog):
    body = {"cache": "App", "keys": ["k"]}
    with caplog.at_level(logging.DEBUG):
        assert request(secured, "POST", "/v1/invalidations", body)[0] == 401
        assert inbox.next_rejection()[0] == "unauthorized"
        assert request(secured, "POST", "/v1/invalidations", body, {"Authorization": "Bearer wrong"})[0] == 401
        assert request(secured, "POST", "/v1/invalidations", body, {"Authorization": f"Basic {TOKEN}"})[0] == 401
        assert request(secured, "POST", "/v1/invalidations", body,
                       {"Authorization": f"Bearer {TOKEN}"}) == (200, {"accepted": 1, "status": "confirmed"})
    assert inbox.next_message().items == (Item("App", ("k",)),)
    assert TOKEN not in caplog.text
    assert request(secured, "GET", "/v1/health")[0] == 200  # health needs no token


def test_missing_token_variable_is_a_config_error(context):
    with pytest.raises(ConfigError, match="HTTP_TOKEN"):
        make(context, token="env:HTTP_TOKEN")


def test_busy_port_is_a_source_error(context, inbox):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        source = HttpSource("busy", entry("sources", type="http", listen=f"127.0.0.1:{port}"), context)
        with pytest.raises(SourceError, match="cannot listen"):
            source.check()
        with pytest.raises(SourceError, match="cannot listen"):
            source.start(inbox.emit, inbox.reject)


def test_stop_closes_the_port(context, inbox):
    source = make(context)
    source.start(inbox.emit, inbox.reject)
    address = source.address
    source.stop()
    with pytest.raises(OSError):
        socket.create_connection(address, timeout=1).close()


@pytest.mark.parametrize("status, answer", [
    ("spooled", (202, {"accepted": 1, "status": "spooled"})),
    ("filtered", (200, {"accepted": 1, "status": "filtered"})),
])
def test_answers_what_the_bridge_did(context, status, answer):
    inbox = TellingInbox(status)
    source = make(context)
    source.start(inbox.emit, inbox.reject)
    try:
        assert request(source, "POST", "/v1/invalidations", {"cache": "App", "keys": ["k"]}) == answer
    finally:
        source.stop()


def test_a_message_the_bridge_rejects_is_422(context):
    inbox = TellingInbox("rejected")
    source = make(context)
    source.start(inbox.emit, inbox.reject)
    try:
        status, body = request(source, "POST", "/v1/invalidations", {"cache": "App", "keys": ["k"]})
    finally:
        source.stop()
    assert status == 422 and body["status"] == "rejected" and "wso2" in body["error"]


def test_no_receipt_in_time_is_503_with_retry_after(context):
    inbox = TellingInbox(None)  # the bridge never says
    source = make(context, wait=0.3)
    source.start(inbox.emit, inbox.reject)
    try:
        conn = http.client.HTTPConnection(*source.address, timeout=5)
        conn.request("POST", "/v1/invalidations", body=b'{"cache": "App", "keys": ["k"]}')
        response = conn.getresponse()
        body = json.loads(response.read())
        conn.close()
    finally:
        source.stop()
    assert response.status == 503 and response.getheader("Retry-After") == "1"
    assert body["status"] == "pending" and body["accepted"] == 1 and "0.3s" in body["error"]
    assert inbox.next_message().receipt is not None


def test_wait_0_answers_at_once_without_a_receipt(context):
    inbox = TellingInbox(None)
    source = make(context, wait=0)
    source.start(inbox.emit, inbox.reject)
    try:
        assert request(source, "POST", "/v1/invalidations", {"cache": "App", "keys": ["k"]}) == \
            (202, {"accepted": 1, "status": "queued"})
    finally:
        source.stop()
    assert inbox.next_message().receipt is None
