"""Outgoing: this cluster's invalidations, published to the topic.

One thread owns publishing. Sources only queue `LocalMessage`s. The thread takes the first
message as soon as it arrives, plus whatever else is already queued, coalesces them
(duplicates merged, `all` absorbs a cache's keys), and publishes: nothing waits when the
bridge is idle, and under load each publish carries everything that queued up meanwhile.
Envelopes are numbered by the `Publisher` and signed when a key is set.

Up to `PUBLISH_WINDOW` messages may await the broker's confirmation at once (on AMQP, and
on the memory broker when a test holds its confirms; the other transports confirm each
message before the next): a key that arrives while the
previous message waits for its confirm goes out at once instead of waiting behind it.
Once the window is full, the thread waits for the oldest confirm, and what queued up
meanwhile is coalesced into the next message. When a round finds more than `BUSY_ROUND`
local messages queued, the bridge is behind, and that round sends one message at a time:
each wait for a confirm then gathers more keys into the next envelope (fewer, larger
messages, the cheapest way through for the broker and the receivers). Confirmations are
settled (counted, spool rows released) at the next round, at most `SETTLE_INTERVAL`
later; a failure in flight is queued (`FAILED`) and wakes the thread at once.

A message the broker does not confirm (connection lost, negative confirm, no answer in
`PUBLISH_WAIT`) is sent again, with every message sent after it, in order and with the same
id and seq once the broker is back; receivers drop what they already had. While the broker
is unreachable, batches go to the SQLite `Spool` and are sent, oldest first, once it is
back; new batches go behind them so the order holds. Heartbeats (every
`heartbeat_interval`, also while a spool backlog drains) carry this node's sequence, what
it applied per origin, and what the bridge says of itself (`BridgeInfo`: whether its intake
works, how long its oldest unpublished invalidation has waited); an intake gap a source
reports is announced at once on a heartbeat of its own, and a clean stop ends with a
heartbeat that says so.

Receipts: a local message with a `receipt` (a durable source's) is told, once and from
this thread, what became of it: "filtered" when the rules drop all its items, else its
items' batch carries it, and it is told "spooled" when the batch is written to the spool
or "confirmed" when every message of the batch is confirmed, whichever comes first. A
batch the disk refuses to spool goes back on the queue with its receipts. Messages
without a receipt cost nothing more. A receipt is never called when the bridge stops
before it could publish or spool the message (the source then reads it again).
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
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout

from cachesync_cli.bridge.coalesce import Coalescer
from cachesync_cli.bridge.outbound import FAILED, AckRequest, Batch, GapNotice, Outbound, Receipts, Refusal
from cachesync_cli.bridge.rules import SyncRules
from cachesync_cli.bridge.spool import Spool
from cachesync_cli.bridge.stats import BridgeStats
from cachesync_cli.errors import FATAL_TRANSPORT_ERRORS, CachesyncError, ConnectionFailed, NotConfirmed, TransportError
from cachesync_cli.local.intake import IntakeGap
from cachesync_cli.publisher import Publisher
from cachesync_cli.transport.connection import BrokerConnection
from cachesync_cli.wire import ACK, HEARTBEAT, INVALIDATE, Tenant
from cachesync_cli.wire.bridge_info import BridgeInfo, IntakeGapInfo
from cachesync_cli.wire.local import LocalMessage

log = logging.getLogger("cachesync.bridge.outgoing")

MAX_DRAIN = 10_000  # local messages merged into one round at most
PUBLISH_WAIT = 3.0  # seconds a message waits for a connection, then for its confirm, before it is held
PUBLISH_WINDOW = 4  # messages sent and not yet confirmed, at most
BUSY_ROUND = 16  # local messages in one round past which the bridge is behind: window of 1
SETTLE_INTERVAL = 0.01  # seconds between looks at the confirmations of messages in flight


def _overdue() -> NotConfirmed:
    return NotConfirmed(f"the broker did not confirm within {PUBLISH_WAIT:g}s")


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
        intake_state: Callable[[], str] = lambda: "ok",
        silent: Callable[[], dict[str, int]] = dict,
    ) -> None:
        self.connection = connection
        self.publisher = publisher
        self.spool = spool
        self.rules = rules
        self.stats = stats
        self.heartbeat_interval = heartbeat_interval
        self.applied = applied
        self.heartbeats = heartbeats
        self.intake_state = intake_state  # "ok", "down" or "none", for heartbeats
        self.silent = silent  # watched clusters silent for longer than max_silence -> ms, for heartbeats
        self._gaps: deque[IntakeGap] = deque()  # intake gaps not yet announced
        # SimpleQueue: put and get run in C (queue.Queue's are Python, with a Condition)
        self.queue: queue.SimpleQueue[LocalMessage | AckRequest | GapNotice | object] = queue.SimpleQueue()
        self.fatal: CachesyncError | None = None  # why publishing stopped, if it did
        self._in_flight: deque[Outbound] = deque()  # sent, awaiting confirmation, oldest first
        self._resend: deque[Outbound] = deque()  # numbered, to be sent again, oldest first
        self._sent_rows: set[int] = set()  # spool rows published whose removal the disk refused
        self._window = PUBLISH_WINDOW  # messages this round may have awaiting confirmation
        self._receipts: dict[Tenant | None, list[Callable[[str], None]]] = {}  # this round's, by tenant
        self._stop = threading.Event()
        # Without heartbeats (wso2 codec) the next one is never due, and the loop still sleeps.
        self._next_heartbeat = time.monotonic() if heartbeats else math.inf
        self._thread = threading.Thread(target=self._run, daemon=True, name="cachesync-outgoing")

    # -- lifecycle ----------------------------------------------------------------------------

    def submit(self, message: LocalMessage) -> None:
        """A source's callback: queue and return."""
        self.stats.inc("local_received")
        self.queue.put(message)

    def refuse(self, message: LocalMessage) -> None:
        """A local message refused at intake (e.g. by the wso2 codec): its receipt is told
        "rejected" from the publishing thread, like every receipt."""
        if message.receipt is not None:
            self.queue.put(Refusal(message.receipt))

    def request_ack(self, message_id: str) -> None:
        """Publish an `ack` of `message_id` (applied here) with the next round."""
        self.queue.put(AckRequest(message_id))

    def announce_gap(self, gap: IntakeGap) -> None:
        """Local invalidations may have been lost (`Intake`'s listener): tell every cluster.
        Without heartbeats (the wso2 codec) there is nothing to tell it on: logged only."""
        if not self.heartbeats:
            log.warning("intake gap (%s, %s): the wso2 codec cannot announce it", gap.reason, gap.source)
            return
        self.queue.put(GapNotice(gap))

    def oldest_unpublished(self) -> float | None:
        """Seconds the oldest local invalidation not yet confirmed by the broker has waited
        (in flight, held for resending, or spooled); None when there is none. Safe from any
        thread (status, metrics)."""
        oldest = []
        for waiting in (self._in_flight, self._resend):  # oldest first: the first batch is enough
            try:
                since = next((item.batch.since for item in list(waiting) if item.batch is not None), None)
            except RuntimeError:  # changed while copied: the publishing thread is busy with it
                continue
            if since is not None:
                oldest.append(since)
        spooled = self.spool.oldest()
        if spooled is not None:
            oldest.append(spooled)
        return max(0.0, time.time() - min(oldest)) if oldest else None

    def start(self) -> None:
        self._thread.start()

    @property
    def started(self) -> bool:
        return self._thread.ident is not None

    def stop(self, timeout: float = 15.0) -> None:
        """Publish (or spool) everything queued, then stop."""
        self._stop.set()
        self.queue.put(FAILED)  # only a wake-up: the thread may be waiting for a local message
        if self._thread.is_alive():  # never started when the bridge failed to connect
            self._thread.join(timeout)

    def _run(self) -> None:
        try:
            while True:
                stopping = self._stop.is_set()
                coalescer, acks, taken = self._gather(0.0 if stopping else self._idle_wait())
                # Behind (local messages queued up): one message at a time, so that the
                # wait for each confirm coalesces what arrives meanwhile into the next one.
                self._window = PUBLISH_WINDOW if taken <= BUSY_ROUND else 1
                self._settle_done()
                if coalescer:
                    self._send_or_spool(coalescer)
                self._send_acks(acks)
                self._drain_backlog()
                self._announce_gaps()
                if stopping and not taken:
                    self._heartbeat(stopping=True)  # receivers: expect silence, not "gone"
                    self._settle(0)  # what the broker does not confirm now is spooled
                    return
                self._heartbeat_if_due()
        except FATAL_TRANSPORT_ERRORS as exc:
            self.fatal = exc
            log.error("stopped publishing: %s", exc)
        except Exception as exc:  # a bug: stop the bridge visibly rather than publish nothing
            log.exception("stopped publishing: unexpected error")
            self.fatal = CachesyncError(f"the publishing thread failed: {exc!r}",
                                        hint="this is a bug in cachesync; the traceback is in the log")

    def _idle_wait(self) -> float:
        """How long the next round may wait for a local message: until the next heartbeat
        (at most 0.5 s), or, with messages in flight, `SETTLE_INTERVAL` (confirmations are
        counted and release spool rows a little after they arrive, not one wake-up each)."""
        wait = min(0.5, self._next_heartbeat - time.monotonic())
        if self._in_flight:
            wait = min(wait, SETTLE_INTERVAL)
        return max(0.0, wait)

    # -- one round ----------------------------------------------------------------------------

    def _gather(self, wait: float) -> tuple[Coalescer, list[str], int]:
        """The first queued message (waiting up to `wait`) and all queued behind it; and
        how many there were besides wake-ups."""
        coalescer, acks = Coalescer(), []
        try:
            first = self.queue.get(timeout=wait) if wait > 0 else self.queue.get_nowait()
        except queue.Empty:
            return coalescer, acks, 0
        taken = self._add(coalescer, acks, first)
        for _ in range(MAX_DRAIN):
            try:
                taken += self._add(coalescer, acks, self.queue.get_nowait())
            except queue.Empty:
                break
        return coalescer, acks, taken

    def _add(self, coalescer: Coalescer, acks: list[str], message: LocalMessage | AckRequest | object) -> int:
        if message.__class__ is not LocalMessage:  # (never subclassed: the cheapest test)
            return self._add_other(acks, message)
        kept, dropped = self.rules.filter(message.items, message.tenant)
        if dropped:
            self.stats.inc("local_filtered", dropped)
        if kept:
            coalescer.add(kept, message.tenant)
            if message.receipt is not None:
                self._receipts.setdefault(message.tenant, []).append(message.receipt)
        elif message.receipt is not None:
            Receipts([message.receipt])("filtered")
        return 1

    def _add_other(self, acks: list[str], message: AckRequest | Refusal | GapNotice | object) -> int:
        if message is FAILED:
            return 0  # only a wake-up: the failure is handled after gathering
        if isinstance(message, Refusal):
            Receipts([message.receipt])("rejected")
            return 0
        if isinstance(message, GapNotice):
            self._gaps.append(message.gap)
            return 0
        acks.append(message.ack_of)
        return 1

    def _send_or_spool(self, coalescer: Coalescer) -> None:
        receipts, self._receipts = self._receipts, {}
        for tenant, items in coalescer.batches():
            batch = Batch(tenant, items, receipts=Receipts(receipts[tenant]) if tenant in receipts else None)
            if self._backlog() or not self.connection.connected:
                self._spool_batch(batch)
                continue
            outbound = self._outbound(batch)
            if not self._send_all(outbound) and batch.row is None:  # not spooled by a failure in flight
                self._spool_batch(batch)

    def _backlog(self) -> bool:
        return bool(self._resend) or self.spool.depth > len(self._sent_rows)

    # -- sending and confirmations ------------------------------------------------------------

    def _outbound(self, batch: Batch) -> list[Outbound]:
        """The numbered messages that carry a batch, each knowing its batch."""
        outbound = [Outbound(message, batch)
                    for message in self.publisher.messages(batch.items, tenant=batch.tenant)]
        batch.unconfirmed = len(outbound)
        return outbound

    def _send_all(self, outbound: list[Outbound]) -> bool:
        """Send in order; when one fails, it and the rest are held, in order."""
        for index, item in enumerate(outbound):
            if not self._send(item):
                self._resend.extend(outbound[index + 1:])
                return False
        return True

    def _send(self, item: Outbound) -> bool:
        """Send one message once the window has room. False when it, or a message sent
        before it, failed: it is then held in `_resend` behind those."""
        if not self._settle(self._window - 1) or not self._put_in_flight(item):
            self._resend.append(item)
            return False
        if item.confirmed.done():  # the transport confirmed before returning
            return self._settle(0)
        item.confirmed.add_done_callback(self._wake)
        return True

    def _put_in_flight(self, item: Outbound) -> bool:
        """Send one message on the connection the messages in flight went out on. When that
        connection is gone they failed, whether the driver has said so yet or not: they are
        held, and sent again before this one (it must not overtake them on the next one)."""
        try:
            transport = self.connection.wait_connected(PUBLISH_WAIT)
            if self._in_flight and self._in_flight[-1].transport is not transport:
                self._hold_in_flight(ConnectionFailed("the connection was lost with messages awaiting confirms"))
                return False
            confirmed = self.publisher.publish_async(self.connection, item.message, timeout=PUBLISH_WAIT,
                                                     on=transport)
        except FATAL_TRANSPORT_ERRORS:
            raise
        except TransportError as exc:
            log.warning("publish failed (%s); holding messages until the broker is back", exc)
            return False
        item.confirmed, item.deadline, item.transport = confirmed, time.monotonic() + PUBLISH_WAIT, transport
        self._in_flight.append(item)
        return True

    def _wake(self, confirmed: Future[None]) -> None:
        """Runs on the driver's thread when the broker answers. A refusal or a lost
        connection wakes the thread at once; a confirmation waits for the next round."""
        if confirmed.exception() is not None:
            self.queue.put(FAILED)

    def _settle(self, limit: int) -> bool:
        """Wait for confirms until at most `limit` messages are in flight. False when one
        failed: it and everything sent after it are then in `_resend`."""
        while len(self._in_flight) > limit:
            oldest = self._in_flight[0]
            try:
                oldest.confirmed.result(max(0.0, oldest.deadline - time.monotonic()))
            except FutureTimeout:
                self._hold_in_flight(_overdue())
                return False
            except FATAL_TRANSPORT_ERRORS:
                raise
            except TransportError as exc:
                self._hold_in_flight(exc)
                return False
            self._confirmed(self._in_flight.popleft())
        return True

    def _settle_done(self) -> None:
        """Settle, without waiting, the messages at the head of the window the broker has
        answered; hold everything in flight when the oldest failed or is overdue."""
        while self._in_flight:
            oldest = self._in_flight[0]
            if not oldest.confirmed.done():
                if time.monotonic() >= oldest.deadline:
                    self._hold_in_flight(_overdue())
                return
            if not self._settle(len(self._in_flight) - 1):
                return

    def _confirmed(self, item: Outbound) -> None:
        message, batch = item.message, item.batch
        kind = message.envelope.type if message.envelope is not None else INVALIDATE
        if kind == HEARTBEAT:
            self.stats.inc("heartbeats_sent")
        elif kind == ACK:
            self.stats.inc("acks_sent")
        else:
            self.stats.inc("published_messages")
            self.stats.inc("published_keys", message.keys)
        if batch is not None:
            batch.unconfirmed -= 1
            if batch.unconfirmed == 0:
                if batch.row is not None:
                    self._remove_row(batch.row)
                if batch.receipts is not None:
                    batch.receipts("confirmed")

    def _remove_row(self, row: int) -> None:
        """Forget a published spool row. When the disk refuses even that, the row is
        remembered as sent (not sent again by this process) and removed later."""
        try:
            self.spool.remove(row)
        except (sqlite3.Error, OSError) as exc:
            if row not in self._sent_rows:
                log.error("cannot remove a published batch from the spool %s: %s; a restart would send "
                          "it again", self.spool.path, exc)
            self._sent_rows.add(row)
        else:
            self._sent_rows.discard(row)

    def _hold_in_flight(self, error: Exception) -> None:
        """The broker failed a message in flight: hold it and every message sent after it
        (the broker may have some of them; receivers drop duplicates), ahead of anything
        already held, and spool their batches so that a restart does not lose them."""
        log.warning("publish failed (%s); holding messages until the broker is back", error)
        held = list(self._in_flight)
        self._in_flight.clear()
        for item in held:
            item.confirmed = item.transport = None
            if item.batch is not None and item.batch.row is None:
                self._spool_batch(item.batch)
        self._resend.extendleft(reversed(held))

    # -- waiting messages ---------------------------------------------------------------------

    def _spool_batch(self, batch: Batch) -> None:
        """Write a batch to the spool (its `row`) and tell its receipts; when the disk refuses,
        the batch goes back on the queue with its receipts (see `_spool`)."""
        batch.row = self._spool(batch.tenant, batch.items, batch.receipts, batch.since)
        if batch.row is not None and batch.receipts is not None:
            batch.receipts("spooled")

    def _spool(self, tenant, items, receipts: Receipts | None = None, since: float | None = None) -> int | None:
        """Write a batch to the spool; its row id, or None when the disk refused (then the
        batch is held in memory, with its receipts, and the spool is tried again later)."""
        try:
            collapses = self.spool.collapses
            row = self.spool.append(tenant, items, since)
        except (sqlite3.Error, OSError) as exc:
            log.error("cannot write the spool %s: %s; holding the batch in memory", self.spool.path, exc)
            self.queue.put(LocalMessage(items=items, tenant=tenant, receipt=receipts))
            time.sleep(0.5)
            return None
        self.stats.inc("spooled")
        if self.spool.collapses != collapses:
            self.stats.inc("spool_collapses")
            log.error("spool over %d keys: collapsed to `all` per cache", self.spool.max_keys)
        return row

    def _drain_backlog(self) -> None:
        """Send what waited, oldest first, one message at a time: messages already numbered
        (same id and seq, so receivers see no gap), then spooled batches."""
        if not self._backlog() or not self.connection.connected or not self._settle(0):
            return
        while self._resend and self.connection.connected:
            item = self._resend.popleft()
            if not self._put_in_flight(item):
                self._resend.appendleft(item)
                return
            if not self._settle(0):  # it failed again: back at the head of `_resend`
                return
        for row in list(self._sent_rows):
            self._remove_row(row)
        if self.spool.depth > len(self._sent_rows) and (self.spool.oldest() or math.inf) < time.time() - \
                self.heartbeat_interval:
            # Back after an outage: first a heartbeat that says how long the oldest has waited,
            # so that the others keep flushing while the old messages go out.
            self._next_heartbeat = min(self._next_heartbeat, time.monotonic())
            self._heartbeat_if_due()
        while self.spool.depth > len(self._sent_rows) and self.connection.connected and not self._resend:
            for pending in self.spool.peek(100 + len(self._sent_rows)):
                if pending.row in self._sent_rows:
                    continue
                outbound = self._outbound(Batch(pending.tenant, pending.items, pending.row, since=pending.since))
                if not outbound:
                    self._remove_row(pending.row)
                    continue
                if not self._send_all(outbound) or not self._settle(0):  # confirmed: its row is removed
                    return
                self._heartbeat_if_due()  # a long drain must not look like silence to the others
            if self.spool.depth == 0:
                log.info("spool drained")

    def _send_acks(self, acks: list[str]) -> None:
        """Acks are numbered like every message from this node: one that cannot go out now
        waits, in order, with the other numbered messages."""
        for ack_of in acks:
            item = Outbound(self.publisher.envelope_message(self.publisher.build((), type=ACK, ack_of=ack_of)), None)
            if self._backlog():
                self._resend.append(item)  # numbered: must go out, in order
            else:
                self._send(item)  # held in order when it fails

    def _heartbeat_if_due(self) -> None:
        now = time.monotonic()
        if not self.heartbeats or now < self._next_heartbeat:
            return
        self._next_heartbeat = now + self.heartbeat_interval
        self._heartbeat()

    def _heartbeat(self, *, gap: IntakeGap | None = None, stopping: bool = False) -> bool:
        """Publish a heartbeat now; False when it cannot go out in order now. While spooled
        batches wait it goes out all the same (they are numbered when sent, after it), with
        how long the oldest has waited; while numbered messages wait to be sent again it
        must not overtake them, and without a connection there is nobody to tell."""
        if not self.heartbeats or self._resend or not self.connection.connected:
            return False
        waited = self.oldest_unpublished()
        info = BridgeInfo(intake=self.intake_state(), interval=round(self.heartbeat_interval * 1000),
                          pending=round((waited or 0.0) * 1000), stopping=stopping, silent=self.silent(),
                          intake_gap=None if gap is None else IntakeGapInfo(gap.source, gap.reason, gap.since_ms))
        envelope = self.publisher.build((), type=HEARTBEAT, applied=self.applied(), bridge=info)
        # Held when it fails: its number is taken, so it is sent later, not skipped.
        self._send(Outbound(self.publisher.envelope_message(envelope), None))
        return True

    def _announce_gaps(self) -> None:
        """One heartbeat for each intake gap reported, in order, as soon as one can go out."""
        while self._gaps and self._heartbeat(gap=self._gaps[0]):
            gap = self._gaps.popleft()
            self.stats.inc("intake_gaps_announced", label=gap.reason)
            log.warning("announced an intake gap (%s, %s): the other clusters flush", gap.reason, gap.source)
