"""A Redis pub/sub subscription that survives outages: one daemon thread, reconnect with backoff.

Both Redis sources (a channel, keyspace notifications) run one of these. `start` returns
once subscribed, or once the first attempt failed (Redis down does not stop a bridge from
starting). When Redis goes away the thread logs one warning for the whole outage, retries
with exponential backoff (0.5 s doubling to 10 s: `redis_common.RECONNECT`), runs `on_connect`
again (e.g. to re-enable keyspace events on a restarted Redis) and subscribes again. Pub/sub does not keep messages: what was published
while the subscription was down is lost (an application should not rely on a bridge
being connected at every moment; gap detection between bridges covers the remote side).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from cachesync_cli.local.base import EmitFn, RejectFn, Source, SourceError
from cachesync_cli.local.intake import Intake
from cachesync_cli.local.redis_common import RECONNECT, open_redis, redis_errors, redis_safe_url

log = logging.getLogger("cachesync.local")

POLL_SECONDS = 0.25
START_WAIT = 15.0  # longer than a connect timeout plus a CONFIG and a SUBSCRIBE round trip
CONFIRMATIONS = frozenset({b"subscribe", b"psubscribe", "subscribe", "psubscribe"})
MESSAGES = frozenset({b"message", b"pmessage", "message", "pmessage"})
UNSUBSCRIBED = frozenset({b"unsubscribe", b"punsubscribe", "unsubscribe", "punsubscribe"})
DRAIN_SECONDS = 5.0


def next_message(pubsub, timeout: float) -> dict | None:
    """The next pub/sub message, shaped as redis-py's `get_message` shapes it, read straight
    from the subscription's connection. `get_message` and `parse_response` wrap every read
    in bookkeeping and a retry policy that cost more than the read itself at tens of
    thousands of messages a second; reconnection is this module's job anyway."""
    connection = pubsub.connection
    if connection is None:
        import redis

        raise redis.ConnectionError("the subscription has no connection")
    if not connection.can_read(timeout=timeout):
        return None
    response = connection.read_response(disconnect_on_error=False, push_request=True)
    if response is None:
        return None
    kind = response[0]
    if kind in (b"pmessage", "pmessage"):
        return {"type": kind, "pattern": response[1], "channel": response[2], "data": response[3]}
    return {"type": kind, "channel": response[1], "data": response[2] if len(response) > 2 else None}


def _as_is(response):
    return response


def skip_push_logging(pubsub) -> None:
    """redis-py's hiredis parser hands every pub/sub message to a handler that formats it
    into a debug log line (`str(response)`), logged or not; with pub/sub replies read
    straight from the connection, that handler was a third of the read's cost. Hand
    the message on as it is. (A parser without the hook is left alone.)"""
    parser = getattr(pubsub.connection, "_parser", None)
    if hasattr(parser, "set_pubsub_push_handler"):
        parser.set_pubsub_push_handler(_as_is)


