"""`amqp://` and `amqps://`: AMQP 0-9-1 with pika (RabbitMQ).

Messages go to exchange `amq.topic` (configurable) with the topic as routing key. A durable
subscription is the durable queue `cachesync.<name>` bound to the topic; a transient one is an
exclusive auto-delete queue (WIRE.md §1).

A pika connection belongs to one thread: this transport starts an I/O thread that owns it,
and every other thread hands it work. The blocking adapter (`BlockingConnection`) connects
and deletes queues; the data path uses pika's asynchronous channels under it
(`_impl`), so that publishing, confirms, deliveries and acks run inside the I/O loop's poll
without a blocking round trip each:

- one publishing channel in confirm mode: `publish_async` hands the I/O thread a send, and
  the broker's confirms (`Basic.Ack`/`Basic.Nack`, possibly `multiple`) complete the futures
  it returned, so a publisher may have several messages awaiting confirmation, in order;
- one channel per subscription, whose deliveries go straight to the subscription's
  callback, and whose acks are handed back to the I/O thread without waiting.
"""

from __future__ import annotations

import concurrent.futures
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from typing import TypeVar

import pika
import pika.exceptions as pex

from cachesync_cli.errors import (
    AuthenticationFailed,
    ConnectionFailed,
    NotConfirmed,
    PermissionDenied,
    TransportError,
)
from cachesync_cli.transport.base import Delivery, SubscriptionSpec, Transport

T = TypeVar("T")


def durable_queue_name(name: str) -> str:
    return f"cachesync.{name}"


