"""`stomp://` and `stomp+ssl://`: STOMP 1.2 with stomp.py (ActiveMQ, RabbitMQ's STOMP plugin).

Messages go to `/topic/<topic>`. SENDs carry no `content-length`, so ActiveMQ turns them into
JMS TextMessages, as WSO2 Identity Server nodes expect (WIRE.md §3); on ActiveMQ, texts are
converted to and from the Java modified UTF-8 it keeps them in (`activemq_text`). Durable
subscriptions use each broker's own headers: ActiveMQ a `client-id` on CONNECT plus
`activemq.subscriptionName`; RabbitMQ `durable:true` and `auto-delete:false` with a stable
subscription id (WIRE.md §1). The broker is recognised from the `server` header of its CONNECTED frame.
"""

from __future__ import annotations

import itertools
import socket
import threading
import time
import uuid
from collections.abc import Mapping

import stomp
import stomp.exception

from cachesync_cli.errors import AuthenticationFailed, ClientIdTaken, ConnectionFailed, NotConfirmed, PermissionDenied
from cachesync_cli.transport.activemq_text import text_from_activemq, text_to_activemq
from cachesync_cli.transport.base import Delivery, SubscriptionSpec, Transport
from cachesync_cli.transport.probe import explain, identify, probe_budget, wrong_protocol

# Header names a STOMP broker sets on MESSAGE frames: not application headers.
_FRAME_HEADERS = frozenset({
    "destination", "message-id", "subscription", "ack", "content-length", "redelivered",
    "expires", "priority", "timestamp", "persistent", "type", "correlation-id", "reply-to",
    "receipt",
})


def topic_destination(topic: str) -> str:
    return f"/topic/{topic}"


class _Listener(stomp.ConnectionListener):
    """Driver callbacks: each one short, handing off to the transport."""

    def __init__(self, transport: StompTransport) -> None:
        self.transport = transport

    def on_connected(self, frame) -> None:
        self.transport._on_connected(frame.headers)

    def on_error(self, frame) -> None:
        self.transport._on_error(frame.headers.get("message", ""), frame.body)

    def on_receipt(self, frame) -> None:
        self.transport._on_receipt(frame.headers.get("receipt-id", ""))

    def on_message(self, frame) -> None:
        self.transport._on_message(frame.headers, frame.body)

    def on_disconnected(self) -> None:
        self.transport._on_disconnected()

    def on_heartbeat_timeout(self) -> None:
        self.transport._on_disconnected("the broker's heart-beats stopped")


