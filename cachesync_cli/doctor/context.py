"""What the checks of one `doctor` run share: settings, the config, and resources opened lazily.

A resource (the broker connection, the transient subscription, the published probe) is
opened by the first check that needs it and remembered, error included, so that `--only
roundtrip` works on its own and a later check does not retry what an earlier one saw fail.
"""

from __future__ import annotations

import dataclasses
import json
import queue
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from cachesync_cli.doctor.model import Thresholds
from cachesync_cli.transport.base import Delivery

T = TypeVar("T")

#: The reserved cache name of the `--peers` ack probe: no application has a cache of this name.
DOCTOR_CACHE = "__cachesync_doctor__"


@dataclass(frozen=True)
class Settings:
    """The command line of one run, minus output options."""

    config_path: Path | None = None
    brokers: tuple[str, ...] = ()
    topic: str | None = None
    timeout: float = 5.0
    thresholds: Thresholds = Thresholds()
    peers: bool = False
    peers_window: float = 12.0
    context: str | None = None  # the root command's --context


@dataclass(frozen=True)
class Received:
    """One delivery on the doctor's subscription, with when it arrived."""

    delivery: Delivery
    monotonic: float
    wall_ms: int

    def json(self) -> dict[str, Any] | None:
        try:
            value = json.loads(self.delivery.body)
        except (ValueError, UnicodeDecodeError):
            return None
        return value if isinstance(value, dict) else None


@dataclass
class Probe:
    """The doctor's heartbeat-type probe as published."""

    envelope: Any  # wire.Envelope, signed when signing is on
    sent_monotonic: float
    sent_wall_ms: int
    published_ms: float  # how long the confirmed publish took


class Inbox:
    """Everything the doctor's subscription receives, kept for every check to look through."""

    def __init__(self) -> None:
        self._queue: queue.Queue[Received] = queue.Queue()
        self._seen: list[Received] = []
        self._lock = threading.Lock()

    def put(self, delivery: Delivery) -> None:  # the driver's thread: short
        self._queue.put(Received(delivery, time.monotonic(), int(time.time() * 1000)))

    def wait_for(self, match: Callable[[Received], bool], timeout: float) -> Received | None:
        """The first message (seen already or arriving within `timeout`) that matches."""
        deadline = time.monotonic() + timeout
        with self._lock:
            for received in self._seen:
                if match(received):
                    return received
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            try:
                received = self._queue.get(timeout=remaining)
            except queue.Empty:
                return None
            with self._lock:
                self._seen.append(received)
            if match(received):
                return received

    def drain_until(self, deadline: float) -> list[Received]:
        """Collect until the monotonic `deadline`; everything seen so far."""
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                received = self._queue.get(timeout=remaining)
            except queue.Empty:
                break
            with self._lock:
                self._seen.append(received)
        with self._lock:
            return list(self._seen)


@dataclass
class DoctorContext:
    settings: Settings
    config: Any = None  # config.Config once the `config` check loaded it
    config_error: Exception | None = None
    node_suffix: str = field(default_factory=lambda: secrets.token_hex(3))
    _cache: dict[str, tuple[Any, BaseException | None]] = field(default_factory=dict)
    _closers: list[Callable[[], None]] = field(default_factory=list)

    def once(self, name: str, make: Callable[[], T]) -> T:
        """`make()` the first time, its remembered result (or exception) afterwards."""
        if name not in self._cache:
            try:
                self._cache[name] = (make(), None)
            except Exception as exc:
                self._cache[name] = (None, exc)
        value, error = self._cache[name]
        if error is not None:
            raise error
        return value

    def on_close(self, fn: Callable[[], None]) -> None:
        self._closers.append(fn)

    def close(self) -> None:
        for fn in reversed(self._closers):
            try:
                fn()
            except Exception:
                pass
        self._closers.clear()

    # -- configuration ------------------------------------------------------------------------

    def load_config(self):
        from cachesync_cli.config import load_for_command

        def make():
            s = self.settings
            return load_for_command(s.config_path, list(s.brokers) or None, s.topic, context=s.context)

        return self.once("config", make)

    @property
    def cfg(self):
        return self.load_config()

    def connect_options(self):
        from cachesync_cli.config.resolve import connect_options

        def make():
            options = connect_options(self.cfg)
            timeout = min(options.connect_timeout, self.settings.timeout)
            return dataclasses.replace(options, connect_timeout=timeout)

        return self.once("connect_options", make)

    def keyring(self):
        """The configured Keyring, or None when signing is off."""
        from cachesync_cli.config.resolve import keyring

        return self.once("keyring", lambda: keyring(self.cfg))

    def endpoints(self):
        from cachesync_cli.transport.endpoint import parse_endpoint

        return self.once("endpoints", lambda: [parse_endpoint(url) for url in self.cfg["broker.url"]])

    def cluster(self) -> str:
        from cachesync_cli.config.resolve import cluster_id

        return cluster_id(self.cfg)

    @property
    def node(self) -> str:
        return f"{self.cluster()}/doctor-{self.node_suffix}"

    # -- the broker ---------------------------------------------------------------------------

    def broker(self):
        """A BrokerConnection open on the first reachable URL (one pass, no retries)."""
        from cachesync_cli.transport.backoff import Backoff
        from cachesync_cli.transport.connection import BrokerConnection

        def make():
            connection = BrokerConnection(self.cfg.broker_urls(), self.connect_options(), backoff=Backoff(cap=1.0),
                                          reconnect_timeout=self.settings.timeout)
            started = time.monotonic()
            connection.open(timeout=None)
            self.on_close(connection.close)
            return connection, (time.monotonic() - started) * 1000

        return self.once("broker", make)

    def subscription(self) -> Inbox:
        """A transient subscription to the topic (never durable: doctor takes nothing away)."""
        from cachesync_cli.transport.base import SubscriptionSpec

        def make():
            connection, _ = self.broker()
            inbox = Inbox()
            connection.subscribe(SubscriptionSpec(self.cfg["broker.topic"], inbox.put))
            return inbox

        return self.once("subscription", make)

    def publisher(self):
        from cachesync_cli.publisher import Publisher

        def make():
            return Publisher(self.cfg["broker.topic"], origin=self.cluster(), node=self.node,
                             keyring=self.keyring())

        return self.once("publisher", make)

    def probe(self) -> Probe:
        """Publish the probe: a heartbeat-type envelope from the doctor's own node id, with
        `applied: {}` (bridges treat it as harmless), confirmed by the broker."""
        from cachesync_cli.wire import HEARTBEAT

        def make():
            connection, _ = self.broker()
            try:
                self.subscription()  # subscribed before publishing, or the probe is missed
            except Exception:
                pass  # reported by the permissions check; publishing is still worth trying
            publisher = self.publisher()
            message = publisher.envelope_message(publisher.build((), type=HEARTBEAT, applied={}))
            sent, wall = time.monotonic(), int(time.time() * 1000)
            publisher.publish(connection, message, confirm=True, timeout=self.settings.timeout)
            return Probe(message.envelope, sent, wall, (time.monotonic() - sent) * 1000)

        return self.once("probe", make)

    def probe_delivery(self) -> Received | None:
        """The probe as received on the subscription, or None if it did not come in time."""

        def make():
            probe = self.probe()
            inbox = self.subscription()
            probe_id = probe.envelope.id
            return inbox.wait_for(lambda r: (r.json() or {}).get("id") == probe_id, self.settings.timeout)

        return self.once("probe_delivery", make)