class AmqpTransport(Transport):
    schemes = ("amqp", "amqps")

    def connect(self) -> None:
        ep, opts = self.endpoint, self.options
        username = ep.username if ep.username is not None else (opts.username or "guest")
        password = ep.password if ep.password is not None else (opts.password or "guest")
        ssl_options = None
        if ep.tls:
            ssl_options = pika.SSLOptions(opts.tls.ssl_context(), server_hostname=ep.host)
        params = pika.ConnectionParameters(
            host=ep.host,
            port=ep.port,
            virtual_host=ep.path or "/",
            credentials=pika.PlainCredentials(username, password),
            heartbeat=opts.heartbeat,
            blocked_connection_timeout=max(30, opts.heartbeat * 3),
            socket_timeout=opts.connect_timeout,
            stack_timeout=opts.connect_timeout + 5,
            connection_attempts=1,
            ssl_options=ssl_options,
            client_properties={"connection_name": f"cachesync {opts.client_id or ''}".strip()},
        )
        self._exchange = ep.param("exchange", opts.exchange)
        self._closing = False
        self._unconfirmed: dict[int, concurrent.futures.Future] = {}  # delivery tag -> its future
        self._published = 0  # delivery tag of the last message sent on the publishing channel
        try:
            self._conn = pika.BlockingConnection(params)
            self._ioloop = self._conn._impl.ioloop  # the loop under the blocking adapter
            self._publishing = self._open_channel()
            self._wait(lambda done: self._publishing.confirm_delivery(ack_nack_callback=self._on_confirm,
                                                                      callback=done),
                       self._publishing, "enable publisher confirms")
            self._publishing.add_on_close_callback(self._on_publishing_closed)
        except Exception as exc:  # pika raises many kinds; all become ours here
            raise self._translate(exc, f"connect to {ep}") from None
        props = getattr(self._conn._impl, "server_properties", None) or {}
        product, version = props.get("product", b"AMQP"), props.get("version", b"")
        self.server = f"{_text(product)}/{_text(version)}"
        self._io_thread = threading.Thread(target=self._io_loop, daemon=True, name=f"amqp-io-{ep.host}")
        self._io_thread.start()

    # -- asynchronous channels, on the thread that owns the connection ----------------------

    def _open_channel(self):
        return self._wait(lambda done: self._conn._impl.channel(on_open_callback=done), None, "open a channel")

    def _wait(self, start: Callable[[Callable], object], channel, doing: str):
        """Start an asynchronous channel operation and run the connection until its
        callback; what the callback was given. Raises the broker's reason when it closes
        the channel instead (e.g. 403 on a queue)."""
        answers: list = []
        closed: list[Exception] = []
        if channel is not None:
            channel.add_on_close_callback(lambda _channel, reason: closed.append(reason))
        start(answers.append)
        deadline = time.monotonic() + self.options.connect_timeout
        # The blocking adapter's own wait (what its blocking channel methods use): runs the
        # I/O loop until a condition holds, without a fixed sleep per round. The deadline is
        # checked whenever the loop wakes (I/O or a timer such as the heartbeat's).
        self._conn._flush_output(lambda: bool(answers or closed) or time.monotonic() > deadline)
        if closed:
            raise closed[0]
        if not answers:
            raise ConnectionFailed(f"{self.endpoint} did not answer in time (to {doing})")
        return answers[0]

    # -- the I/O thread -------------------------------------------------------------------

    def _io_loop(self) -> None:
        try:
            while not self._closing:
                self._conn.process_data_events(time_limit=1)
        except Exception as exc:
            if not self._closing:
                self._closing = True
                error = self._translate(exc, f"stay connected to {self.endpoint}")
                self._fail_unconfirmed(error)
                self.connection_lost(error)

    def _on_confirm(self, frame) -> None:
        method = frame.method
        if isinstance(method, pika.spec.Basic.Ack):
            outcome = None
        else:
            outcome = NotConfirmed(f"{self.endpoint} refused the message (negative confirm)")
        if method.multiple:
            tags = [tag for tag in self._unconfirmed if tag <= method.delivery_tag]
        else:
            tags = [method.delivery_tag]
        for tag in tags:
            future = self._unconfirmed.pop(tag, None)
            if future is None:
                continue
            if outcome is None:
                future.set_result(None)
            else:
                future.set_exception(outcome)

    def _on_publishing_closed(self, _channel, reason: Exception) -> None:
        self._fail_unconfirmed(self._translate(reason, f"publish on {self.endpoint}"))

    def _fail_unconfirmed(self, error: Exception) -> None:
        pending, self._unconfirmed = self._unconfirmed, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(error)

    def _call(self, fn: Callable[[], T], timeout: float) -> T:
        """Run `fn` on the I/O thread and return its result. Through the blocking adapter's
        event dispatch, not `_soon`: `fn` may wait for the broker (it runs the I/O loop
        itself, see `_wait`), which it must not do from inside the loop's poll."""
        if threading.current_thread() is getattr(self, "_io_thread", None):
            return fn()
        future: concurrent.futures.Future = concurrent.futures.Future()

        def run() -> None:
            try:
                future.set_result(fn())
            except BaseException as exc:  # handed to the calling thread
                future.set_exception(exc)

        try:
            self._conn.add_callback_threadsafe(run)
        except Exception as exc:
            raise ConnectionFailed(f"connection to {self.endpoint} is closed ({exc})") from None
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            raise NotConfirmed(f"{self.endpoint} did not answer within {timeout:g}s") from None

    def _soon(self, fn: Callable[[], None]) -> None:
        """Run `fn` on the I/O thread, inside the loop's poll, without waiting for it.
        For short, non-blocking channel calls (publish, ack): no round through the blocking
        adapter's event dispatch."""
        if threading.current_thread() is getattr(self, "_io_thread", None):
            fn()
            return
        try:
            self._ioloop.add_callback_threadsafe(fn)
        except Exception as exc:
            raise ConnectionFailed(f"connection to {self.endpoint} is closed ({exc})") from None

    # -- Transport ------------------------------------------------------------------------

    def publish(self, topic: str, body: bytes, headers: Mapping[str, str], *, confirm: bool,
                timeout: float) -> None:
        # The publishing channel is in confirm mode: `confirm` only changes how long we wait.
        future = self.publish_async(topic, body, headers, timeout=timeout)
        try:
            future.result(timeout if confirm else max(timeout, 30.0))
        except concurrent.futures.TimeoutError:
            raise NotConfirmed(f"{self.endpoint} did not confirm within {timeout:g}s") from None

    def publish_async(self, topic: str, body: bytes, headers: Mapping[str, str], *,
                      timeout: float) -> concurrent.futures.Future[None]:
        if self._closing:
            raise ConnectionFailed(f"connection to {self.endpoint} is closed")
        properties = pika.BasicProperties(
            content_type=headers.get("content-type"),
            delivery_mode=pika.DeliveryMode.Persistent,
            headers={k: v for k, v in headers.items() if k != "content-type"} or None,
        )
        future: concurrent.futures.Future[None] = concurrent.futures.Future()

        def send() -> None:
            channel = self._publishing
            if not channel.is_open:
                future.set_exception(ConnectionFailed(f"the publishing channel to {self.endpoint} is closed"))
                return
            try:
                channel.basic_publish(self._exchange, topic, body, properties)
            except Exception as exc:
                future.set_exception(self._translate(exc, f"publish to {self._exchange}/{topic} on {self.endpoint}"))
                return
            self._published += 1
            self._unconfirmed[self._published] = future

        self._soon(send)
        return future

    def subscribe(self, spec: SubscriptionSpec) -> None:
        def setup() -> None:
            channel = self._open_channel()
            self._wait(lambda done: channel.basic_qos(prefetch_count=self.options.prefetch, callback=done),
                       channel, "set the prefetch")
            if spec.durable_name is not None:
                declare = {"queue": durable_queue_name(spec.durable_name), "durable": True}
            else:
                declare = {"queue": "", "exclusive": True, "auto_delete": True}
            queue = self._wait(lambda done: channel.queue_declare(callback=done, **declare),
                               channel, "declare the queue").method.queue
            self._wait(lambda done: channel.queue_bind(queue, self._exchange, routing_key=spec.topic, callback=done),
                       channel, "bind the queue")
            channel.add_on_cancel_callback(lambda _frame: self._cancelled(spec))
            self._wait(lambda done: channel.basic_consume(queue, self._consumer(channel, spec),
                                                          auto_ack=not spec.manual_ack, callback=done),
                       channel, "consume")

        try:
            self._call(setup, self.options.connect_timeout + 5)
        except TransportError:
            raise
        except Exception as exc:
            raise self._translate(exc, f"subscribe to {spec.topic} on {self.endpoint}") from None

    def durable_consumers(self, spec: SubscriptionSpec) -> int | None:
        """The consumer count of the queue `subscribe` declares for `spec` (a passive
        declare: 0 when it does not exist yet)."""
        if spec.durable_name is None:
            return None
        queue = durable_queue_name(spec.durable_name)  # the name subscribe() declares

        def count() -> int:
            channel = self._conn.channel()
            try:
                return channel.queue_declare(queue, passive=True).method.consumer_count
            except pex.ChannelClosedByBroker as exc:
                if exc.reply_code == 404:  # not declared yet: nobody consumes it
                    return 0
                raise
            finally:
                if channel.is_open:
                    channel.close()

        try:
            return self._call(count, self.options.connect_timeout)
        except TransportError:
            raise
        except Exception as exc:
            raise self._translate(exc, f"look at queue {queue} on {self.endpoint}") from None

    def _cancelled(self, spec: SubscriptionSpec) -> None:
        """The broker ended a subscription (its queue was deleted): reconnect, which declares
        the queue again, rather than receive nothing."""
        raise ConnectionFailed(f"{self.endpoint} cancelled the subscription to {spec.topic} (queue deleted?)")

    def delete_durable_subscription(self, name: str, topic: str | None = None) -> None:
        """Delete the durable queue `cachesync.<name>` (messages in it are lost): for the demo's
        throw-away clusters and `cachesync retire`. (`topic`: the queue's name will carry it.)"""
        def delete() -> None:
            channel = self._conn.channel()
            channel.queue_delete(durable_queue_name(name))
            channel.close()

        try:
            self._call(delete, self.options.connect_timeout)
        except TransportError:
            raise
        except Exception as exc:
            raise self._translate(exc, f"delete queue {durable_queue_name(name)} on {self.endpoint}") from None

    def _consumer(self, channel, spec: SubscriptionSpec):
        def on_message(_channel, method, properties, body: bytes) -> None:
            headers = {k: _text(v) for k, v in (properties.headers or {}).items()}
            if properties.content_type:
                headers["content-type"] = properties.content_type
            settle = None
            if spec.manual_ack:
                settle = self._settler(channel, method.delivery_tag)
            spec.deliver(Delivery(body=body, headers=headers, destination=method.routing_key,
                                  redelivered=bool(method.redelivered), _settle=settle))

        return on_message

    def _settler(self, channel, tag: int) -> Callable[[bool], None]:
        def settle(ok: bool) -> None:
            def run() -> None:
                if channel.is_open:
                    (channel.basic_ack if ok else channel.basic_nack)(tag)

            try:
                self._soon(run)
            except ConnectionFailed:
                pass  # connection gone: the broker redelivers the message, which is what we want

        return settle

    def close(self) -> None:
        if getattr(self, "_closing", True):
            return
        self._closing = True
        try:
            self._conn.add_callback_threadsafe(lambda: None)  # wake the I/O loop so it sees _closing
            self._io_thread.join(timeout=5)
            # Not BlockingConnection.close(): it closes only channels the blocking adapter
            # opened. Closing the connection closes every channel on it.
            self._conn._impl.close()
            deadline = time.monotonic() + 5
            while not self._conn.is_closed and time.monotonic() < deadline:
                self._conn.process_data_events(time_limit=0.05)
        except Exception:
            pass  # already closed or dead; nothing to hand back
        self._fail_unconfirmed(ConnectionFailed(f"connection to {self.endpoint} closed before the broker confirmed"))

    # -- errors ---------------------------------------------------------------------------

    def _translate(self, exc: Exception, doing: str) -> TransportError:
        user = self.endpoint.username or self.options.username or "guest"
        if isinstance(exc, TransportError):
            return exc
        if isinstance(exc, (pex.ProbableAuthenticationError, pex.AuthenticationError)):
            return AuthenticationFailed(
                f"{self.endpoint} refused user {user!r}: wrong user name or password",
                hint="check the credentials (URL, [broker] username, password_env/password_file)",
            )
        if isinstance(exc, pex.ProbableAccessDeniedError):
            return PermissionDenied(
                f"{self.endpoint} refused access to virtual host {self.endpoint.path or '/'!r} for {user!r}",
                hint="grant the user permissions on the virtual host (rabbitmqctl set_permissions)",
            )
        if isinstance(exc, (pex.ChannelClosedByBroker, pex.ConnectionClosedByBroker)):
            if exc.reply_code == 403:
                return PermissionDenied(
                    f"cannot {doing}: {exc.reply_text}",
                    hint="grant the user configure/write/read permissions for the exchange and queue",
                )
            if exc.reply_code == 404:
                return TransportError(f"cannot {doing}: {exc.reply_text}",
                                      hint="check [broker] exchange: it must exist and be a topic exchange")
        if isinstance(exc, ssl.SSLError) or "CERTIFICATE_VERIFY_FAILED" in repr(exc):
            return ConnectionFailed(f"cannot {doing}: TLS handshake failed ({_cause(exc)})",
                                    hint="check [broker.tls] ca_file and the broker's certificate")
        return ConnectionFailed(f"cannot {doing}: {_cause(exc)}")


def _cause(exc: BaseException) -> str:
    """The most telling text of a pika error, which often wraps the real one (connection
    workflow failures hold `exceptions`, connector errors hold `exception`)."""
    inner = exc.args[0] if exc.args and isinstance(exc.args[0], BaseException) else None
    inner = getattr(exc, "exception", None) or inner
    failures = getattr(exc, "exceptions", None)
    if failures:
        inner = failures[-1]
    if isinstance(inner, BaseException) and inner is not exc:
        return _cause(inner)
    if isinstance(exc, OSError) and exc.strerror and not isinstance(exc, ssl.SSLError):
        return exc.strerror.lower()  # "Connection refused" reads better mid-sentence
    return str(exc) or type(exc).__name__


def _text(value) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
