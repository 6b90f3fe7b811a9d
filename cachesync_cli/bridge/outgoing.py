"""Outgoing: this cluster's invalidations, published to the topic.

One thread owns publishing. Sources only queue `LocalMessage`s. The thread takes the first
message as soon as it arrives, plus whatever else is already queued, coalesces them
(duplicates merged, `all` absorbs a cache's keys), and publishes: nothing waits when the
bridge is idle, and under load each publish carries everything that queued up during the
previous one. Envelopes are numbered by the `Publisher` and signed when a key is set.

While the broker is unreachable, batches go to the SQLite `Spool` and are sent, oldest
first, once it is back; new batches go behind them so the order holds. Heartbeats (every
`heartbeat_interval`) carry this node's sequence and what it applied per origin.
"""

from __future__ import annotations

import logging
import math
import queue
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from cachesync_cli.bridge.coalesce import Coalescer
from cachesync_cli.bridge.rules import SyncRules
from cachesync_cli.bridge.spool import Spool
from cachesync_cli.bridge.stats import BridgeStats
from cachesync_cli.errors import FATAL_TRANSPORT_ERRORS, CachesyncError, TransportError
from cachesync_cli.publisher import PreparedMessage, Publisher
from cachesync_cli.transport.connection import BrokerConnection
from cachesync_cli.wire import ACK, HEARTBEAT, INVALIDATE
from cachesync_cli.wire.local import LocalMessage

log = logging.getLogger("cachesync.bridge.outgoing")



@dataclass(frozen=True)
class AckRequest:
    """Queued by the incoming thread: publish an `ack` of this message id."""

    ack_of: str


MAX_DRAIN = 10_000  # local messages merged into one round at most
PUBLISH_WAIT = 3.0  # seconds a publish waits for a reconnection before its batch is spooled


