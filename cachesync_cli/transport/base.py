"""What every transport is: one connection to one broker endpoint, no retries.

Retries, failover and resubscription live in `connection.BrokerConnection`, which drives a
`Transport` through this small interface. A transport translates its driver's exceptions
into the project's (`ConnectionFailed`, `AuthenticationFailed`, `PermissionDenied`,
`NotConfirmed`) so the code above it never imports a driver.

Threading: a transport may call `deliver` and `on_lost` from its driver's thread. Both
callbacks must be short (put on a queue, set an event); `Delivery.ack()` is thread-safe.
"""

from __future__ import annotations

import abc
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field

from cachesync_cli.transport.endpoint import Endpoint


@dataclass(frozen=True)
class TlsOptions:
    """TLS settings for `amqps://`, `stomp+ssl://`, `mqtts://`. Verification is on by default."""

    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    verify: bool = True

    def ssl_context(self, *, server_hostname: str | None = None):
        """A client `ssl.SSLContext` built from these options."""
        import ssl

        context = ssl.create_default_context(cafile=self.ca_file)
        if not self.verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if self.cert_file:
            context.load_cert_chain(self.cert_file, self.key_file)
        return context


@dataclass(frozen=True)
class ConnectOptions:
    """Everything a transport needs besides the endpoint. Credentials in the URL win."""

    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: TlsOptions = TlsOptions()
    client_id: str | None = None  # STOMP/MQTT client id; needed for durable topic subscriptions
    exchange: str = "amq.topic"  # AMQP only
    heartbeat: int = 10  # seconds; how fast a dead connection is noticed
    connect_timeout: float = 10.0
    prefetch: int = 64  # unacknowledged deliveries a subscription may hold (envelopes reach 1 MiB)


@dataclass
class Delivery:
    """One message received from the broker."""

    body: bytes
    headers: dict[str, str]
    destination: str
    redelivered: bool = False
    #: When the broker took the message, in ms since the epoch, where the protocol says
    #: (STOMP `timestamp` on ActiveMQ); None otherwise. Used by `doctor` to estimate clock skew.
    broker_timestamp: int | None = None
    #: When the bridge took it from the transport (monotonic seconds; 0 until then)
    arrived: float = 0.0
    _settle: Callable[[bool], None] | None = field(default=None, repr=False)
    _settled: bool = field(default=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def needs_ack(self) -> bool:
        return self._settle is not None

    def ack(self) -> None:
        """Tell the broker this message is done with (applied). Safe from any thread; idempotent."""
        self._finish(True)

    def nack(self) -> None:
        """Hand the message back to the broker for redelivery."""
        self._finish(False)

    def _finish(self, ok: bool) -> None:
        with self._lock:
            if self._settled or self._settle is None:
                return
            self._settled = True
        self._settle(ok)


DeliverFn = Callable[[Delivery], None]
LostFn = Callable[[Exception], None]


@dataclass(frozen=True)
class DurableState:
    """What the broker says of a durable subscription just before subscribing to it: whether
    it `exists` and how many `consumers` it has (None where the protocol cannot tell)."""

    exists: bool | None = None
    consumers: int | None = None

    @property
    def recreated(self) -> bool:
        """It did not exist: what was published for it before is gone (a first start too)."""
        return self.exists is False


@dataclass(frozen=True)
class SubscriptionSpec:
    """What to subscribe to. `durable_name` (normally the cluster id) makes it durable."""

    topic: str
    deliver: DeliverFn
    durable_name: str | None = None
    manual_ack: bool = False
    #: durable only: at the first connection, refuse (SubscriptionInUse) when the subscription
    #: already has a consumer, where the transport can tell (`durable_state`)
    alone: bool = False
    #: durable only: the durable name is the broker's own name for the subscription, as a JMS
    #: client names a durable subscriber's (the queue on AMQP, the subscription name on STOMP),
    #: not `cachesync.<name>@<topic>`
    exact_name: bool = False
    #: durable only: called after every (re)subscription with the `DurableState` read just
    #: before it (from the connecting thread; it must only queue or record)
    on_attach: Callable[[DurableState], None] | None = None

    @property
    def durable(self) -> bool:
        return self.durable_name is not None


def durable_client_id(name: str) -> str:
    """The STOMP/MQTT client id of durable subscription `name` (a bridge: its cluster id).
    ActiveMQ keys a durable subscription, and an MQTT broker a persistent session, by it."""
    return f"cachesync-{name}"


class Transport(abc.ABC):
    """One connection to one broker endpoint."""

    #: URL schemes this transport serves, e.g. ("amqp", "amqps").
    schemes: tuple[str, ...] = ()
    #: Whether messages carry headers (MQTT 3.1.1 does not).
    supports_headers: bool = True
    #: Set by a transport whose destination is read by JMS clients that accept only WSO2
    #: TextMessages (AMQP on `jms.durable.topic`): it refuses anything else, so a native
    #: bridge, heartbeats and doctor's probe cannot use it (docs/wire.md §3.2).
    wso2_text_only: bool = False

    def __init__(self, endpoint: Endpoint, options: ConnectOptions, on_lost: LostFn) -> None:
        self.endpoint = endpoint
        self.options = options
        self._on_lost = on_lost
        self.server = ""  # e.g. "RabbitMQ/3.10.8", filled in by connect()

    @abc.abstractmethod
    def connect(self) -> None:
        """Open the connection. Raises ConnectionFailed, AuthenticationFailed."""

    @abc.abstractmethod
    def publish(
        self, topic: str, body: bytes, headers: Mapping[str, str], *, confirm: bool, timeout: float
    ) -> None:
        """Send one message to the topic. With `confirm`, return only once the broker has it
        (publisher confirm, STOMP receipt); raise NotConfirmed when it does not say so in time."""

    def publish_async(self, topic: str, body: bytes, headers: Mapping[str, str], *,
                      timeout: float) -> Future[None]:
        """Send one message without waiting for the broker's confirmation: the future is
        done when the broker has confirmed it (result None) or did not (NotConfirmed,
        ConnectionFailed). Messages from one thread reach the broker in the order sent.

        This default publishes with confirmation before returning a done future; a transport
        whose protocol lets several messages wait for confirmation at once (AMQP) overrides it."""
        future: Future[None] = Future()
        try:
            self.publish(topic, body, headers, confirm=True, timeout=timeout)
        except Exception as exc:  # handed to whoever waits on the future
            future.set_exception(exc)
        else:
            future.set_result(None)
        return future

    @abc.abstractmethod
    def subscribe(self, spec: SubscriptionSpec) -> None:
        """Start delivering the topic's messages to `spec.deliver`."""

    def durable_state(self, spec: SubscriptionSpec) -> DurableState:
        """Whether `spec`'s durable subscription exists and how many consumers it has now,
        where the protocol tells it cheaply (AMQP: a passive declare of its queue); unknown
        (None) where it cannot (STOMP, MQTT: their brokers refuse or take over a second
        client with the same client id, and say nothing of a subscription's existence)."""
        return DurableState()

    # Transports whose broker keeps durable subscriptions also have
    # `delete_durable_subscription(name, topic) -> str`: delete subscription `name`'s durable
    # subscription on `topic`, with what waits in it, and say what was deleted. It opens a
    # connection of its own where the protocol needs the subscription's client id.

    @abc.abstractmethod
    def close(self) -> None:
        """Close the connection; after this, `on_lost` is not called."""

    def connection_lost(self, error: Exception) -> None:
        """Called by the transport itself when the connection dies under it."""
        self._on_lost(error)
