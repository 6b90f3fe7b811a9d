"""`BrokerSource`: this cluster's invalidations read from a cluster-local broker topic
(WSO2 IS nodes' cache-sync topic), the source half of a broker leg (docs/local.md).

It reads through a durable subscription of the bridge's own (`subscription`, never an IS
node's: on RabbitMQ the queue of that name; it refuses to attach, exit 2, when another
consumer already reads it) and acknowledges a message only once the bridge published or
spooled what it carried (its receipt). IS messages carry no sequence numbers, so a loss on
this leg shows only one way: a subscription that did not exist when the leg attached
(re-created: deleted, expired, a broker that lost its store, or the first start) is
announced as an intake gap ("recreated"), and every other cluster flushes. Where the
protocol cannot tell whether it existed (STOMP, MQTT), the first attach of every run is
announced ("start"), as for a pub/sub source.

Skipped: what any bridge's leg delivered (its producer name has `RESERVED_PREFIX`; noted in
the `LegGuard`, so that its re-publication by an IS node in hybrid mode is recognised too),
and what equals an invalidation a leg delivered a moment ago. An IS node's clear-alls are
limited per `sender` like any origin's (`[sync] all_rate`): held ones are coalesced, one per
cache, and acknowledged once published.
"""

from __future__ import annotations

import logging
import queue
import threading

from cachesync_cli.errors import ClientIdTaken, DecodeError, SubscriptionInUse, TransportError
from cachesync_cli.local.base import EmitFn, RejectFn, Source, SourceError
from cachesync_cli.local.intake import IntakeGap
from cachesync_cli.local.leg_connection import check_leg, leg_connection
from cachesync_cli.local.leg_guard import is_leg_producer
from cachesync_cli.transport.base import Delivery, DurableState, SubscriptionSpec
from cachesync_cli.wire import INVALIDATE, Tenant, decode_message
from cachesync_cli.wire.local import LocalMessage
from cachesync_cli.wire.wso2 import wso2_item

log = logging.getLogger("cachesync.local")

RETRY_CONNECT = 3600.0  # seconds one background attempt to connect keeps retrying


