"""Local messages POSTed over HTTP: `POST /v1/invalidations` with a WIRE.md §4 JSON body.

A stdlib ThreadingHTTPServer on `listen` (port 0 picks a free port; `.address` tells
which). A valid message is handed to the bridge, and the answer waits (at most `wait`
seconds) for the bridge's receipt, so that a 2xx means the invalidation is safe: confirmed
by the broker, or in the bridge's spool (sent once the broker is back). Anything else may
be sent again: invalidating twice is harmless. Answers (N: the message's items):

- 200 `{"accepted": N, "status": "confirmed"}`: the broker confirmed it.
- 202 `{"accepted": N, "status": "spooled"}`: in the bridge's spool, sent later.
- 200 `{"accepted": N, "status": "filtered"}`: the sync rules exclude every item; nothing to send.
- 422 `{"error": ..., "status": "rejected"}`: the bridge refused it (the wso2 codec needs a
  cache manager on every item; its log says which). Sending it again does not help.
- 503 `{"error": ..., "status": "pending", "accepted": N}` with `Retry-After: 1`: neither
  confirmed nor spooled within `wait` (the bridge is far behind, or its spool's disk
  refuses writes). The bridge may still send it; send it again.
- With `wait = 0`: 202 `{"accepted": N, "status": "queued"}` at once, without a receipt
  (the message is in the bridge's memory only).
- 202 `{"accepted": 0}` for a message carrying `origin`: a bridge's re-broadcast, not emitted.
- 400 `{"error": ...}` for bad JSON or an invalid message (rejected as malformed/invalid);
  411 without a Content-Length; 413 for a body over 1 MiB (rejected as oversized; the
  length is checked before reading).
- 401 when `token` is set and the `Authorization: Bearer` header is missing or wrong
  (compared in constant time; rejected as unauthorized; the token is never logged).
- `GET /v1/health` -> 200; other paths 404; other methods 405.

`start` raises SourceError when the address cannot be bound. The token is read when the
source is built (ConfigError naming the setting when it cannot be).
"""

from __future__ import annotations

import hmac
import json
import logging
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cachesync_cli.config.resolve import resolve_secret
from cachesync_cli.errors import DecodeError
from cachesync_cli.local.base import EmitFn, RejectFn, Source, SourceError
from cachesync_cli.wire.local import LOCAL_MAX_BYTES, LocalMessage, parse_local_message

log = logging.getLogger("cachesync.local")

INVALIDATIONS = "/v1/invalidations"
HEALTH = "/v1/health"
ROUTES = {INVALIDATIONS: "POST", HEALTH: "GET"}
READ_TIMEOUT = 10.0
#: receipt status -> HTTP status of the answer
ANSWERS = {"confirmed": 200, "spooled": 202, "filtered": 200}


@dataclass
class _Receipt:
    """What the bridge's publishing thread tells a waiting request."""

    status: str = ""
    told: threading.Event = field(default_factory=threading.Event)

    def __call__(self, status: str) -> None:
        self.status = status
        self.told.set()


class _Server(ThreadingHTTPServer):
    daemon_threads = False  # server_close() waits for requests in flight: no emit after stop()
    block_on_close = True


