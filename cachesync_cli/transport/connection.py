"""`BrokerConnection`: the one place where failover, reconnection and resubscription live.

It holds the broker URLs in failover order and a `Transport` connected to one of them. When
the transport loses its connection, a supervisor thread reconnects with exponential backoff
and full jitter, trying the URLs in turn, and subscribes again to everything that was
subscribed. Authentication and permission errors stop it at once: retrying cannot fix them.

Every change of state is reported to `on_event` (for stderr messages, logs, metrics), and a
resubscription says whether the subscription was durable, because only a durable one
kept the messages published while the connection was down.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass

from cachesync_cli.errors import (
    FATAL_TRANSPORT_ERRORS,
    ConnectionFailed,
    SubscriptionInUse,
    TransportError,
    UsageError,
)
from cachesync_cli.transport.backoff import Backoff
from cachesync_cli.transport.base import ConnectOptions, DurableState, SubscriptionSpec, Takeovers, Transport
from cachesync_cli.transport.endpoint import Endpoint, parse_endpoint
from cachesync_cli.transport.schemes import transport_class

log = logging.getLogger("cachesync.transport")


@dataclass(frozen=True)
class ConnectionEvent:
    """What happened to the connection: `connected`, `lost`, `retrying`, `failed`, `closed`."""

    kind: str
    endpoint: Endpoint | None
    error: Exception | None = None
    attempt: int = 0
    delay: float = 0.0
    #: on `connected` after a loss: whether every subscription was durable (nothing missed)
    durable: bool = True
    reconnect: bool = False

    def describe(self) -> str:
        where = f" {self.endpoint}" if self.endpoint else ""
        if self.kind == "connected":
            return ("reconnected to" if self.reconnect else "connected to") + where
        if self.kind == "lost":
            return f"lost connection to{where}: {self.error}"
        if self.kind == "retrying":
            return f"cannot reach{where} ({self.error}); retrying in {self.delay:.1f}s (attempt {self.attempt})"
        if self.kind == "failed":
            return f"giving up: {self.error}"
        return f"{self.kind}{where}"


EventFn = Callable[[ConnectionEvent], None]


class BrokerConnection:
    """A connection to the first reachable of several broker URLs that stays connected."""

    def __init__(
        self,
        urls: Sequence[str],
        options: ConnectOptions = ConnectOptions(),
        *,
        on_event: EventFn | None = None,
        backoff: Backoff = Backoff(),
        reconnect_timeout: float | None = None,
    ) -> None:
        if not urls:
            raise UsageError("no broker URL configured", hint="pass --broker URL or set [broker] url")
        self.endpoints = [parse_endpoint(url) for url in urls]
        families = {ep.family for ep in self.endpoints}
        if len(families) > 1:
            raise UsageError(f"failover URLs must use one protocol, got {', '.join(sorted(families))}")
        self.options = options
        self.backoff = backoff
        self.reconnect_timeout = reconnect_timeout  # None: keep trying until closed
        self._on_event = on_event if on_event is not None else (lambda event: None)
        self._lock = threading.RLock()
        self._up = threading.Condition(self._lock)
        self._transport: Transport | None = None
        self._subscriptions: list[SubscriptionSpec] = []
        self._closed = False
        self._fatal: TransportError | None = None
        self._next = 0  # index of the endpoint to try first
        self._takeovers = Takeovers()  # outlives the transports, one a connection

    # -- state ------------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._transport is not None

    @property
    def endpoint(self) -> Endpoint | None:
        transport = self._transport
        return transport.endpoint if transport else None

    @property
    def failure(self) -> TransportError | None:
        """Why reconnecting was given up (auth refused, reconnect_timeout passed), if it was."""
        return self._fatal

    @property
    def transport(self) -> Transport | None:
        """The connected transport (None while reconnecting), for what its protocol can do."""
        return self._transport

    @property
    def server(self) -> str:
        transport = self._transport
        return transport.server if transport else ""

    @property
    def wso2_text_only(self) -> bool:
        """Whether only WSO2 TextMessages may be published here (see `Transport.wso2_text_only`)."""
        transport = self._transport
        return bool(transport and transport.wso2_text_only)

    def _emit(self, event: ConnectionEvent) -> None:
        log.info(event.describe())
        try:
            self._on_event(event)
        except Exception:  # an observer must not break the connection
            log.exception("connection event handler failed")

    # -- connecting -------------------------------------------------------------------------

    def open(self, timeout: float | None = None) -> BrokerConnection:
        """Connect to the first endpoint that answers, retrying with backoff for up to
        `timeout` seconds (None: one pass over the URLs). Raises the last error."""
        deadline = None if timeout is None else time.monotonic() + timeout
        self._connect_loop(deadline=deadline, single_pass=timeout is None, reconnect=False)
        return self

    def _connect_loop(self, *, deadline: float | None, single_pass: bool, reconnect: bool) -> None:
        attempt = 0
        last: Exception | None = None
        while not self._closed:
            for offset in range(len(self.endpoints)):
                index = (self._next + offset) % len(self.endpoints)
                try:
                    self._connect_one(index, reconnect)
                    return
                except FATAL_TRANSPORT_ERRORS as exc:
                    self._fatal = exc
                    self._emit(ConnectionEvent("failed", self.endpoints[index], exc))
                    raise
                except TransportError as exc:
                    last = exc
                    log.debug("connect to %s failed: %s", self.endpoints[index], exc)
            if single_pass and not reconnect:
                break
            delay = self.backoff.delay(attempt)
            attempt += 1
            if deadline is not None and time.monotonic() + delay > deadline:
                break
            self._emit(ConnectionEvent("retrying", self.endpoints[self._next], last, attempt, delay))
            with self._lock:
                self._up.wait_for(lambda: self._closed, timeout=delay)
        if self._closed:
            raise ConnectionFailed("connection closed")
        error = last or ConnectionFailed("no broker reachable")
        if len(self.endpoints) > 1 and isinstance(error, TransportError):
            error = ConnectionFailed(
                f"none of {len(self.endpoints)} broker URLs is reachable; last: {error}", hint=error.hint)
        self._emit(ConnectionEvent("failed", None, error))
        raise error

    def _connect_one(self, index: int, reconnect: bool) -> None:
        endpoint = self.endpoints[index]
        cell: list[Transport] = []
        transport = transport_class(endpoint.scheme)(endpoint, self.options, self._lost_callback(cell),
                                                     takeovers=self._takeovers)
        cell.append(transport)
        transport.connect()
        try:
            states = [_durable_state(transport, spec) for spec in self._subscriptions]
            if not reconnect:  # at a reconnection, this process's own consumer may not be gone yet
                for spec, state in zip(self._subscriptions, states):
                    _refuse_if_consumed(transport, spec, state)
            for spec in self._subscriptions:
                transport.subscribe(spec)
        except Exception:
            transport.close()
            raise
        with self._lock:
            if len(cell) > 1:  # lost again while subscribing: this attempt failed
                lost_error = cell[1]
            else:
                lost_error = None
                self._transport = transport
                self._next = index
                self._up.notify_all()
        if lost_error is not None:
            transport.close()
            raise ConnectionFailed(f"{lost_error}") from None
        for spec, state in zip(self._subscriptions, states):
            if spec.on_attach is not None and spec.durable:
                spec.on_attach(state)
        durable = all(spec.durable for spec in self._subscriptions)
        self._emit(ConnectionEvent("connected", endpoint, durable=durable, reconnect=reconnect))

    def _lost_callback(self, cell: list[Transport]) -> Callable[[Exception], None]:
        def lost(error: Exception) -> None:  # called on a driver thread: hand off at once
            with self._lock:
                if self._closed or not cell:
                    return
                if self._transport is not cell[0]:
                    cell.append(error)  # not installed yet (_connect_one sees it), or replaced
                    return
                endpoint = cell[0].endpoint
                self._transport = None
            self._emit(ConnectionEvent("lost", endpoint, error))
            threading.Thread(target=self._reconnect, daemon=True, name="cachesync-reconnect").start()

        return lost

    def _reconnect(self) -> None:
        deadline = None if self.reconnect_timeout is None else time.monotonic() + self.reconnect_timeout
        try:
            self._connect_loop(deadline=deadline, single_pass=False, reconnect=True)
        except TransportError as exc:
            with self._lock:
                self._fatal = exc
                self._up.notify_all()

    def wait_connected(self, timeout: float | None) -> Transport:
        """The connected transport, waiting up to `timeout` for a reconnection."""
        with self._lock:
            ok = self._up.wait_for(lambda: self._transport or self._closed or self._fatal, timeout)
            if self._transport is not None:
                return self._transport
            if self._fatal is not None:
                raise self._fatal
            if self._closed:
                raise ConnectionFailed("connection closed")
            raise ConnectionFailed(f"not connected to a broker after {timeout:g}s" if not ok
                                   else "not connected")

    # -- using it ---------------------------------------------------------------------------

    def publish(self, topic: str, body: bytes, headers: Mapping[str, str] | None = None, *,
                confirm: bool = False, timeout: float = 10.0) -> None:
        """Publish, riding out a reconnection for up to `timeout` seconds.

        A publish cut off by a lost connection is sent again after reconnecting: delivery
        is at least once, and receivers drop duplicates by message id."""
        deadline = time.monotonic() + timeout
        while True:
            transport = self.wait_connected(max(0.0, deadline - time.monotonic()))
            try:
                transport.publish(topic, body, headers or {}, confirm=confirm,
                                  timeout=max(0.1, deadline - time.monotonic()))
                return
            except FATAL_TRANSPORT_ERRORS:
                raise
            except ConnectionFailed:
                if time.monotonic() >= deadline:
                    raise
                self._drop(transport)

    def publish_async(self, topic: str, body: bytes, headers: Mapping[str, str] | None = None, *,
                      timeout: float = 10.0, on: Transport | None = None) -> Future[None]:
        """Send without waiting for the broker's confirmation (see `Transport.publish_async`),
        waiting up to `timeout` for a connection. Unlike `publish`, a message the broker does
        not confirm is not sent again: the caller holds it until the future is done. With
        `on`, only on that connection (`wait_connected`'s transport): `ConnectionFailed` when
        it was replaced, so that a message never overtakes unconfirmed ones sent before it."""
        transport = self.wait_connected(timeout)
        if on is not None and transport is not on:
            raise ConnectionFailed("the connection was replaced while earlier messages awaited their confirms")
        try:
            return transport.publish_async(topic, body, headers or {}, timeout=timeout)
        except FATAL_TRANSPORT_ERRORS:
            raise
        except ConnectionFailed:
            self._drop(transport)
            raise

    def _drop(self, transport: Transport) -> None:
        """Treat the transport as lost (its driver may not have noticed yet)."""
        with self._lock:
            if self._transport is not transport:
                return
        transport.close()
        transport.connection_lost(ConnectionFailed(f"publishing on {transport.endpoint} failed"))

    def subscribe(self, spec: SubscriptionSpec) -> None:
        """Subscribe now and again after every reconnection."""
        with self._lock:
            self._subscriptions.append(spec)
            transport = self._transport
        if transport is not None:
            transport.subscribe(spec)

    def delete_durable_subscription(self, name: str, topic: str, *, timeout: float = 10.0) -> str:
        """Delete the durable subscription `name` to `topic` and what waits in it (`retire`):
        what was deleted."""
        return self.wait_connected(timeout).delete_durable_subscription(name, topic)

    def queue_state(self, name: str, *, timeout: float = 10.0):
        """Queue `name`'s depth and consumers (`Transport.queue_state`), None where the
        protocol cannot tell."""
        return self.wait_connected(timeout).queue_state(name)

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            transport, self._transport = self._transport, None
            self._up.notify_all()
        if transport is not None:
            transport.close()
        self._emit(ConnectionEvent("closed", transport.endpoint if transport else None))

    def __enter__(self) -> BrokerConnection:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def _durable_state(transport: Transport, spec: SubscriptionSpec) -> DurableState:
    """The broker's word on `spec`'s durable subscription, asked only when someone uses it."""
    if spec.durable and (spec.alone or spec.on_attach is not None):
        return transport.durable_state(spec)
    return DurableState()


def _refuse_if_consumed(transport: Transport, spec: SubscriptionSpec, state: DurableState) -> None:
    """A subscription that must be `alone` already has a consumer: another process with the
    same durable name would share its messages."""
    if not (spec.alone and spec.durable):
        return
    consumers = state.consumers
    if consumers and spec.exact_name:
        raise SubscriptionInUse(
            f"the durable subscription {spec.durable_name!r} on {transport.endpoint} (topic {spec.topic}) already "
            f"has {consumers} consumer(s): another process reads it (an IS node whose subscription has this name, "
            f"or another bridge), and would take part of its messages",
            hint="give this leg a subscription name of its own (subscription = \"cachesync-...\"), or stop the "
                 "other consumer; the broker's management UI lists its connection")
    if consumers:
        raise SubscriptionInUse(
            f"another bridge with cluster id {spec.durable_name!r} is running: the durable subscription of "
            f"{spec.durable_name} on {transport.endpoint} (topic {spec.topic}) already has {consumers} "
            f"consumer(s), which would take part of this bridge's messages (each bridge would see gaps and "
            f"flush every cache)",
            hint=f"stop the other bridge of {spec.durable_name}, or give this one its own [cluster] id; the "
                 f"broker's management UI lists the consumer's connection (\"cachesync cachesync-"
                 f"{spec.durable_name}\"). If it is this bridge's previous run on a host that died, the broker "
                 f"drops it after a missed heartbeat ([broker] heartbeat): start again then")