class RedisSubscription:
    """Subscribe with `subscribe(pubsub)`, hand every message dict to `on_message` (in the thread)."""

    def __init__(self, url: str, *, label: str, client_name: str,
                 subscribe: Callable[[Any], None], on_message: Callable[[dict], None],
                 on_connect: Callable[[Any], None] | None = None) -> None:
        self.url = url
        self.label = label
        self.client_name = client_name
        self._subscribe = subscribe
        self._on_message = on_message
        self._on_connect = on_connect
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.client = None
        #: set while subscribed (the server confirmed), cleared during an outage
        self.subscribed = threading.Event()
        self._first_attempt_done = threading.Event()
        self._intake: Intake | None = None
        self._source = label

    def report_to(self, intake: Intake, source: str) -> None:
        """Tell `intake` when the subscription is down, and when it is back (an intake gap:
        what was published meanwhile is lost)."""
        self._intake, self._source = intake, source

    def start(self) -> None:
        """Start the thread; return once subscribed, or once the first attempt failed (the
        thread keeps retrying), so that "started" means "listening" whenever Redis is up."""
        if self._thread is not None:
            raise SourceError(f"{self.label}: already started")
        self.client = open_redis(self.url, what=self.label, error=SourceError, client_name=self.client_name)
        self._thread = threading.Thread(target=self._run, name=f"cachesync-{self.label}", daemon=True)
        self._thread.start()
        self._first_attempt_done.wait(START_WAIT)

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()
        if self.client is not None:
            self.client.close()

    def _run(self) -> None:
        errors = redis_errors()
        failures = 0
        in_outage = False
        outage_since_ms: int | None = None
        pubsub = None
        while not self._stopping.is_set():
            try:
                if pubsub is None:
                    if self._on_connect is not None:
                        self._on_connect(self.client)
                    pubsub = self.client.pubsub()
                    self._subscribe(pubsub)
                    skip_push_logging(pubsub)
                message = next_message(pubsub, POLL_SECONDS)
                if message is None:
                    continue
                if message["type"] in CONFIRMATIONS:
                    self.subscribed.set()
                    self._first_attempt_done.set()
                    if in_outage:
                        log.warning("%s: Redis %s is back, subscribed again", self.label,
                                    redis_safe_url(self.url))
                        if self._intake is not None:
                            self._intake.up(self._source, gap=True, since_ms=outage_since_ms,
                                            detail="pub/sub keeps nothing published while unsubscribed")
                    in_outage, failures = False, 0
                elif message["type"] in MESSAGES:
                    self._on_message(message)
            except errors as exc:
                self.subscribed.clear()
                self._first_attempt_done.set()
                if not in_outage:
                    log.warning("%s: Redis %s unreachable (%s); retrying with backoff", self.label,
                                redis_safe_url(self.url), exc)
                    in_outage, outage_since_ms = True, int(time.time() * 1000)
                    if self._intake is not None:
                        self._intake.down(self._source, f"Redis {redis_safe_url(self.url)} unreachable: {exc}")
                if pubsub is not None:
                    self._close(pubsub)
                    pubsub = None
                self._stopping.wait(RECONNECT.delay(failures))
                failures += 1
            except Exception:  # a bug in a callback must not end the subscription silently
                log.exception("%s: unexpected error handling a message", self.label)
                self._first_attempt_done.set()
                self._stopping.wait(RECONNECT.base)
        if pubsub is not None:
            if self.subscribed.is_set():
                self._drain(pubsub, errors)
            self._close(pubsub)
        self.subscribed.clear()

    def _drain(self, pubsub, errors) -> None:
        """Unsubscribe, and hand on what Redis sent before confirming it: a message Redis
        already counted as delivered (PUBLISH returned 1) is not lost on a clean stop."""
        try:
            pubsub.unsubscribe()
            pubsub.punsubscribe()
            deadline = time.monotonic() + DRAIN_SECONDS
            while time.monotonic() < deadline:
                message = next_message(pubsub, POLL_SECONDS)
                if message is None:
                    continue
                if message["type"] in MESSAGES:
                    self._on_message(message)
                elif message["type"] in UNSUBSCRIBED and not message["data"]:
                    return  # no subscriptions left: everything before this was delivered
        except errors as exc:
            log.warning("%s: Redis went away while stopping (%s)", self.label, exc)

    @staticmethod
    def _close(pubsub) -> None:
        try:
            pubsub.close()
        except Exception:  # closing a broken connection may fail too; nothing to do
            pass


class SubscribedSource(Source):
    """A source fed by one `RedisSubscription` (`self.subscription`, on `self.url`): starting,
    stopping and checking are the subscription's; subclasses turn messages into invalidations."""

    url: str
    subscription: RedisSubscription

    def start(self, emit: EmitFn, reject: RejectFn) -> None:
        self._emit, self._reject = emit, reject
        self.subscription.report_to(self.context.intake, self.name)
        self.subscription.start()

    def stop(self) -> None:
        self.subscription.stop()

    def check(self) -> None:
        client = open_redis(self.url, what=self.describe(), error=SourceError)
        try:
            client.ping()
        except redis_errors() as exc:
            raise SourceError(f"{self.describe()}: Redis {redis_safe_url(self.url)} unreachable: {exc}") from None
        finally:
            client.close()
