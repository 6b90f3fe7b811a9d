"""WebhookTarget against a real local HTTP server: body, auth, retries, failures."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from cachesync_cli.local.base import EchoGuard, Invalidation, LocalContext, TargetError
from cachesync_cli.local.webhook_target import WebhookTarget
from cachesync_cli.wire.envelope import Item, Tenant

from .conftest import entry


class Node:
    """An application node: answers POSTs with the next scripted status (then 200), records them."""

    def __init__(self, statuses=()):
        self.statuses = list(statuses)
        self.requests: list[tuple[str, dict, dict]] = []
        node = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                node.requests.append((self.path, dict(self.headers), body))
                status = node.statuses.pop(0) if node.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                if status in (301, 302):
                    self.send_header("Location", "/elsewhere")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/cache/invalidate"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def nodes():
    made = []

    def make(statuses=()):
        made.append(Node(statuses))
        return made[-1]

    yield make
    for node in made:
        node.close()


def closed_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/x"


def webhook(urls, context=None, **fields):
    context = context or LocalContext("test", EchoGuard(), {"APP_TOKEN": "tok-123"})
    return WebhookTarget("hook", entry("targets", type="webhook", urls=urls, **fields), context)


INVALIDATION = Invalidation("dc-west", (Item("App", ("k1",), manager="M"), Item("Other", all=True)),
                            tenant=Tenant("t.com", 5), id="abc", reason="remote")


def test_posts_the_invalidation_with_the_token(nodes):
    first, second = nodes(), nodes()
    webhook([first.url, second.url], token="env:APP_TOKEN").apply(INVALIDATION)
    for node in (first, second):
        [(path, headers, body)] = node.requests
        assert path == "/cache/invalidate"
        assert headers["Authorization"] == "Bearer tok-123"
        assert headers["Content-Type"] == "application/json"
        assert body == {"origin": "dc-west", "tenant": {"domain": "t.com", "id": 5},
                        "items": [{"manager": "M", "cache": "App", "keys": ["k1"]},
                                  {"cache": "Other", "all": True}],
                        "id": "abc", "reason": "remote"}


def test_a_500_is_retried(nodes):
    node = nodes([500, 503])
    webhook([node.url], retries=3).apply(INVALIDATION)
    assert len(node.requests) == 3
    assert "Authorization" not in node.requests[0][1]


def test_failing_url_is_named_and_good_ones_are_called_once(nodes):
    bad, good = nodes([500] * 10), nodes()
    with pytest.raises(TargetError) as caught:
        webhook([bad.url, good.url], retries=2).apply(INVALIDATION)
    assert bad.url in str(caught.value) and "HTTP 500" in str(caught.value)
    assert good.url not in str(caught.value)
    assert len(bad.requests) == 2 and len(good.requests) == 1


def test_client_errors_and_redirects_are_not_retried(nodes):
    missing, moved = nodes([404]), nodes([302])
    with pytest.raises(TargetError, match="HTTP 404") as caught:
        webhook([missing.url, moved.url], retries=3).apply(INVALIDATION)
    assert "HTTP 302" in str(caught.value)
    assert len(missing.requests) == 1 and len(moved.requests) == 1


def test_unreachable_node_is_a_target_error():
    url = closed_url()
    target = webhook([url], retries=2, timeout=1)
    with pytest.raises(TargetError, match="ConnectionRefusedError"):
        target.apply(INVALIDATION)
    with pytest.raises(TargetError, match="unreachable"):
        target.check()


def test_check_connects(nodes):
    webhook([nodes().url]).check()
