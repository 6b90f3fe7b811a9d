"""`mqtt://` and `mqtts://`: MQTT 5 or 3.1.1 with paho-mqtt (Mosquitto, EMQX, HiveMQ, IBM MQ's
MQ Telemetry, the MQTT plugins of RabbitMQ and ActiveMQ).

A topic is written with `/` for `.` (`cachesync.dc` is `cachesync/dc`), which RabbitMQ maps back,
so its AMQP, STOMP and MQTT clients see each other's messages (WIRE.md §1). Everything is QoS 1.
A durable subscription is a persistent session: the connection's fixed client id
(`cachesync-<cluster>`) with clean session off (3.1.1) or clean start off and a session expiry
(5); a transient one (`tail`) is a random client id with a clean session.

`?version=5|3.1.1|auto` (default auto: 5, then 3.1.1 when the broker hangs up on a version 5
CONNECT). Only MQTT 5 carries headers (content type, user properties): `supports_headers`
says which one was agreed. Messages are acknowledged (PUBACK) only when `Delivery.ack()` is
called; `nack()` leaves a message unacknowledged, and the broker sends it again when the
session reconnects: MQTT has no negative acknowledgement.

Two clients with one client id take the session from each other. The broker may say so to
an MQTT 5 client (DISCONNECT reason 0x8E); otherwise the client only sees its connection
closed within `SHORT_LIVED` seconds of making it. Each time is logged as an error naming
the client id and counted in `Transport.takeovers` (kept by the `BrokerConnection` across
its transports), and after `TAKEOVER_LIMIT` times within `TAKEOVER_WINDOW` seconds the next
`connect()` raises `ClientIdInUse` instead of connecting: reconnecting stops, and the other
client keeps the session.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
import uuid
from collections.abc import Mapping

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from cachesync_cli.errors import (
    AuthenticationFailed,
    ClientIdInUse,
    ConnectionFailed,
    NotConfirmed,
    PermissionDenied,
    UsageError,
)
from cachesync_cli.transport.base import Delivery, SubscriptionSpec, Transport
from cachesync_cli.transport.probe import probe_budget, wrong_protocol

log = logging.getLogger("cachesync.transport")

VERSIONS = {"5": paho.MQTTv5, "3.1.1": paho.MQTTv311}
SESSION_EXPIRY = 7 * 24 * 3600  # seconds an MQTT 5 broker keeps a bridge's session while it is away
TAKEOVER_LIMIT = 3
TAKEOVER_WINDOW = 60.0  # seconds
SHORT_LIVED = 5.0  # a 3.1.1 connection the broker closes this soon is counted as taken over
#: A resumed session's messages arrive right after CONNACK, before `subscribe()` has named
#: where they go: they are held this long (seconds after connecting) for their subscription.
HOLD_UNCLAIMED = 10.0

# CONNACK reason codes (MQTT 5; paho maps 3.1.1 return codes 1-5 onto them).
_UNSUPPORTED_VERSION = 0x84
_BAD_CREDENTIALS = (0x86, 0x8C)  # bad user name or password, bad authentication method
_NOT_AUTHORIZED = 0x87
_CLIENT_ID_REJECTED = 0x85
_SESSION_TAKEN_OVER = 0x8E  # DISCONNECT
_KEEPALIVE_TIMEOUT = 0x8D  # DISCONNECT (paho's own, when PINGRESPs stop)


def mqtt_topic(topic: str) -> str:
    """The MQTT topic of a cachesync topic: `.` written as `/` (WIRE.md §1)."""
    return topic.replace(".", "/")


def cachesync_topic(mqtt_name: str) -> str:
    return mqtt_name.replace("/", ".")


class _VersionRefused(Exception):
    """The broker hung up on (or refused) the protocol version: try the next one."""


class MqttTransport(Transport):
    supports_headers = False  # until an MQTT 5 connection says otherwise
    no_timestamp_reason = "MQTT messages carry no broker timestamp"

    def __init__(self, endpoint, options, on_lost, **kwargs) -> None:
        super().__init__(endpoint, options, on_lost, **kwargs)
        #: connect with the client id and a clean session, which ends the broker's session
        self.ending_session = False
        self.version = ""  # agreed by connect(): "5" or "3.1.1"
        self.persistent = False
        self.client_id = options.client_id or f"cachesync-{uuid.uuid4().hex[:16]}"
        self._takeover_key = (endpoint.host, endpoint.port, self.client_id)
        self._client: paho.Client | None = None
        self._connack = threading.Event()
        self._connack_reason: int | None = None
        self._connected_at = 0.0
        self._closing = False
        self._lost = False
        self._subscribed: dict[int, threading.Event] = {}
        self._suback: dict[int, list[int]] = {}
        self._pub_failures: dict[int, str] = {}
        self._specs: dict[str, SubscriptionSpec] = {}
        self._held: list[paho.MQTTMessage] = []  # arrived before their subscribe()
        self._specs_lock = threading.Lock()

    def connect(self) -> None:
        wanted = self.endpoint.param("version", "auto")
        if wanted not in ("auto", *VERSIONS):
            raise UsageError(f"{self.endpoint}: unknown MQTT version {wanted!r}",
                             hint="use ?version=5, ?version=3.1.1 or leave it out (auto)")
        versions = ["5", "3.1.1"] if wanted == "auto" else [wanted]
        client_id = self.options.client_id
        recent = self.takeovers.recent(self._takeover_key, TAKEOVER_WINDOW)
        if client_id and recent >= TAKEOVER_LIMIT:
            # Connecting would take the session back from the other client, which would take
            # it back again: stop here, and let the other one keep it.
            raise ClientIdInUse(
                f"{self.endpoint}: another client keeps connecting with client id {client_id!r} "
                f"(the session was taken over {recent} times within {TAKEOVER_WINDOW:g}s)",
                hint="run one bridge per cluster: two processes with the same cluster id use one "
                     "MQTT client id and take the session from each other")
        deadline = time.monotonic() + self.options.connect_timeout  # for every version tried
        for n, version in enumerate(versions):
            try:
                self._connect(version, deadline)
                break
            except _VersionRefused as exc:
                if n == len(versions) - 1:
                    error = ConnectionFailed(f"{self.endpoint} refused MQTT {version}: {exc}")
                    raise self._wrong_protocol(False) or error from None
                log.debug("%s does not speak MQTT %s (%s); trying %s", self.endpoint, version, exc,
                          versions[n + 1])

    def _wrong_protocol(self, tls_failed: bool):
        """What the port speaks instead, when that explains a failed handshake (probe.py)."""
        if self.endpoint.tls and not tls_failed:
            return None  # TLS worked: asking the port without TLS would only find TLS
        return wrong_protocol(self.endpoint, probe_budget(self.options.connect_timeout), tls_failed=tls_failed)

    def _connect(self, version: str, deadline: float) -> None:
        ep, opts = self.endpoint, self.options
        self.version = version
        self.persistent = opts.client_id is not None and not self.ending_session
        # this attempt's own: one with another version may have come before it
        self._connack = threading.Event()
        self._connack_reason = None
        self._closing = False
        v5 = version == "5"
        client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            clean_session=None if v5 else not self.persistent,
            protocol=VERSIONS[version],
            reconnect_on_failure=False,  # BrokerConnection reconnects
            manual_ack=True,  # PUBACK only when a Delivery is acked
        )
        client.connect_timeout = max(0.05, deadline - time.monotonic())
        client.max_queued_messages_set(0)
        if self.login.username is not None:
            client.username_pw_set(self.login.username, self.login.password)
        if ep.tls:
            client.tls_set_context(opts.tls.ssl_context())
            if not opts.tls.verify:
                client.tls_insecure_set(True)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        client.on_publish = self._on_publish
        self._client = client
        properties = None
        if v5:
            properties = Properties(PacketTypes.CONNECT)
            properties.SessionExpiryInterval = SESSION_EXPIRY if self.persistent else 0
            properties.ReceiveMaximum = max(1, min(opts.prefetch, 65535))
        try:
            if v5:
                client.connect(ep.host, ep.port, keepalive=max(1, opts.heartbeat),
                               clean_start=not self.persistent, properties=properties)
            else:
                client.connect(ep.host, ep.port, keepalive=max(1, opts.heartbeat))
        except ssl.SSLError as exc:
            error = ConnectionFailed(f"cannot connect to {ep}: TLS handshake failed ({exc})",
                                     hint="check [broker.tls] ca_file and the broker's certificate")
            if isinstance(exc, ssl.SSLCertVerificationError):
                raise error from None
            raise self._wrong_protocol(True) or error from None
        except (OSError, ValueError) as exc:
            error = ConnectionFailed(f"cannot connect to {ep}: {_os_error(exc)}")
            if ep.tls and not isinstance(exc, ConnectionRefusedError):  # TCP worked, TLS did not
                raise self._wrong_protocol(True) or error from None
            raise error from None
        client.loop_start()
        if not self._connack.wait(max(0.05, deadline - time.monotonic())):
            self._stop()
            error = ConnectionFailed(f"cannot connect to {ep}: no MQTT CONNACK within {opts.connect_timeout:g}s")
            raise self._wrong_protocol(False) or error
        reason = self._connack_reason
        if reason == 0:
            self.server = f"MQTT/{'5.0' if v5 else '3.1.1'}"
            self.supports_headers = v5
            if self.persistent:
                timer = threading.Timer(HOLD_UNCLAIMED, self._release_held)
                timer.daemon = True
                timer.start()
            return
        self._stop()
        if reason is None or reason == _UNSUPPORTED_VERSION:
            raise _VersionRefused("the broker closed the connection" if reason is None
                                  else "unsupported protocol version")
        raise self._refused(reason)

    def _refused(self, reason: int):
        ep, user = self.endpoint, self.login.username
        name = _reason_name(PacketTypes.CONNACK, reason)
        if reason in _BAD_CREDENTIALS:
            return AuthenticationFailed(
                f"{ep} refused user {user!r}: {name}",
                hint="check the credentials (URL, [broker] username, password_env/password_file)")
        if reason == _NOT_AUTHORIZED:
            return AuthenticationFailed(f"{ep} refused user {user!r}: not authorized",
                                        hint="check the credentials and that the user may connect over MQTT")
        if reason == _CLIENT_ID_REJECTED:
            return ConnectionFailed(f"{ep} rejected client id {self.client_id!r}",
                                    hint="some brokers (IBM MQ) limit client ids to 23 characters")
        return ConnectionFailed(f"{ep} refused the connection: {name}")

    # -- paho callbacks (paho's network thread): short, hand off -------------------------

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        self._connack_reason = reason_code.value
        if reason_code.value == 0:
            self._connected_at = time.monotonic()
        self._connack.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        for event in list(self._subscribed.values()):
            event.set()  # wake a waiting subscribe(); it sees the connection is gone
        if not self._connack.is_set():
            self._connack.set()  # closed before CONNACK: connect() reads None
            return
        if self._closing or self._lost or self._connack_reason != 0:
            return
        self._lost = True
        code = reason_code.value if reason_code is not None else 0
        lived = time.monotonic() - self._connected_at
        if code == _SESSION_TAKEN_OVER:
            count = self.takeovers.record(self._takeover_key, TAKEOVER_WINDOW)
            log.error("%s: another client connected with client id %r and took the session over "
                      "(%d time(s) within %gs): two bridges of one cluster?",
                      self.endpoint, self.client_id, count, TAKEOVER_WINDOW)
            why = f"client id {self.client_id!r} taken over by another connection"
        elif self.persistent and lived < SHORT_LIVED and not flags.is_disconnect_packet_from_server \
                and code != _KEEPALIVE_TIMEOUT:
            # MQTT 3.1.1 gives no reason, and brokers (Mosquitto) may just close the socket of
            # an MQTT 5 client too: a session closed this soon was probably taken over.
            count = self.takeovers.record(self._takeover_key, TAKEOVER_WINDOW)
            log.error("%s closed the connection of client id %r %.1fs after it was made (%d time(s) "
                      "within %gs): is another client using the same client id?",
                      self.endpoint, self.client_id, lived, count, TAKEOVER_WINDOW)
            why = f"closed {lived:.1f}s after connecting (client id {self.client_id!r} in use elsewhere?)"
        elif flags.is_disconnect_packet_from_server:
            why = f"the broker disconnected: {_reason_name(PacketTypes.DISCONNECT, code)}"
        else:
            why = ("the broker stopped answering (keep-alive)" if code == _KEEPALIVE_TIMEOUT
                   else "the connection was closed")
        self.connection_lost(ConnectionFailed(f"{self.endpoint}: {why}"))

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        self._suback[mid] = [code.value for code in reason_codes]
        event = self._subscribed.get(mid)
        if event is not None:
            event.set()

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        if reason_code is not None and reason_code.is_failure:
            self._pub_failures[mid] = reason_code.getName()

    def _on_message(self, client, userdata, message) -> None:
        with self._specs_lock:
            spec = self._specs.get(message.topic)
            if spec is None:
                if time.monotonic() - self._connected_at < HOLD_UNCLAIMED:
                    self._held.append(message)  # subscribe() hands it on
                    return
                stale, self._held = self._held + [message], []
        if spec is None:
            self._drop_unclaimed(stale)
            return
        self._hand_on(spec, message)

    def _release_held(self) -> None:
        """`HOLD_UNCLAIMED` seconds after connecting: what no subscription claimed is dropped."""
        with self._specs_lock:
            stale, self._held = self._held, []
        self._drop_unclaimed(stale)

    def _drop_unclaimed(self, messages: list) -> None:
        """Messages for topics nothing subscribes to now: a persistent session keeps the
        subscriptions of earlier runs on other topics. Acknowledge (drop) them, and end
        those subscriptions, so that the session stops queueing that topic's messages."""
        topics = []
        for message in messages:
            log.debug("%s: dropping a message for %s, which nothing subscribes to now",
                      self.endpoint, message.topic)
            if message.qos and not self._closing:
                self._client.ack(message.mid, message.qos)
            if message.topic not in topics:
                topics.append(message.topic)
        for topic in topics:
            with self._specs_lock:
                if topic in self._specs or self._closing:
                    continue
            log.info("%s: client id %r was still subscribed to %s (an earlier run on another topic); "
                     "unsubscribing", self.endpoint, self.client_id, topic)
            self._client.unsubscribe(topic)

    def _hand_on(self, spec: SubscriptionSpec, message) -> None:
        settle = None
        if message.qos:
            if spec.manual_ack:
                settle = self._settler(message.mid, message.qos)
            else:
                self._client.ack(message.mid, message.qos)
        spec.deliver(Delivery(
            body=message.payload,
            headers=_headers(message.properties) if self.version == "5" else {},
            destination=cachesync_topic(message.topic),
            redelivered=bool(message.dup),
            _settle=settle,
        ))

    def _settler(self, mid: int, qos: int):
        client = self._client

        def settle(ok: bool) -> None:
            # No negative acknowledgement in MQTT: an unacknowledged message comes again when
            # the session reconnects.
            if ok and not self._lost and not self._closing:
                client.ack(mid, qos)

        return settle

    # -- Transport ------------------------------------------------------------------------

    def publish(self, topic: str, body: bytes, headers: Mapping[str, str], *, confirm: bool,
                timeout: float) -> None:
        properties = None
        if self.version == "5" and headers:
            properties = Properties(PacketTypes.PUBLISH)
            if "content-type" in headers:
                properties.ContentType = headers["content-type"]
            user = [(k, str(v)) for k, v in headers.items() if k != "content-type"]
            if user:
                properties.UserProperty = user
        if self._lost or self._closing:
            raise ConnectionFailed(f"cannot publish to {self.endpoint}: not connected")
        info = self._client.publish(mqtt_topic(topic), body, qos=1, properties=properties)
        if info.rc == paho.MQTT_ERR_NO_CONN:
            raise ConnectionFailed(f"cannot publish to {self.endpoint}: not connected")
        if info.rc not in (paho.MQTT_ERR_SUCCESS, paho.MQTT_ERR_AGAIN):
            raise ConnectionFailed(f"cannot publish to {self.endpoint}: {paho.error_string(info.rc)}")
        if not confirm:
            return
        deadline = time.monotonic() + timeout
        while not info.is_published() and not self._lost and time.monotonic() < deadline:
            try:
                info.wait_for_publish(min(0.2, max(0.01, deadline - time.monotonic())))
            except (RuntimeError, ValueError) as exc:
                raise ConnectionFailed(f"cannot publish to {self.endpoint}: {exc}") from None
        failure = self._pub_failures.pop(info.mid, None)
        if failure is not None:
            if "authori" in failure.lower():
                raise PermissionDenied(f"{self.endpoint} refused to publish to {mqtt_topic(topic)}: {failure}")
            raise NotConfirmed(f"{self.endpoint} refused the message: {failure}")
        if info.is_published():
            return
        if self._lost:
            raise ConnectionFailed(f"{self.endpoint}: connection lost before the PUBACK came")
        raise NotConfirmed(f"{self.endpoint} sent no PUBACK within {timeout:g}s")

    def subscribe(self, spec: SubscriptionSpec) -> None:
        if spec.durable and not self.persistent:
            raise PermissionDenied("a durable MQTT subscription needs a fixed client id",
                                   hint="open the connection with a client_id (a bridge uses cachesync-<cluster>)")
        name = mqtt_topic(spec.topic)
        with self._specs_lock:
            self._specs[name] = spec
            held = [m for m in self._held if m.topic == name]
            self._held = [m for m in self._held if m.topic != name]
            for message in held:  # a resumed session's messages, before any newer one
                self._hand_on(spec, message)
        if self.version == "5":
            result, mid = self._client.subscribe(name, options=SubscribeOptions(qos=1))
        else:
            result, mid = self._client.subscribe(name, qos=1)
        if result != paho.MQTT_ERR_SUCCESS or mid is None:
            raise ConnectionFailed(f"cannot subscribe on {self.endpoint}: {paho.error_string(result)}")
        self._subscribed[mid] = event = self._subscribed.get(mid) or threading.Event()
        if mid in self._suback:  # the SUBACK beat us to it
            event.set()
        got = event.wait(self.options.connect_timeout)
        self._subscribed.pop(mid, None)
        codes = self._suback.pop(mid, None)
        if codes is None:
            raise ConnectionFailed(f"{self.endpoint} did not confirm the subscription to {name}"
                                   + (" (connection lost)" if self._lost or not got else ""))
        if any(code >= 0x80 for code in codes):
            raise PermissionDenied(
                f"{self.endpoint} refused the subscription to {name}: "
                f"{_reason_name(PacketTypes.SUBACK, codes[0])}",
                hint="allow the user to read the topic (broker ACL / authorization)")

    def delete_durable_subscription(self, name: str, topic: str) -> str:
        """End the persistent session of subscription `name` (client id `cachesync-<name>`),
        with its subscriptions, every topic's (`topic` is not needed: the session is the
        subscription), and the messages queued in it: connecting with that client id and a
        clean session makes the broker discard it. Do this only when no bridge uses the client
        id: the broker would take the session from it."""
        import dataclasses

        from cachesync_cli.transport.base import durable_client_id

        client_id = durable_client_id(name)
        other = MqttTransport(self.endpoint, dataclasses.replace(self.options, client_id=client_id),
                              lambda error: None)
        other.ending_session = True
        other.connect()
        try:
            # A round trip before hanging up: ActiveMQ removes the session's durable
            # subscriptions after CONNACK, and not at all if the client is gone by then.
            other.subscribe(SubscriptionSpec(topic, lambda delivery: None))
        finally:
            other.close()
        return f"the persistent session of client id {client_id} (its subscriptions and queued messages)"

    def close(self) -> None:
        if self._closing or self._client is None:
            return
        self._stop()

    def _stop(self) -> None:
        self._closing = True
        if self._client is None:
            return
        try:
            self._client.disconnect()
        except Exception:
            pass
        try:
            self._client.loop_stop()
        except Exception:
            pass


def _os_error(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc) or "connection refused or timed out"


def _headers(properties) -> dict[str, str]:
    if properties is None:
        return {}
    headers = {str(k): str(v) for k, v in getattr(properties, "UserProperty", None) or ()}
    content_type = getattr(properties, "ContentType", None)
    if content_type:
        headers["content-type"] = content_type
    return headers


def _reason_name(packet_type: int, code: int) -> str:
    from paho.mqtt.reasoncodes import ReasonCode

    try:
        return f"{ReasonCode(packet_type, identifier=code).getName()} (0x{code:02X})"
    except Exception:
        return f"reason 0x{code:02X}"
