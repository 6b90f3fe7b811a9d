"""Incoming: every other cluster's invalidations, applied to this cluster's targets.

One thread takes deliveries from the broker (the driver thread only queues them) and, for
each: decodes it (native or WSO2), verifies its signature when keys are configured, skips
this cluster's own messages, drops duplicates by id, checks the sender's sequence for gaps,
keeps the items the sync rules allow, and applies them to every target. A target that
fails is retried with backoff until it succeeds; only then is the message acknowledged to
the broker, so nothing is lost while a target is down. Bad input is rejected, counted and
logged, acknowledged (it can never succeed), and never stops the thread.

A gap (a sequence number skipped, or a heartbeat ahead of the last message that arrived)
means messages were lost where we cannot get them back: the bridge flushes the caches of
the gap policy in every target, logs and counts it. An intake gap another bridge announces
(its own cluster's invalidations may have been lost before they reached it: it started, or
a source's connection was down) flushes the silence policy's caches, counted apart.
Applied, or flushed: never silently stale.

Silence: every bridge's heartbeat makes its cluster watched; a watched cluster not heard
from for `max_silence` makes this bridge flush `silence_flush`, and again every
`max_silence` while it lasts (`SilenceWatch`). The check runs here, between messages, so
a silence flush never starts while another flush or an apply runs.
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import re
import threading
import time
from collections.abc import Callable, Sequence

from cachesync_cli.bridge.all_limit import AllLimiter
from cachesync_cli.bridge.rules import SyncRules
from cachesync_cli.bridge.sequence import RecentIds, SequenceTracker
from cachesync_cli.bridge.silence import SilenceWatch
from cachesync_cli.bridge.stats import BridgeStats
from cachesync_cli.bridge.throttled_log import clip
from cachesync_cli.errors import DecodeError
from cachesync_cli.local.base import Invalidation, Target, TargetError
from cachesync_cli.transport.backoff import Backoff
from cachesync_cli.transport.base import Delivery
from cachesync_cli.wire import INVALIDATE, Item, Keyring, Tenant, decode_message, new_envelope_id
from cachesync_cli.wire.wso2 import wso2_item

log = logging.getLogger("cachesync.bridge.incoming")

ALL_CACHES = "*"
"""Cache name of a gap-flush item that means every cache the target holds."""

_ORIGIN = re.compile(rb'"origin"\s*:\s*"([^"\\]{1,256})"')
"""The origin of a native envelope, read without decoding it (on the transport's thread)."""

MAX_OWN_BRIDGES = 64  # node ids of this cluster's bridges remembered (restarts, pairs)
SILENCE_CHECK_INTERVAL = 0.2  # seconds between looks at the watched clusters' silence


class Incoming:
    def __init__(
        self,
        *,
        cluster: str,
        targets: Sequence[Target],
        rules: SyncRules,
        stats: BridgeStats,
        keyring: Keyring | None = None,
        require_signatures: bool = False,
        own_producer: str | None = None,
        own_node: str | None = None,
        gap_flush: Sequence[str] = (),
        retry_max_delay: float = 30.0,
        on_applied: Callable[[str, str, int], None] | None = None,
        on_ack_requested: Callable[[str], None] | None = None,
        all_limiter: AllLimiter | None = None,
        silence: SilenceWatch | None = None,
        silence_flush: Sequence[str] = (),
        on_bridge_seen: Callable[[str], None] | None = None,
        on_retire: Callable[[str, str], None] | None = None,
        on_echo: Callable[[float], None] | None = None,
        on_own_heartbeat: Callable[[str, bool], None] | None = None,
        silence_flushes: bool = True,
    ) -> None:
        self.cluster = cluster
        self.targets = list(targets)
        self.rules = rules
        self.stats = stats
        self.keyring = keyring
        self.require_signatures = require_signatures
        self.own_producer = own_producer
        # This cluster's bridges (this one, and any other whose heartbeats say it is one): their
        # messages are this cluster's own invalidations, already applied here. A message of
        # this cluster from any other node (`cachesync invalidate` run here) is applied here too.
        self.own_bridges = RecentIds(MAX_OWN_BRIDGES)
        if own_node:
            self.own_bridges.add(own_node)
        self.gap_flush = tuple(gap_flush)
        self.retry_backoff = Backoff(base=0.1, cap=retry_max_delay)
        self.on_applied = on_applied or (lambda origin, node, seq: None)
        self.on_ack_requested = on_ack_requested or (lambda message_id: None)
        self.queue: queue.SimpleQueue[Delivery | None] = queue.SimpleQueue()  # None: a wake-up; C put and get
        self.sequences = SequenceTracker()
        self.recent = RecentIds()
        self.failing: dict[str, str] = {}  # target name -> last error, while it fails
        self.all_limiter = all_limiter
        self.silence = silence or SilenceWatch(0)
        self.silence_flush = tuple(silence_flush) or (ALL_CACHES,)  # empty: every cache, not gap_flush
        self.on_bridge_seen = on_bridge_seen or (lambda origin: None)  # a bridge's heartbeat: watch it
        self.on_retire = on_retire or (lambda cluster, by: None)
        self.on_echo = on_echo or (lambda arrived: None)  # one of this cluster's own messages came back
        # a heartbeat of a bridge of this cluster (node, stopping): another node is a duplicate id
        self.on_own_heartbeat = on_own_heartbeat or (lambda node, stopping: None)
        self.silence_flushes = silence_flushes  # [sync] on_silence has "flush"
        self._next_silence_check = 0.0
        self._limited_logged: dict[str, float] = {}  # origin -> when its flood was last logged
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="cachesync-incoming")

    # -- lifecycle ----------------------------------------------------------------------------

    def deliver(self, delivery: Delivery) -> None:
        """The transport's callback: stamp, note who it is from, queue and return."""
        delivery.arrived = time.monotonic()
        if self.silence.enabled:
            found = _ORIGIN.search(delivery.body)
            if found is not None:
                self.silence.arrived(found.group(1).decode("utf-8", "replace"), delivery.arrived)
        self.queue.put(delivery)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self.queue.put(None)  # a wake-up: the thread may be waiting for a delivery
        if self._thread.is_alive():  # never started when the bridge failed to connect
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                delivery = self.queue.get(timeout=0.2 if self.all_limiter is None or not self.all_limiter.held
                                          else min(0.2, self.all_limiter.next_due() or 0.2))
            except queue.Empty:
                delivery = None
            if delivery is not None:
                try:
                    self.handle(delivery)
                except Exception:  # a bug must not stop the bridge; the message comes back later
                    log.exception("unexpected error handling a message; it will be redelivered")
                    delivery.nack()
            if self.all_limiter is not None and self.all_limiter.held:
                self._release_held()
            if self.silence.enabled and time.monotonic() >= self._next_silence_check:
                self._next_silence_check = time.monotonic() + SILENCE_CHECK_INTERVAL
                self._flush_silent()

    # -- one message --------------------------------------------------------------------------

    def handle(self, delivery: Delivery) -> None:
        self.stats.inc("received")
        try:
            decoded = decode_message(delivery.body, delivery.headers, "auto")
            if decoded.envelope is not None and (self.keyring is not None or self.require_signatures):
                if self.keyring is None:
                    raise DecodeError("signatures are required but no key is configured", reason="unsigned")
                self.keyring.verify_envelope(decoded.envelope)
            elif decoded.wso2 is not None and self.require_signatures:
                raise DecodeError("WSO2 messages carry no signature and signatures are required",
                                  reason="unsigned")
        except DecodeError as exc:
            self._reject(delivery, exc.reason, str(exc))
            return
        if decoded.envelope is not None:
            self._native(delivery, decoded.envelope)
        else:
            self._wso2(delivery, decoded.wso2)

    def _reject(self, delivery: Delivery, reason: str, detail: str) -> None:
        self.stats.inc("rejected", label=reason)
        log.warning("rejected a message on %s (%s): %s", delivery.destination, reason, detail)
        delivery.ack()

    def _native(self, delivery: Delivery, env) -> None:
        for cluster in env.retire:  # `cachesync retire`, run in this cluster too (idempotent)
            self.on_retire(cluster, env.origin)
        if env.origin == self.cluster and (self._from_own_bridge(env) or env.type != INVALIDATE):
            self.on_echo(delivery.arrived)
            self.stats.inc("echoes_skipped")
            delivery.ack()
            return
        if self.recent.seen(env.id):
            self.stats.inc("duplicates")
            delivery.ack()
            return
        missed = self.sequences.observe(env.node, env.seq)
        self.stats.peer_seen(env.origin, env.node, env.seq)
        if missed:
            self._gap_flush(env.origin, env.node, missed)
        if env.bridge is not None:
            self._bridge_heartbeat(env)
        if env.type == INVALIDATE:
            now, held = self._limit(env.origin, env.items)
            if not self._apply(env.origin, env.id, env.tenant, now, sent_ms=env.ts):
                return  # stopping: left unacknowledged, the broker redelivers it
            if held:  # acknowledged once its `all` items are applied, with the origin's next flush
                self.all_limiter.hold(env.origin, env.tenant, held, lambda: self._done(delivery, env))
                return
        self._done(delivery, env)

    def _from_own_bridge(self, env) -> bool:
        if env.bridge is not None:  # a heartbeat of a bridge of this cluster (this one, or another)
            self.own_bridges.add(env.node)
            self.on_own_heartbeat(env.node, env.bridge.stopping)
            return True
        return self.own_bridges.seen(env.node)

    def _done(self, delivery: Delivery, env) -> None:
        if env.type == INVALIDATE and env.ack:
            self.on_ack_requested(env.id)
        self.on_applied(env.origin, env.node, env.seq)  # heartbeats and acks are numbered too
        self.recent.add(env.id)
        if self.silence.handled(env.origin, delivery.arrived, node=env.node, bridge=env.bridge, sent_ms=env.ts):
            log.warning("%s is heard again and everything it sent before %s is applied: fresh", env.origin,
                        time.strftime("%H:%M:%S", time.localtime(env.ts / 1000)))
        delivery.ack()

    def _bridge_heartbeat(self, env) -> None:
        """What a bridge says of itself: watch its cluster; flush for an intake gap."""
        self.on_bridge_seen(env.origin)
        if env.bridge.stopping:
            log.info("%s's bridge (node %s) stopped cleanly; its silence is flushed after max_silence "
                     "if no other bridge of it takes over", env.origin, env.node)
        gap = env.bridge.intake_gap
        if gap is not None:
            since = "" if gap.since is None else " since " + time.strftime("%H:%M:%S", time.localtime(gap.since / 1000))
            log.error("intake gap in %s (%s of %s%s): its local invalidations may be lost", env.origin,
                      gap.reason, gap.source, since)
            self.stats.inc("intake_gaps", label=env.origin)
            self.flush(env.origin, caches=self.silence_flush, reason=f"an intake gap in {env.origin} ({gap.reason})",
                       counted=False)

    def _flush_silent(self) -> None:
        due = self.silence.due()
        if not due:
            return
        report = self.silence.report()
        silent = ", ".join(f"{o} ({report.silent.get(o, 0):.1f}s)" for o in due)
        if not self.silence_flushes:
            log.error("no word from %s for longer than max_silence (%gs): not fresh", silent,
                      self.silence.max_silence)
            return
        for origin in due:
            self.stats.inc("silence_flushes", label=origin)
        log.error("no word from %s for longer than max_silence (%gs): flushing", silent, self.silence.max_silence)
        self.flush(due[0], caches=self.silence_flush, reason="silence", counted=False)

    def _wso2(self, delivery: Delivery, message) -> None:
        if message.sender and message.sender in (self.own_producer, self.cluster):
            self.stats.inc("echoes_skipped")
            delivery.ack()
            return
        item = self._wso2_item(message)
        tenant = Tenant(message.tenant_domain, message.tenant_id)
        origin = message.sender or "wso2"
        now, held = self._limit(origin, (item,))
        if not self._apply(origin, "", tenant, now):
            return
        if held:
            self.all_limiter.hold(origin, tenant, held, delivery.ack)
            return
        delivery.ack()

    def _wso2_item(self, message) -> Item:
        """The item a WSO2 message stands for (`wso2_item`); a legacy `Class@hash` key names
        nothing, so its whole cache (counted)."""
        item, usable = wso2_item(message)
        if not usable:
            self.stats.inc("unusable_keys", label=message.cache)
            log.warning("a key of %s from %s is %s, which names no entry (a legacy connector's Class@hash): "
                        "flushing that cache", message.cache, message.sender or "wso2", clip(str(message.key), 80))
        return item

    # -- the limit on `all` -------------------------------------------------------------------

    def _limit(self, origin: str, items) -> tuple[tuple, tuple]:
        """(items to apply now, `all` items to hold because `origin` is over its limit)."""
        if self.all_limiter is None or not any(item.all for item in items) or self.all_limiter.take(origin):
            return tuple(items), ()
        self.stats.inc("all_limited", label=origin)
        now = time.monotonic()
        if now - self._limited_logged.get(origin, -1e9) >= 10:
            self._limited_logged[origin] = now
            log.warning("`all` invalidations from %s exceed %g/s (burst %d): coalescing them, one flush per "
                        "cache per interval (%d held so far)", origin, self.all_limiter.rate,
                        self.all_limiter.burst, self.stats.get("all_limited", origin))
        return tuple(i for i in items if not i.all), tuple(i for i in items if i.all)

    def _release_held(self) -> None:
        """Apply the held `all` items of every origin that has a token again, then
        acknowledge the messages they came in."""
        for held in self.all_limiter.due():
            messages = held.messages  # counted as applied with the first flush
            for tenant, items in held.batches().items():
                if not self._apply(held.origin, f"all-limited-{new_envelope_id()}", tenant, items, messages=messages):
                    return  # stopping: the held messages stay unacknowledged and come back
                messages = 0
            for done in held.done:
                done()

    # -- applying -----------------------------------------------------------------------------

    def _apply(self, origin: str, message_id: str, tenant, items, sent_ms: int | None = None,
               messages: int = 1) -> bool:
        kept, dropped = self.rules.filter(items, tenant)
        if dropped:
            self.stats.inc("filtered", dropped)
        if not kept:
            return True
        invalidation = Invalidation(origin=origin, items=kept, tenant=tenant, id=message_id)
        started = time.monotonic()
        if not self._apply_everywhere(invalidation):
            return False
        self.stats.observe_apply(time.monotonic() - started, origin, sent_ms)
        self.stats.inc("applied", messages)
        self.stats.inc("applied_keys", sum(item.key_count for item in kept))
        return True

    def _apply_everywhere(self, invalidation: Invalidation) -> bool:
        """Apply to every target, retrying failing ones with backoff. False only when stopping."""
        pending = list(self.targets)
        attempt = 0
        if any(item.java_keys for item in invalidation.items):
            pending = [t for t in pending if t.accepts_java_keys or self._skip_java_keys(t, invalidation)]
        while pending:
            for target in list(pending):
                try:
                    target.apply(invalidation if target.accepts_java_keys else self._without_java_keys(invalidation))
                except TargetError as exc:
                    self._target_failed(target, exc, invalidation)
                    continue
                except Exception as exc:  # a target bug is a failure of that target, not of the bridge
                    log.exception("%s raised an unexpected error", target.describe())
                    self._target_failed(target, TargetError(repr(exc)), invalidation)
                    continue
                pending.remove(target)
                if self.failing.pop(target.name, None) is not None:
                    log.warning("%s works again", target.describe())
            if not pending:
                return True
            delay = self.retry_backoff.delay(attempt)
            attempt += 1
            if self._stop.wait(delay):
                return False
        return True

    def _skip_java_keys(self, target: Target, invalidation: Invalidation) -> bool:
        """Count the Java object keys `target` cannot use; whether anything is left for it."""
        skipped = sum(len(item.java_keys) for item in invalidation.items)
        self.stats.inc("skipped_java_keys", skipped, label=target.name)
        return bool(self._without_java_keys(invalidation).items)

    @staticmethod
    def _without_java_keys(invalidation: Invalidation) -> Invalidation:
        return dataclasses.replace(invalidation, items=tuple(i for i in invalidation.items if not i.java_keys))

    def _target_failed(self, target: Target, error: Exception, invalidation: Invalidation) -> None:
        self.stats.inc("apply_failures", label=target.name)
        if target.name not in self.failing:
            log.error("%s failed to apply %s from %s: %s (retrying until it works)",
                      target.describe(), invalidation.id or invalidation.reason, invalidation.origin, error)
        self.failing[target.name] = str(error)

    def _gap_flush(self, origin: str, node: str, missed: int) -> None:
        log.error("gap: %d message(s) from %s (node %s) were missed", missed, origin, node)
        self.stats.gap(origin)
        self.flush(origin)

    def flush(self, origin: str, *, caches: Sequence[str] = (), reason: str = "", counted: bool = True) -> None:
        """Flush `caches` (default: the gap policy's) in every target, because messages from
        `origin` may be missing (`origin` is this cluster's id when the subscription itself
        lapsed). `counted`: count it in `flushes`, by origin."""
        caches = tuple(caches or self.gap_flush or (ALL_CACHES,))
        log.error("flushing %s in every target (%s)", ", ".join(caches),
                  reason or f"messages from {origin} may be missing")
        items = tuple(Item(cache=cache, all=True) for cache in caches)
        flush = Invalidation(origin=origin, items=items, id=f"flush-{new_envelope_id()}", reason="gap-flush")
        if self._apply_everywhere(flush) and counted:
            self.stats.inc("flushes", label=origin)