class StompTransport(Transport):

    def __init__(self, endpoint, options, on_lost, **kwargs) -> None:
        super().__init__(endpoint, options, on_lost, **kwargs)
        ep, opts = endpoint, options
        self._connected = threading.Event()
        self._receipts: dict[str, threading.Event] = {}
        self._subscriptions: dict[str, SubscriptionSpec] = {}
        self._ids = itertools.count(1)
        self._error = ""
        self._closing = False
        self._lost = False
        self._hung_up = False  # closed by the other end before CONNECTED
        self._activemq = False  # set from CONNECTED's `server` header
        heartbeat_ms = max(1, opts.heartbeat) * 1000
        self._conn = stomp.Connection12(
            host_and_ports=[(ep.host, ep.port)],
            reconnect_attempts_max=1,  # retries belong to BrokerConnection
            heartbeats=(heartbeat_ms, heartbeat_ms),
            timeout=opts.connect_timeout,
            auto_decode=False,
            auto_content_length=False,
            # stomp.py would send the host name as `host`, which RabbitMQ reads as a vhost.
            vhost=ep.path or "/",
        )
        if ep.tls:
            self._conn.set_ssl(for_hosts=[(ep.host, ep.port)], ca_certs=opts.tls.ca_file,
                               cert_file=opts.tls.cert_file, key_file=opts.tls.key_file,
                               verify=opts.tls.verify)
        self._conn.set_listener("cachesync", _Listener(self))

    @property
    def no_timestamp_reason(self) -> str:
        return f"{self.server or 'the broker'} sets no timestamp on STOMP messages"

    def connect(self) -> None:
        ep, opts = self.endpoint, self.options
        headers = {"client-id": opts.client_id} if opts.client_id else {}
        deadline = time.monotonic() + opts.connect_timeout
        try:
            self._conn.connect(self.login.username, self.login.password, wait=False, headers=headers)
        except stomp.exception.ConnectFailedException:
            raise self._unreachable() from None
        except Exception as exc:
            raise ConnectionFailed(f"cannot connect to {ep}: {exc}") from None
        got = self._connected.wait(max(0.05, deadline - time.monotonic()))
        if not got or self._error or self._hung_up:
            self._close_quietly()
            error = self._connect_error()
            if not self._error and not ep.tls:  # no STOMP answer at all: what does answer there?
                error = wrong_protocol(ep, probe_budget(opts.connect_timeout)) or error
            raise error
        sock = getattr(self._conn.transport, "socket", None)
        if sock is not None:  # receipts wait on small frames: do not let Nagle delay them
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _unreachable(self) -> ConnectionFailed:
        """Why stomp.py could not connect. It only logs the cause, so for a TLS endpoint the
        port is asked what it speaks, and when it is TLS the handshake is tried once more
        here, with the same settings, to report a TLS failure (the certificate...)."""
        ep, tls = self.endpoint, self.options.tls
        if ep.tls:
            import ssl

            budget = probe_budget(self.options.connect_timeout)
            answer = identify(ep.host, ep.port, budget)
            if answer is None:  # refused or unanswered: no TLS handshake to try again
                return ConnectionFailed(f"cannot connect to {ep}: connection refused or timed out")
            wrong = explain(ep, answer, budget, tls_failed=True)
            if wrong is not None:
                return wrong
            try:
                context = tls.ssl_context()
                with socket.create_connection((ep.host, ep.port), timeout=budget) as raw:
                    with context.wrap_socket(raw, server_hostname=ep.host):
                        pass
            except ssl.SSLError as exc:
                return ConnectionFailed(f"cannot connect to {ep}: TLS handshake failed ({exc})",
                                        hint="check [broker.tls] ca_file and the broker's certificate")
            except (OSError, ValueError):
                pass
        return ConnectionFailed(f"cannot connect to {ep}: connection refused or timed out")

    def _connect_error(self):
        ep, text = self.endpoint, self._error
        user = self.login.username
        lowered = text.lower()
        if any(word in lowered for word in ("login", "password", "auth", "credentials", "access refused")):
            return AuthenticationFailed(f"{ep} refused user {user!r}: {text}",
                                        hint="check the credentials (URL, [broker] username, password_env/password_file)")
        if "client" in lowered and "id" in lowered:
            return ClientIdTaken(f"{ep}: {text}",
                                    hint="another process uses the same client id (one bridge per cluster)")
        if text:
            return ConnectionFailed(f"{ep} refused the connection: {text}")
        if self._hung_up:
            return ConnectionFailed(f"cannot connect to {ep}: the other end closed the connection "
                                    f"without a STOMP CONNECTED frame")
        return ConnectionFailed(f"cannot connect to {ep}: no STOMP CONNECTED frame within "
                                f"{self.options.connect_timeout:g}s")

    # -- driver callbacks (stomp.py's receiver thread) ----------------------------------

    def _on_connected(self, headers: Mapping[str, str]) -> None:
        self.server = headers.get("server", "STOMP")
        self._activemq = "activemq" in self.server.lower()
        self._connected.set()

    def _on_error(self, message: str, body) -> None:
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body or "")
        first_line = text.strip().splitlines()[0] if text.strip() else ""
        self._error = ": ".join(part for part in (message.strip(), first_line) if part) or "ERROR frame"
        self._connected.set()  # wake connect(); it checks _error

    def _on_receipt(self, receipt_id: str) -> None:
        event = self._receipts.get(receipt_id)
        if event is not None:
            event.set()

    def _on_message(self, headers: Mapping[str, str], body) -> None:
        spec = self._subscriptions.get(headers.get("subscription", ""))
        if spec is None:
            return
        settle = None
        if spec.manual_ack and "ack" in headers:
            ack_id = headers["ack"]
            settle = lambda ok: self._settle(ack_id, ok)  # noqa: E731
        app_headers = {k: v for k, v in headers.items() if k not in _FRAME_HEADERS}
        destination = headers.get("destination", "")
        timestamp = headers.get("timestamp", "")
        body = body if isinstance(body, bytes) else (body or "").encode("utf-8")
        if self._activemq and "content-length" not in headers:  # a TextMessage's stored text
            body = text_from_activemq(body)
        spec.deliver(Delivery(
            body=body,
            headers=app_headers,
            destination=destination.removeprefix("/topic/"),
            redelivered=headers.get("redelivered") == "true",
            broker_timestamp=int(timestamp) if timestamp.isdigit() else None,
            _settle=settle,
        ))

    def _on_disconnected(self, why: str = "") -> None:
        for event in list(self._receipts.values()):
            event.set()  # wake waiting publishers; they see the connection is gone
        if not self._connected.is_set() and not self._closing:
            self._hung_up = True
            self._connected.set()  # wake connect(): no CONNECTED will come
            return
        if self._closing or self._lost or not self._connected.is_set():
            return
        self._lost = True
        reason = why or (f"the broker closed the connection: {self._error}" if self._error
                         else "the connection was closed")
        self.connection_lost(ConnectionFailed(f"{self.endpoint}: {reason}"))

    # -- Transport ------------------------------------------------------------------------

    def publish(self, topic: str, body: bytes, headers: Mapping[str, str], *, confirm: bool,
                timeout: float) -> None:
        frame_headers = dict(headers)
        frame_headers["persistent"] = "true"
        receipt = None
        if confirm:
            receipt = uuid.uuid4().hex
            self._receipts[receipt] = threading.Event()
            frame_headers["receipt"] = receipt
        if self._activemq:
            body = text_to_activemq(body)
        try:
            self._conn.send(topic_destination(topic), body, headers=frame_headers)
        except Exception as exc:
            self._receipts.pop(receipt or "", None)
            raise ConnectionFailed(f"cannot publish to {self.endpoint}: {exc or type(exc).__name__}") from None
        if receipt is None:
            return
        event = self._receipts[receipt]
        try:
            got = event.wait(timeout)
        finally:
            self._receipts.pop(receipt, None)
        if self._lost or self._error and not self._conn.is_connected():
            raise ConnectionFailed(f"{self.endpoint}: connection lost before the receipt came"
                                   + (f" ({self._error})" if self._error else ""))
        if not got:
            raise NotConfirmed(f"{self.endpoint} sent no receipt within {timeout:g}s")

    def subscribe(self, spec: SubscriptionSpec) -> None:
        headers: dict[str, str] = {}
        is_activemq = "activemq" in self.server.lower()
        prefetch = str(self.options.prefetch)
        if is_activemq:
            headers["activemq.prefetchSize"] = prefetch
        else:
            headers["prefetch-count"] = prefetch
        if spec.durable_name is not None:
            sub_id = spec.durable_name if spec.exact_name else f"cachesync.{spec.durable_name}"
            if is_activemq:
                if not self.options.client_id:
                    raise PermissionDenied("a durable ActiveMQ subscription needs a client id",
                                           hint="open the connection with a client_id")
                headers["activemq.subscriptionName"] = sub_id
            else:
                headers.update({"durable": "true", "auto-delete": "false"})
        else:
            sub_id = f"cachesync-tail-{next(self._ids)}-{uuid.uuid4().hex[:8]}"
        self._subscriptions[sub_id] = spec
        ack = "client-individual" if spec.manual_ack else "auto"
        # A receipt makes the broker's answer (or ERROR) to the SUBSCRIBE arrive before we go on.
        receipt = uuid.uuid4().hex
        self._receipts[receipt] = event = threading.Event()
        headers["receipt"] = receipt
        try:
            self._conn.subscribe(topic_destination(spec.topic), id=sub_id, ack=ack, headers=headers)
        except Exception as exc:
            raise ConnectionFailed(f"cannot subscribe on {self.endpoint}: {exc}") from None
        got = event.wait(self.options.connect_timeout)
        self._receipts.pop(receipt, None)
        if self._error and ("denied" in self._error.lower() or "refused" in self._error.lower()
                            or "not authorized" in self._error.lower()):
            raise PermissionDenied(f"{self.endpoint} refused the subscription to {spec.topic}: {self._error}")
        if not got or self._lost:
            raise ConnectionFailed(f"{self.endpoint} did not confirm the subscription to {spec.topic}"
                                   + (f": {self._error}" if self._error else ""))

    def delete_durable_subscription(self, name: str, topic: str) -> str:
        """Delete subscription `name`'s durable subscription to `topic` and what waits in it,
        on a connection of its own with the subscription's client id. ActiveMQ: UNSUBSCRIBE
        with `activemq.subscriptionName` (refused while a bridge holds it: the client id is
        in use). RabbitMQ: its queue is found by subscription id and destination, so the
        subscription is made again, then UNSUBSCRIBE'd durably, which deletes the queue."""
        import dataclasses

        from cachesync_cli.transport.base import durable_client_id

        options = dataclasses.replace(self.options, client_id=durable_client_id(name))
        other = StompTransport(self.endpoint, options, lambda error: None)
        other.connect()
        try:
            return other._unsubscribe_durably(name, topic)
        finally:
            other.close()

    def _unsubscribe_durably(self, name: str, topic: str) -> str:
        sub_id = f"cachesync.{name}"
        destination = topic_destination(topic)
        if "activemq" in self.server.lower():
            # One subscription per client id and name, whatever its topic (a SUBSCRIBE to
            # another topic replaces it): this deletes it whatever its topic.
            try:
                self._request(self._conn.unsubscribe, f"delete the durable subscription {sub_id}",
                              id=sub_id, headers={"activemq.subscriptionName": sub_id, "destination": destination})
            except ConnectionFailed as exc:
                if "no durable subscription exists" not in str(exc).lower():
                    raise
                return f"no durable subscription {sub_id} of client id {self.options.client_id} (none to delete)"
            return f"durable subscription {sub_id} of client id {self.options.client_id}"
        durable = {"durable": "true", "auto-delete": "false"}
        self._request(self._conn.subscribe, f"open the durable subscription {sub_id}", destination=destination,
                      id=sub_id, ack="client-individual", headers={**durable, "prefetch-count": "1"})
        self._request(self._conn.unsubscribe, f"delete the durable subscription {sub_id}", id=sub_id,
                      headers=durable)
        return f"durable subscription {sub_id} to {destination} (its queue)"

    def _request(self, send, doing: str, **frame) -> None:
        """Send a frame with a receipt and wait for it; the broker's ERROR is raised."""
        receipt = uuid.uuid4().hex
        self._receipts[receipt] = event = threading.Event()
        frame.setdefault("headers", {})["receipt"] = receipt
        self._error = ""
        deadline = time.monotonic() + self.options.connect_timeout
        try:
            send(**frame)
            # An ERROR frame (the broker refused) does not set the receipt's event.
            while not (got := event.wait(0.05)) and not self._error and time.monotonic() < deadline:
                pass
        finally:
            self._receipts.pop(receipt, None)
        if self._error or not got:
            raise ConnectionFailed(f"{self.endpoint}: cannot {doing}: {self._error or 'no receipt in time'}")

    def _settle(self, ack_id: str, ok: bool) -> None:
        try:
            (self._conn.ack if ok else self._conn.nack)(ack_id)
        except Exception:
            pass  # connection gone: the broker redelivers the message, which is what we want

    def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        self._close_quietly()

    def _close_quietly(self) -> None:
        self._closing = True
        try:
            if self._conn.is_connected():
                self._conn.disconnect()
        except Exception:
            pass
        try:
            self._conn.transport.stop()
        except Exception:
            pass
