"""`amqp://` and `amqps://`: AMQP 0-9-1 with pika (RabbitMQ).

Messages go to exchange `amq.topic` (configurable) with the topic as routing key. A durable
subscription is the durable queue `cachesync.<name>@<topic>` bound to the topic, so another
topic is another queue; a transient one is an exclusive auto-delete queue (WIRE.md §1).
Before 2026-12 the queue was `cachesync.<name>`, whatever the topic, and kept the bindings of
every topic it was ever subscribed to: a durable subscription moves that queue's messages for
its topic into its own queue and deletes it (`_adopt_legacy_queue`).

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
import hashlib
import logging
import re
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
    UsageError,
)
from cachesync_cli.transport.base import Delivery, DurableState, QueueState, SubscriptionSpec, Transport
from cachesync_cli.wire.rmq_jms import EXCHANGE as RMQ_JMS_EXCHANGE
from cachesync_cli.wire.rmq_jms import frame_wso2_message

T = TypeVar("T")

log = logging.getLogger("cachesync.transport")

MAX_QUEUE_NAME = 255  # bytes of UTF-8: AMQP 0-9-1's shortstr
LEGACY_BATCH = 500  # messages moved from a legacy queue per round trip to the I/O thread


def durable_queue_name(name: str, topic: str) -> str:
    """The durable queue of subscription `name` (a cluster id) on `topic`:
    `cachesync.<name>@<topic>`, with `%` and `@` in the name written `%25` and `%40` so
    that no two (name, topic) pairs share a queue. A name longer than AMQP allows (255
    bytes) is cut and ends in `~` and a hash of the whole."""
    escaped = name.replace("%", "%25").replace("@", "%40")
    queue = f"cachesync.{escaped}@{topic}"
    if len(queue.encode("utf-8")) <= MAX_QUEUE_NAME:
        return queue
    digest = hashlib.sha256(f"{name}\0{topic}".encode("utf-8")).hexdigest()[:16]
    head = queue.encode("utf-8")[:MAX_QUEUE_NAME - len(digest) - 1].decode("utf-8", "ignore")
    return f"{head}~{digest}"


def spec_queue_name(spec: SubscriptionSpec) -> str:
    """The durable queue of `spec`: its durable name itself when `exact_name` (as the
    RabbitMQ JMS client names a durable subscriber's queue), else `durable_queue_name`."""
    assert spec.durable_name is not None
    return spec.durable_name if spec.exact_name else durable_queue_name(spec.durable_name, spec.topic)


def legacy_queue_name(name: str) -> str:
    """The queue of `name`'s durable subscription before it depended on the topic."""
    return f"cachesync.{name}"


class AmqpTransport(Transport):
    default_login = ("guest", "guest")  # RabbitMQ's default user, as pika logs in
    no_timestamp_reason = "AMQP 0-9-1 deliveries carry no broker timestamp"

    def __init__(self, endpoint, options, on_lost, **kwargs) -> None:
        super().__init__(endpoint, options, on_lost, **kwargs)
        self.exchange = endpoint.param("exchange", options.exchange)
        #: on the RabbitMQ JMS client's exchange, bodies go out in its framing (`_frame`)
        self.wso2_text_only = self.exchange == RMQ_JMS_EXCHANGE
        self._conn = None  # a pika BlockingConnection, once connected
        self._closing = False
        self._io_thread: threading.Thread | None = None
        self._unconfirmed: dict[int, concurrent.futures.Future] = {}  # delivery tag -> its future
        self._published = 0  # delivery tag of the last message sent on the publishing channel

    def connect(self) -> None:
        ep, opts = self.endpoint, self.options
        ssl_options = None
        if ep.tls:
            ssl_options = pika.SSLOptions(opts.tls.ssl_context(), server_hostname=ep.host)
        params = pika.ConnectionParameters(
            host=ep.host,
            port=ep.port,
            virtual_host=ep.path or "/",
            credentials=pika.PlainCredentials(self.login.username, self.login.password),
            heartbeat=opts.heartbeat,
            blocked_connection_timeout=max(30, opts.heartbeat * 3),
            socket_timeout=opts.connect_timeout,
            stack_timeout=opts.connect_timeout,  # TCP, TLS and the AMQP handshake, all of it
            connection_attempts=1,
            ssl_options=ssl_options,
            client_properties={"connection_name": f"cachesync {opts.client_id or ''}".strip()},
        )
        try:
            self._conn = pika.BlockingConnection(params)
            self._ioloop = self._conn._impl.ioloop  # the loop under the blocking adapter
            self._publishing = self._open_channel()
            self._wait(lambda done: self._publishing.confirm_delivery(ack_nack_callback=self._on_confirm,
                                                                      callback=done),
                       self._publishing, "enable publisher confirms")
            self._publishing.add_on_close_callback(self._on_publishing_closed)
            if self.wso2_text_only:
                # as the RabbitMQ JMS client's createTopic declares it: any other attribute would
                # make IS's own declaration fail (PRECONDITION_FAILED)
                self._wait(lambda done: self._publishing.exchange_declare(
                    RMQ_JMS_EXCHANGE, exchange_type="topic", durable=True, auto_delete=False, callback=done),
                    self._publishing, f"declare the exchange {RMQ_JMS_EXCHANGE}")
        except Exception as exc:  # pika raises many kinds; all become ours here
            self._close_opened_quietly()  # opened, then failed setting up its channels: not left open
            error = self._translate(exc, f"connect to {ep}")
            if _handshake_failed(exc):
                error = _wrong_protocol(ep, opts.connect_timeout, exc) or error
            raise error from None
        props = getattr(self._conn._impl, "server_properties", None) or {}
        product, version = props.get("product", b"AMQP"), props.get("version", b"")
        self.server = f"{_text(product)}/{_text(version)}"
        self._io_thread = threading.Thread(target=self._io_loop, daemon=True, name=f"amqp-io-{ep.host}")
        self._io_thread.start()

    def _close_opened_quietly(self) -> None:
        connection = self._conn
        if connection is not None and connection.is_open:
            try:
                connection.close()
            except Exception:  # already failing: the error being raised is the one to tell
                pass

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
        if threading.current_thread() is self._io_thread:
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
        if threading.current_thread() is self._io_thread:
            fn()
            return
        try:
            self._ioloop.add_callback_threadsafe(fn)
        except Exception as exc:
            raise ConnectionFailed(f"connection to {self.endpoint} is closed ({exc})") from None

    # -- Transport ------------------------------------------------------------------------

    def publish(self, topic: str, body: bytes, headers: Mapping[str, str], *, confirm: bool,
                timeout: float) -> None:
        # The publishing channel is in confirm mode: without `confirm`, nothing waits for it.
        future = self.publish_async(topic, body, headers, timeout=timeout)
        if not confirm:
            return
        try:
            future.result(timeout)
        except concurrent.futures.TimeoutError:
            raise NotConfirmed(f"{self.endpoint} did not confirm within {timeout:g}s") from None

    def publish_async(self, topic: str, body: bytes, headers: Mapping[str, str], *,
                      timeout: float) -> concurrent.futures.Future[None]:
        if self._closing:
            raise ConnectionFailed(f"connection to {self.endpoint} is closed")
        if self.wso2_text_only:
            body, headers = self._frame(body, headers)
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
                channel.basic_publish(self.exchange, topic, body, properties)
            except Exception as exc:
                future.set_exception(self._translate(exc, f"publish to {self.exchange}/{topic} on {self.endpoint}"))
                return
            self._published += 1
            self._unconfirmed[self._published] = future

        self._soon(send)
        return future

    def _frame(self, body: bytes, headers: Mapping[str, str]) -> tuple[bytes, Mapping[str, str]]:
        """A WSO2 message as the RabbitMQ JMS client's TextMessage; anything else is refused
        (an RMQ JMS consumer handed it would close its channel and hear nothing more)."""
        try:
            framed = frame_wso2_message(body, headers)
        except ValueError as exc:
            raise UsageError(f"{self.endpoint}: {exc}",
                             hint=f"IS nodes listen on exchange {RMQ_JMS_EXCHANGE}: publish there only with the "
                                  f"wso2 codec; native bridges use another exchange (amq.topic)") from None
        return framed, {**headers, "content-type": "application/octet-stream"}

    def subscribe(self, spec: SubscriptionSpec) -> None:
        channel_and_queue: list = []

        def declare() -> None:
            channel = self._open_channel()
            self._wait(lambda done: channel.basic_qos(prefetch_count=self.options.prefetch, callback=done),
                       channel, "set the prefetch")
            if spec.durable_name is not None:
                arguments = {"queue": spec_queue_name(spec), "durable": True}
            else:
                arguments = {"queue": "", "exclusive": True, "auto_delete": True}
            queue = self._wait(lambda done: channel.queue_declare(callback=done, **arguments),
                               channel, "declare the queue").method.queue
            self._wait(lambda done: channel.queue_bind(queue, self.exchange, routing_key=spec.topic, callback=done),
                       channel, "bind the queue")
            channel_and_queue.extend((channel, queue))

        def consume() -> None:
            channel, queue = channel_and_queue
            channel.add_on_cancel_callback(lambda _frame: self._cancelled(spec))
            self._wait(lambda done: channel.basic_consume(queue, self._consumer(channel, spec),
                                                          auto_ack=not spec.manual_ack, callback=done),
                       channel, "consume")

        doing = f"subscribe to {spec.topic} on {self.endpoint}"
        try:
            self._call(declare, self.options.connect_timeout + 5)
            if spec.durable_name is not None and not spec.exact_name:
                self._adopt_legacy_queue_or_say_why(spec.durable_name, spec.topic, channel_and_queue[1])
            self._call(consume, self.options.connect_timeout + 5)
        except TransportError:
            raise
        except Exception as exc:
            raise self._translate(exc, doing) from None

    def _adopt_legacy_queue_or_say_why(self, name: str, topic: str, queue: str) -> None:
        """`_adopt_legacy_queue`, unless the user may not touch the old queue: then the
        subscription goes on without it, and the error log says what to do."""
        try:
            self._adopt_legacy_queue(name, topic, queue)
        except Exception as exc:
            error = self._translate(exc, f"move the messages of {legacy_queue_name(name)} into {queue}")
            if not isinstance(error, PermissionDenied):
                raise error from None
            log.error("%s; the queue of an older cachesync version, %s, may still hold invalidations and "
                      "grows: grant the user configure/write/read on it, or delete it "
                      "(rabbitmqctl delete_queue %s)", error, legacy_queue_name(name), legacy_queue_name(name))

    def _adopt_legacy_queue(self, name: str, topic: str, queue: str) -> None:
        """Upgrade from the queue of older versions (`cachesync.<name>`, one for every topic):
        stop routing `topic` to it, move its messages for `topic` into `queue` (the new one,
        already bound, not yet consumed: nothing published meanwhile is lost), drop those
        of other topics (bindings of earlier runs on other topics), and delete it. Moving
        keeps what was published while the bridge was stopped for the upgrade: a restarted
        bridge would not see a gap in it. A message published during the move itself may
        arrive out of order, which a receiver takes for a gap (and flushes)."""
        legacy = legacy_queue_name(name)
        if legacy == queue:
            return

        def unbind() -> bool:
            channel = self._conn.channel()
            try:
                channel.queue_declare(legacy, passive=True)
            except pex.ChannelClosedByBroker as exc:
                if exc.reply_code == 404:
                    return False  # no legacy queue: the usual case
                raise
            channel.queue_unbind(legacy, self.exchange, routing_key=topic)
            channel.close()
            return True

        def move() -> tuple[int, int]:
            channel = self._conn.channel()
            channel.confirm_delivery()  # basic_publish returns once the broker has the message
            moved = dropped = 0
            while moved + dropped < LEGACY_BATCH:
                method, properties, body = channel.basic_get(legacy, auto_ack=False)
                if method is None:
                    break
                if _topic_matches(topic, method.routing_key):
                    channel.basic_publish("", queue, body, properties, mandatory=True)
                    moved += 1
                else:
                    dropped += 1
                channel.basic_ack(method.delivery_tag)
            channel.close()
            return moved, dropped

        def delete() -> None:
            channel = self._conn.channel()
            channel.queue_delete(legacy)
            channel.close()

        timeout = self.options.connect_timeout + 30
        if not self._call(unbind, timeout):
            return
        moved = dropped = 0
        while True:
            batch_moved, batch_dropped = self._call(move, timeout)
            moved, dropped = moved + batch_moved, dropped + batch_dropped
            if batch_moved + batch_dropped < LEGACY_BATCH:
                break
        self._call(delete, timeout)
        log.warning("%s: moved %d message(s) for topic %r from the queue of an older cachesync version, %s, "
                    "into %s, and deleted it (%d message(s) of other topics dropped)",
                    self.endpoint, moved, topic, legacy, queue, dropped)

    def durable_state(self, spec: SubscriptionSpec) -> DurableState:
        """Whether the queue `subscribe` declares for `spec` exists, and its consumer count
        (`queue_state`: a passive declare; one exclusive to another connection is consumed)."""
        if spec.durable_name is None:
            return DurableState()
        state = self.queue_state(spec_queue_name(spec))  # the name subscribe() declares
        return DurableState(state.exists, max(state.consumers, 1) if state.locked else state.consumers)

    def _cancelled(self, spec: SubscriptionSpec) -> None:
        """The broker ended a subscription (its queue was deleted): reconnect, which declares
        the queue again, rather than receive nothing."""
        raise ConnectionFailed(f"{self.endpoint} cancelled the subscription to {spec.topic} (queue deleted?)")

    def delete_durable_subscription(self, name: str, topic: str) -> str:
        """Delete subscription `name`'s durable queue on `topic`, `cachesync.<name>@<topic>`,
        and the queue of older versions, `cachesync.<name>` (whatever it was bound to), with
        the messages in them; a queue that does not exist is no error. Another bridge's
        queues are untouched. What was deleted, for the caller to say."""
        queues = [durable_queue_name(name, topic), legacy_queue_name(name)]

        def delete() -> None:
            channel = self._conn.channel()
            for queue in queues:
                channel.queue_delete(queue)
            channel.close()

        try:
            self._call(delete, self.options.connect_timeout)
        except TransportError:
            raise
        except Exception as exc:
            raise self._translate(exc, f"delete queue {queues[0]} on {self.endpoint}") from None
        return f"queue {queues[0]} (and {queues[1]}, of older versions, if it was there)"

    def queue_state(self, name: str) -> QueueState:
        """A passive declare of queue `name`: its depth and consumers, or that it does not
        exist (404) or is exclusive to another connection (405)."""

        def look() -> QueueState:
            channel = self._conn.channel()
            try:
                method = channel.queue_declare(name, passive=True).method
                return QueueState(name, True, method.message_count, method.consumer_count)
            except pex.ChannelClosedByBroker as exc:
                if exc.reply_code == 404:
                    return QueueState(name, False)
                if exc.reply_code == 405:
                    return QueueState(name, True, locked=True)
                raise
            finally:
                if channel.is_open:
                    channel.close()

        try:
            return self._call(look, self.options.connect_timeout)
        except TransportError:
            raise
        except Exception as exc:
            raise self._translate(exc, f"look at queue {name} on {self.endpoint}") from None

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
        if self._closing or self._conn is None:
            return
        self._closing = True
        try:
            if self._io_thread is not None:
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
        user = self.login.username
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


def _handshake_failed(exc: BaseException) -> bool:
    """Whether pika failed after the TCP connection was made, for another reason than the
    broker refusing the credentials or the certificate failing verification."""
    from pika.adapters.utils.connection_workflow import AMQPConnectorSocketConnectError

    last = _phase_failure(exc)
    if isinstance(last, AMQPConnectorSocketConnectError):
        return False  # refused, unreachable, TCP timeout: nothing answered to be asked
    if isinstance(last, (pex.ProbableAuthenticationError, pex.AuthenticationError, pex.ProbableAccessDeniedError)):
        return False
    return "CERTIFICATE_VERIFY_FAILED" not in repr(last)


def _wrong_protocol(endpoint, timeout: float, exc: BaseException):
    from cachesync_cli.transport.probe import probe_budget, wrong_protocol

    return wrong_protocol(endpoint, probe_budget(timeout), tls_failed=endpoint.tls and _tls_failure(exc))


def _tls_failure(exc: BaseException) -> bool:
    """Whether a TLS URL's failure came before the AMQP handshake (TLS itself failed, or
    no phase finished in time)."""
    from pika.adapters.utils.connection_workflow import AMQPConnectorAMQPHandshakeError

    return not isinstance(_phase_failure(exc), AMQPConnectorAMQPHandshakeError)


def _phase_failure(exc: BaseException) -> BaseException:
    """The error of the connection phase that failed (pika wraps it: `AMQPConnectionError`
    holding it in `args`, or a workflow failure holding every attempt's in `exceptions`)."""
    from pika.adapters.utils.connection_workflow import AMQPConnectorPhaseErrorBase

    inner = exc
    for _ in range(5):
        if isinstance(inner, AMQPConnectorPhaseErrorBase):
            break
        failures = getattr(inner, "exceptions", None)
        if failures:
            inner = failures[-1]
        elif inner.args and isinstance(inner.args[0], BaseException):
            inner = inner.args[0]
        else:
            break
    return inner


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
    if isinstance(exc, pex.StreamLostError) and "Transport indicated EOF" in str(exc):
        return "the other end closed the connection"
    # pika appends the socket address's repr: "...timed out: '10.0.0.1'/(<AddressFamily...)"
    return re.sub(r":?\s*'[^']*'/\(<AddressFamily.*$", "", str(exc)).strip() or type(exc).__name__


def _text(value) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _topic_matches(pattern: str, routing_key: str) -> bool:
    """Whether a topic exchange routes `routing_key` to a binding of `pattern` (`*` one
    word, `#` zero or more)."""
    def match(words: list[str], keys: list[str]) -> bool:
        if not words:
            return not keys
        if words[0] == "#":
            return any(match(words[1:], keys[i:]) for i in range(len(keys) + 1))
        return bool(keys) and words[0] in ("*", keys[0]) and match(words[1:], keys[1:])

    return pattern == routing_key or match(pattern.split("."), routing_key.split("."))
