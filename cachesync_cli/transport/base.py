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
import collections
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field

from cachesync_cli.transport.endpoint import Endpoint


@dataclass(frozen=True)
class QueueState:
    """A broker queue as a passive declare reports it (`Transport.queue_state`)."""

    name: str
    exists: bool
    messages: int = 0  # ready to deliver
    consumers: int = 0
    #: exclusive to another connection (e.g. a non-durable JMS subscriber's queue): not readable
    locked: bool = False


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


@dataclass(frozen=True)
class Login:
    """The credentials a transport logs in with (`Transport.login_for`)."""

    username: str | None
    password: str | None = field(default=None, repr=False)


class Takeovers:
    """When each client id lost its session to another client, by broker. A transport is
    made anew for every connection; the `BrokerConnection` that makes them keeps one of
    these, so that a transport can tell it keeps losing the session (MQTT) and stop."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._times: dict[tuple[str, int, str], collections.deque[float]] = {}

    def record(self, key: tuple[str, int, str], window: float) -> int:
        """Count one now; how many there were within the last `window` seconds."""
        with self._lock:
            self._times.setdefault(key, collections.deque(maxlen=64)).append(time.monotonic())
        return self.recent(key, window)

    def recent(self, key: tuple[str, int, str], window: float) -> int:
        now = time.monotonic()
        with self._lock:
            return sum(1 for t in self._times.get(key, ()) if now - t <= window)


def durable_client_id(name: str) -> str:
    """The STOMP/MQTT client id of durable subscription `name` (a bridge: its cluster id).
    ActiveMQ keys a durable subscription, and an MQTT broker a persistent session, by it."""
    return f"cachesync-{name}"


class Transport(abc.ABC):
    """One connection to one broker endpoint.

    A transport makes all its state in `__init__`: `connect()` opens the connection, and
    `close()` may be called before, after or instead of it. Where protocols differ, the
    transport says so in the attributes below, so that callers never ask which one they hold."""

    #: Whether messages carry headers (MQTT 3.1.1 does not).
    supports_headers: bool = True
    #: Set by a transport whose destination is read by JMS clients that accept only WSO2
    #: TextMessages (AMQP on `jms.durable.topic`): it refuses anything else, so a native
    #: bridge, heartbeats and doctor's probe cannot use it (docs/wire.md §3.2).
    wso2_text_only: bool = False
    #: The exchange messages go to, where the protocol has one (AMQP); None elsewhere.
    exchange: str | None = None
    #: Why a `Delivery` comes without `broker_timestamp` (doctor says it when its probe does).
    no_timestamp_reason: str = "the broker sets no timestamp on its messages"
    #: The user name and password to log in with when neither the URL nor the options give
    #: one (AMQP: RabbitMQ's `guest`, as pika does); None: log in without.
    default_login: tuple[str, str] | None = None

    def __init__(self, endpoint: Endpoint, options: ConnectOptions, on_lost: LostFn, *,
                 takeovers: Takeovers | None = None) -> None:
        self.endpoint = endpoint
        self.options = options
        self.login = self.login_for(endpoint, options)
        #: kept by the `BrokerConnection` across the transports it makes (one a connection)
        self.takeovers = takeovers if takeovers is not None else Takeovers()
        self._on_lost = on_lost
        self.server = ""  # e.g. "RabbitMQ/3.10.8", filled in by connect()

    @classmethod
    def login_for(cls, endpoint: Endpoint, options: ConnectOptions) -> Login:
        """The one place credentials are resolved: what the URL says wins, then the options
        ([broker] username, password_env/password_file), then `default_login`."""
        default_user, default_password = cls.default_login or (None, None)
        return Login(
            username=endpoint.username if endpoint.username is not None else (options.username or default_user),
            password=endpoint.password if endpoint.password is not None else (options.password or default_password),
        )

    @abc.abstractmethod
    def connect(self) -> None:
        """Open the connection. Raises ConnectionFailed, AuthenticationFailed."""

    @abc.abstractmethod
    def publish(
        self, topic: str, body: bytes, headers: Mapping[str, str], *, confirm: bool, timeout: float
    ) -> None:
        """Send one message to the topic. With `confirm`, return only once the broker has it
        (AMQP publisher confirm, STOMP receipt, MQTT PUBACK); raise NotConfirmed when it does
        not say so in time. Without, return once the message is handed to the connection, on
        every transport: nothing waits for the broker, and a message lost with the connection
        or refused by the broker goes unnoticed."""

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

    @abc.abstractmethod
    def delete_durable_subscription(self, name: str, topic: str) -> str:
        """Delete subscription `name`'s durable subscription on `topic`, with what waits in
        it, and say what was deleted (for the caller to print). Opens a connection of its own
        where the protocol keys the subscription by client id (STOMP on ActiveMQ, MQTT)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Close the connection; after this, `on_lost` is not called."""

    def connection_lost(self, error: Exception) -> None:
        """Called by the transport itself when the connection dies under it."""
        self._on_lost(error)

    def queue_state(self, name: str) -> QueueState | None:
        """The depth and consumer count of queue `name`, looked at without declaring or taking
        anything (AMQP: a passive declare); None where the protocol cannot tell (STOMP, MQTT)."""
        return None