class Outgoing:
    def __init__(
        self,
        *,
        connection: BrokerConnection,
        publisher: Publisher,
        spool: Spool,
        rules: SyncRules,
        stats: BridgeStats,
        heartbeat_interval: float,
        applied: Callable[[], dict[str, int]],
        heartbeats: bool = True,
    ) -> None:
        self.connection = connection
        self.publisher = publisher
        self.spool = spool
        self.rules = rules
        self.stats = stats
        self.heartbeat_interval = heartbeat_interval
        self.applied = applied
        self.heartbeats = heartbeats
        # SimpleQueue: put and get run in C (queue.Queue's are Python, with a Condition)
        self.queue: queue.SimpleQueue[LocalMessage | AckRequest] = queue.SimpleQueue()
        self.fatal: CachesyncError | None = None  # why publishing stopped, if it did
        self._resend: deque[tuple[int | None, PreparedMessage]] = deque()  # numbered, not yet confirmed
        self._stop = threading.Event()
        # Without heartbeats (wso2 codec) the next one is never due, and the loop still sleeps.
        self._next_heartbeat = time.monotonic() if heartbeats else math.inf
        self._thread = threading.Thread(target=self._run, daemon=True, name="cachesync-outgoing")

    # -- lifecycle ----------------------------------------------------------------------------

    def submit(self, message: LocalMessage) -> None:
        """A source's callback: queue and return."""
        self.stats.inc("local_received")
        self.queue.put(message)

    def request_ack(self, message_id: str) -> None:
        """Publish an `ack` of `message_id` (applied here) with the next round."""
        self.queue.put(AckRequest(message_id))

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 15.0) -> None:
        """Publish (or spool) everything queued, then stop."""
        self._stop.set()
        if self._thread.is_alive():  # never started when the bridge failed to connect
            self._thread.join(timeout)

    def _run(self) -> None:
        try:
            while True:
                stopping = self._stop.is_set()
                wait = 0.0 if stopping else max(0.0, min(0.5, self._next_heartbeat - time.monotonic()))
                coalescer, acks = self._gather(wait)
                if coalescer:
                    self._send_or_spool(coalescer)
                self._send_acks(acks)
                self._drain_spool()
                if stopping and self.queue.empty():
                    return
                self._heartbeat_if_due()
        except FATAL_TRANSPORT_ERRORS as exc:
            self.fatal = exc
            log.error("stopped publishing: %s", exc)
        except Exception as exc:  # a bug: stop the bridge visibly rather than publish nothing
            log.exception("stopped publishing: unexpected error")
            self.fatal = CachesyncError(f"the publishing thread failed: {exc!r}",
                                        hint="this is a bug in cachesync; the traceback is in the log")

    # -- one round ----------------------------------------------------------------------------

    def _gather(self, wait: float) -> tuple[Coalescer, list[str]]:
        """The first queued message (waiting up to `wait`) and all queued behind it."""
        coalescer, acks = Coalescer(), []
        try:
            first = self.queue.get(timeout=wait) if wait > 0 else self.queue.get_nowait()
        except queue.Empty:
            return coalescer, acks
        self._add(coalescer, acks, first)
        for _ in range(MAX_DRAIN):
            try:
                self._add(coalescer, acks, self.queue.get_nowait())
            except queue.Empty:
                break
        return coalescer, acks

    def _add(self, coalescer: Coalescer, acks: list[str], message: LocalMessage | AckRequest) -> None:
        if isinstance(message, AckRequest):
            acks.append(message.ack_of)
            return
        kept, dropped = self.rules.filter(message.items, message.tenant)
        if dropped:
            self.stats.inc("local_filtered", dropped)
        if kept:
            coalescer.add(kept, message.tenant)

    def _send_or_spool(self, coalescer: Coalescer) -> None:
        for tenant, items in coalescer.batches():
            if self._backlog() or not self.connection.connected:
                self._spool(tenant, items)
                continue
            messages = list(self.publisher.messages(items, tenant=tenant))
            sent = self._publish_all(messages)
            if sent < len(messages):
                row = self._spool(tenant, items)
                self._resend.extend((row, message) for message in messages[sent:])

    def _backlog(self) -> bool:
        return bool(self._resend) or self.spool.depth > 0

    def _publish_all(self, messages: list[PreparedMessage]) -> int:
        """Publish in order with confirmation; how many went out before the broker failed."""
        for sent, message in enumerate(messages):
            if not self._publish(message):
                return sent
        return len(messages)

    def _publish(self, message: PreparedMessage) -> bool:
        try:
            self.publisher.publish(self.connection, message, confirm=True, timeout=PUBLISH_WAIT)
        except FATAL_TRANSPORT_ERRORS:
            raise
        except TransportError as exc:
            log.warning("publish failed (%s); holding messages until the broker is back", exc)
            return False
        kind = message.envelope.type if message.envelope is not None else INVALIDATE
        if kind == HEARTBEAT:
            self.stats.inc("heartbeats_sent")
        elif kind == ACK:
            self.stats.inc("acks_sent")
        else:
            self.stats.inc("published_messages")
            self.stats.inc("published_keys", message.keys)
        return True

    def _spool(self, tenant, items) -> int | None:
        """Write a batch to the spool; its row id, or None when the disk refused (then the
        batch is held in memory and the spool is tried again later)."""
        try:
            collapses = self.spool.collapses
            row = self.spool.append(tenant, items)
        except (sqlite3.Error, OSError) as exc:
            log.error("cannot write the spool %s: %s; holding the batch in memory", self.spool.path, exc)
            self.queue.put(LocalMessage(items=items, tenant=tenant))
            time.sleep(0.5)
            return None
        self.stats.inc("spooled")
        if self.spool.collapses != collapses:
            self.stats.inc("spool_collapses")
            log.error("spool over %d keys: collapsed to `all` per cache", self.spool.max_keys)
        return row

    def _drain_spool(self) -> None:
        """Send what waited, oldest first: messages already numbered (same id and seq, so
        receivers see no gap), then spooled batches."""
        while self._resend and self.connection.connected:
            row, message = self._resend[0]
            if not self._publish(message):
                return
            self._resend.popleft()
            if row is not None and all(r != row for r, _ in self._resend):
                self.spool.remove(row)
        while self.spool.depth and self.connection.connected:
            for pending in self.spool.peek(100):
                messages = list(self.publisher.messages(pending.items, tenant=pending.tenant))
                sent = self._publish_all(messages)
                if sent < len(messages):
                    self._resend.extend((pending.row, message) for message in messages[sent:])
                    return
                self.spool.remove(pending.row)
            if self.spool.depth == 0:
                log.info("spool drained")

    def _send_acks(self, acks: list[str]) -> None:
        """Acks are numbered like every message from this node: one that cannot go out now
        waits, in order, with the other numbered messages."""
        for ack_of in acks:
            message = self.publisher.envelope_message(self.publisher.build((), type=ACK, ack_of=ack_of))
            if self._backlog() or not self._publish(message):
                self._resend.append((None, message))  # numbered: must go out, in order

    def _heartbeat_if_due(self) -> None:
        now = time.monotonic()
        if not self.heartbeats or now < self._next_heartbeat:
            return
        self._next_heartbeat = now + self.heartbeat_interval
        if self._backlog() or not self.connection.connected:
            return  # a heartbeat must not overtake waiting messages: their numbers come first
        envelope = self.publisher.build((), type=HEARTBEAT, applied=self.applied())
        message = self.publisher.envelope_message(envelope)
        if not self._publish(message):
            self._resend.append((None, message))  # its number is taken: send it later, not skip it