class BrokerSource(Source):
    type = "broker"
    durable = True  # the durable subscription keeps what IS nodes publish while the bridge is away

    def __init__(self, name, options, context) -> None:
        super().__init__(name, options, context)
        self.topic = options["topic"]
        self.codec = options["codec"]
        self.subscription = options["subscription"] or f"cachesync-leg-{context.cluster}"
        self.guard = context.leg_guard
        self.limiter = context.new_all_limiter() if context.new_all_limiter is not None else None
        self.connection = None
        self._deliveries: queue.SimpleQueue[Delivery] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._attached_before = False
        self._threads: list[threading.Thread] = []
        self._emit: EmitFn | None = None
        self._reject: RejectFn | None = None

    def describe(self) -> str:
        return f"broker source {self.name!r} (topic {self.topic})"

    def _connection(self, client_id: str | None):
        return leg_connection(self.options, self.context.environ, f"[[sources]] {self.name!r}",
                              client_id=client_id, on_event=self._on_event)

    # -- Source -------------------------------------------------------------------------------

    def start(self, emit: EmitFn, reject: RejectFn) -> None:
        self._emit, self._reject = emit, reject
        self.connection = self._connection(self.subscription)
        self.connection.subscribe(SubscriptionSpec(self.topic, self._deliveries.put, durable_name=self.subscription,
                                                   manual_ack=True, alone=True, exact_name=True,
                                                   on_attach=self._attached))
        self._spawn(self._run, "cachesync-leg-in")
        try:
            self.connection.open()
        except SubscriptionInUse:
            self.stop()
            raise
        except ClientIdTaken as exc:  # ActiveMQ: the subscription's client id is connected elsewhere
            self.stop()
            raise SubscriptionInUse(f"{self.describe()}: another client already reads the durable subscription "
                                    f"{self.subscription!r} ({exc})",
                                    hint="give this leg a subscription name of its own (subscription = "
                                         "\"cachesync-...\"), or stop the other bridge") from None
        except TransportError as exc:
            if self.connection.failure is not None:  # credentials or permissions refused
                self.stop()
                raise SourceError(f"{self.describe()}: {exc}", hint=exc.hint) from None
            log.warning("%s: cannot connect yet (%s); retrying in the background", self.describe(), exc)
            self.context.intake.down(self.name, str(exc))
            self._spawn(self._connect_later, "cachesync-leg-connect")

    def _spawn(self, target, name: str) -> None:
        thread = threading.Thread(target=target, daemon=True, name=name)
        self._threads.append(thread)
        thread.start()

    def _connect_later(self) -> None:
        while not self._stop.is_set():
            try:
                self.connection.open(timeout=RETRY_CONNECT)
                return
            except SubscriptionInUse as exc:
                log.error("%s: %s (%s)", self.describe(), exc, exc.hint)
                return
            except TransportError as exc:
                if self.connection.failure is not None:
                    log.error("%s: giving up: %s", self.describe(), exc)
                    return

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(5)
        if self.connection is not None:
            self.connection.close()

    def check(self) -> None:
        check_leg(self.options, self.context.environ, f"[[sources]] {self.name!r}",
                  lambda message, hint: SourceError(message, hint=hint), self.describe())

    # -- the connection's callbacks (they only record or queue) -----------------------------

    def _attached(self, state: DurableState) -> None:
        if state.recreated:
            self.context.intake.gap(IntakeGap(self.name, "recreated", None, f"durable subscription "
                                              f"{self.subscription} did not exist: what IS nodes published for "
                                              f"it before is gone"))
        elif state.exists is None and not self._attached_before:
            self.context.intake.gap(IntakeGap(self.name, "start", None, "the broker cannot tell whether the "
                                              f"durable subscription {self.subscription} existed"))
        self._attached_before = True

    def _on_event(self, event) -> None:
        if event.kind in ("lost", "failed"):
            self.context.intake.down(self.name, str(event.error))
        elif event.kind == "connected":
            self.context.intake.up(self.name, gap=False)  # durable: nothing missed (or announced by _attached)

    # -- the source's thread ----------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                delivery = self._deliveries.get(timeout=0.2)
            except queue.Empty:
                delivery = None
            if delivery is not None:
                try:
                    self._handle(delivery)
                except Exception:  # a bug must not stop the source; the message comes back later
                    log.exception("%s: unexpected error handling a message", self.describe())
                    delivery.nack()
            if self.limiter is not None and self.limiter.held:
                self._release_held()

    def _handle(self, delivery: Delivery) -> None:
        try:
            sender, tenant, items = self._read(delivery)
        except DecodeError as exc:
            self._reject(exc.reason, f"{self.describe()}: {exc}")
            delivery.ack()
            return
        if is_leg_producer(sender):  # a leg delivered it: remember it, so its re-publication is known too
            self.guard.note(self.topic, tenant, items)
            delivery.ack()
            return
        items = tuple(item for item in items if not self.guard.is_echo(self.topic, tenant, item))
        if not items:
            log.debug("%s: skipped the echo of a delivery (from %s)", self.describe(), sender)
            delivery.ack()
            return
        clear = tuple(item for item in items if item.all)
        if clear and self.limiter is not None and not self.limiter.take(sender or "wso2"):
            others = tuple(item for item in items if not item.all)
            log.warning("%s: clear-alls from %s exceed [sync] all_rate: coalescing them", self.describe(), sender)
            self.limiter.hold(sender or "wso2", tenant, clear, delivery.ack)
            if others:
                self._emit(LocalMessage(others, tenant))
            return
        self._emit(LocalMessage(items, tenant, receipt=lambda outcome: delivery.ack()))

    def _read(self, delivery: Delivery):
        """(sender, tenant, items) of a message on the topic; DecodeError when it is none."""
        decoded = decode_message(delivery.body, delivery.headers, self.codec)
        if decoded.wso2 is not None:
            message = decoded.wso2
            item, usable = wso2_item(message)
            if not usable:
                log.warning("%s: a key of %s is %s, which names no entry (a legacy connector's Class@hash): "
                            "publishing a flush of that cache", self.describe(), message.cache, message.key)
            return message.sender, Tenant(message.tenant_domain, message.tenant_id), (item,)
        envelope = decoded.envelope
        return envelope.origin, envelope.tenant, envelope.items if envelope.type == INVALIDATE else ()

    def _release_held(self) -> None:
        for held in self.limiter.due():
            batches = held.batches()
            remaining = [len(batches)]

            def told(_outcome: str, done=held.done, remaining=remaining) -> None:
                remaining[0] -= 1
                if remaining[0] == 0:
                    for ack in done:
                        ack()

            for tenant, items in batches.items():
                self._emit(LocalMessage(items, tenant, receipt=told))