class HttpSource(Source):
    type = "http"

    def __init__(self, name, options, context) -> None:
        super().__init__(name, options, context)
        host, _, port = options["listen"].rpartition(":")
        self.listen = (host.strip("[]"), int(port))
        self.wait = options["wait"]
        # It answers success only once the broker confirmed or the spool holds it: nothing is
        # lost while the bridge is away (an application retries what got no 2xx). Not with wait = 0.
        self.durable = self.wait > 0
        token = options.get("token")
        self._token = (resolve_secret(token, f"{self.describe()} token", context.environ).encode("utf-8")
                       if token else None)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        """(host, port) actually listened on: the configured one until started."""
        if self._server is None:
            return self.listen
        host, port = self._server.server_address[:2]
        return host, port

    def start(self, emit: EmitFn, reject: RejectFn) -> None:
        if self._server is not None:
            raise SourceError(f"{self.describe()}: already started")
        handler = type("Handler", (_Handler,), {"source": self, "emit": staticmethod(emit),
                                                 "reject": staticmethod(reject)})
        server_class = _Server
        if ":" in self.listen[0]:
            server_class = type("_Server6", (_Server,), {"address_family": socket.AF_INET6})
        try:
            self._server = server_class(self.listen, handler)
        except OSError as exc:
            raise SourceError(f"{self.describe()}: cannot listen on {self.options['listen']}: {exc.strerror or exc}") \
                from None
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.2},
                                        name=f"cachesync-{self.describe()}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def check(self) -> None:
        if self._server is not None:
            try:
                socket.create_connection(self.address, timeout=2.0).close()
            except OSError as exc:
                raise SourceError(f"{self.describe()}: not answering on {self.address}: {exc}") from None
            return
        family = socket.AF_INET6 if ":" in self.listen[0] else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(self.listen)
            except OSError as exc:
                raise SourceError(f"{self.describe()}: cannot listen on {self.options['listen']}: "
                                  f"{exc.strerror or exc}") from None

    def authorized(self, header: str | None) -> bool:
        if self._token is None:
            return True
        scheme, _, given = (header or "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode("utf-8"), self._token)


class _Handler(BaseHTTPRequestHandler):
    source: HttpSource
    emit: EmitFn
    reject: RejectFn
    timeout = READ_TIMEOUT
    server_version = "cachesync"
    sys_version = ""

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    def do_PUT(self) -> None:
        self._route("PUT")

    def do_DELETE(self) -> None:
        self._route("DELETE")

    def do_PATCH(self) -> None:
        self._route("PATCH")

    def do_HEAD(self) -> None:
        self._route("HEAD")

    def _route(self, method: str) -> None:
        path = self.path.split("?", 1)[0]
        allowed = ROUTES.get(path)
        if allowed is None:
            self._reply(404, {"error": f"no such path: {path}"})
        elif method != allowed:
            self._reply(405, {"error": f"use {allowed} for {path}"}, allow=allowed)
        elif path == HEALTH:
            self._reply(200, {"status": "ok"})
        else:
            self._invalidations()

    def _invalidations(self) -> None:
        if not self.source.authorized(self.headers.get("Authorization")):
            self.reject("unauthorized", f"from {self.client_address[0]}: missing or wrong bearer token")
            self._reply(401, {"error": "missing or wrong bearer token"}, authenticate=True)
            return
        length = (self.headers.get("Content-Length") or "").strip()
        if not (length.isascii() and length.isdigit()):  # "²" is a digit to str.isdigit, not to int()
            self._reply(411, {"error": "Content-Length required (a decimal number of bytes)"})
            return
        size = int(length) if len(length) <= 18 else LOCAL_MAX_BYTES + 1  # int() refuses 4,300 digits
        if size > LOCAL_MAX_BYTES:
            self.reject("oversized", f"from {self.client_address[0]}: {size} bytes")
            self._reply(413, {"error": f"body over {LOCAL_MAX_BYTES} bytes"})
            return
        try:
            body = self.rfile.read(size)
        except OSError:
            self.close_connection = True
            return
        try:
            message = parse_local_message(body)
        except DecodeError as exc:
            self.reject(exc.reason, f"from {self.client_address[0]}: {exc}")
            self._reply(413 if exc.reason == "oversized" else 400, {"error": str(exc)})
            return
        if message.origin is not None:
            self._reply(202, {"accepted": 0})
            return
        accepted = len(message.items)
        if self.source.wait <= 0:
            self.emit(message)
            self._reply(202, {"accepted": accepted, "status": "queued"})
            return
        receipt = _Receipt()
        self.emit(LocalMessage(message.items, message.tenant, receipt=receipt))
        if not receipt.told.wait(self.source.wait):
            self._reply(503, {"error": f"not confirmed by the broker nor spooled within {self.source.wait:g}s; "
                                       "sending it again is harmless", "status": "pending", "accepted": accepted},
                        retry_after=1)
        elif receipt.status == "rejected":
            self._reply(422, {"error": "rejected by the bridge (its log says why, e.g. an item without the cache "
                                       "manager the wso2 codec needs)", "status": "rejected"})
        else:
            self._reply(ANSWERS[receipt.status], {"accepted": accepted, "status": receipt.status})

    def _reply(self, status: int, body: dict, *, allow: str | None = None, authenticate: bool = False,
               retry_after: int | None = None) -> None:
        data = json.dumps(body).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if allow:
            self.send_header("Allow", allow)
        if authenticate:
            self.send_header("WWW-Authenticate", 'Bearer realm="cachesync"')
        if retry_after is not None:
            self.send_header("Retry-After", str(retry_after))
        if status >= 400:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (the stdlib's name)
        log.debug("%s: %s %s", self.source.describe(), self.client_address[0], format % args)
