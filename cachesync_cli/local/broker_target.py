"""`BrokerTarget`: the other clusters' invalidations published on a cluster-local broker topic
(WSO2 IS nodes' cache-sync topic), the target half of a broker leg (docs/local.md).

Each key goes out as the IS connector's message (`codec = "wso2"`, one key per message,
string keys and Java object keys exactly as they came) or as a native envelope, under the
producer name `cachesync-bridge/<cluster>` (`leg_guard.RESERVED_PREFIX`), which every broker
source skips; what it publishes is noted in the `LegGuard` first, so that an IS node
re-publishing it (hybrid mode) is not taken for a new invalidation of this cluster.

Tenants: an invalidation's tenant as it came; one named only by its domain gets its id from
`tenants` (never a guess; unknown: skipped, logged); one without a tenant goes to every
configured tenant. A flush (messages from another cluster may be lost) becomes a clear-all
marker of each `flush` cache its patterns name (`*`: every one; `flush` itself holds literal
manager/cache names: IS creates any cache it is told about), once per configured tenant, at most once per `flush_interval` (one asked for
meanwhile goes out when the interval is over). IS nodes never confirm them.
"""

from __future__ import annotations

import logging
import threading
import time
from fnmatch import fnmatchcase

from cachesync_cli.errors import TransportError, UsageError
from cachesync_cli.local.base import Invalidation, Target, TargetError
from cachesync_cli.local.leg_connection import check_leg, leg_connection
from cachesync_cli.local.leg_guard import leg_producer
from cachesync_cli.publisher import Publisher
from cachesync_cli.wire import Item, Tenant

log = logging.getLogger("cachesync.local")

PUBLISH_TIMEOUT = 10.0


class BrokerTarget(Target):
    type = "broker"
    accepts_java_keys = True  # IS nodes read object keys: they are delivered as their exact bytes

    def __init__(self, name, options, context) -> None:
        super().__init__(name, options, context)
        self.topic = options["topic"]
        self.codec = options["codec"]
        self.tenants = [Tenant(t["domain"], t["id"]) for t in options["tenants"] or ()]
        self.flush_items = tuple(Item(cache=cache, manager=manager, all=True)
                                 for manager, _, cache in (name.partition("/") for name in options["flush"]))
        self.flush_interval = options["flush_interval"]
        self.echo_window = options["echo_window"]
        self.guard = context.leg_guard
        producer = leg_producer(context.cluster)
        self.publisher = Publisher(self.topic, origin=producer, codec=self.codec, producer=producer,
                                   wso2_format=options["wso2_format"], on_unfit=self._unfit)
        self._connection = None
        self._lock = threading.Lock()  # publishing: the applying thread and a deferred flush
        self._last_flush = -1e9
        self._timer: threading.Timer | None = None
        self._pending: set[str] = set()  # cache patterns of flushes not sent yet
        self._warned: set[str] = set()

    def describe(self) -> str:
        return f"broker target {self.name!r} (topic {self.topic})"

    # -- Target -------------------------------------------------------------------------------

    def apply(self, invalidation: Invalidation) -> None:
        if invalidation.reason == "gap-flush":
            self._flush(invalidation.origin, [item.cache for item in invalidation.items])
            return
        items = invalidation.items
        if self.codec == "wso2":
            items = tuple(item for item in items if item.manager or self._warn_once(
                f"no-manager:{item.cache}", "%s: cache %r from %s has no cache manager, which IS needs: not "
                "delivered (add \"manager\" where it is invalidated)", self.describe(), item.cache,
                invalidation.origin))
        for tenant in self._tenants(invalidation.tenant, invalidation.origin):
            self._publish(items, tenant)

    def check(self) -> None:
        check_leg(self.options, self.context.environ, f"[[targets]] {self.name!r}",
                  lambda message, hint: TargetError(message, hint=hint), self.describe())

    def close(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    # -- tenants ------------------------------------------------------------------------------

    def _tenants(self, tenant: Tenant | None, origin: str) -> list[Tenant | None]:
        if self.codec == "native" or (tenant is not None and tenant.id is not None):
            return [tenant]
        if tenant is None:
            return list(self.tenants)
        known = [t for t in self.tenants if t.domain == tenant.domain]
        if not known:
            self._warn_once(f"tenant:{tenant.domain}", "%s: tenant %r from %s has no id and is not in tenants: "
                            "not delivered (add it: {domain = ..., id = ...})", self.describe(), tenant.domain,
                            origin)
        return known[:1]

    def _warn_once(self, what: str, *args) -> bool:
        if what not in self._warned and len(self._warned) < 1000:
            self._warned.add(what)
            log.warning(*args)
        return False

    # -- publishing ---------------------------------------------------------------------------

    def _publish(self, items, tenant: Tenant | None) -> None:
        if not items:
            return
        with self._lock:
            self.guard.note(self.topic, tenant, items, self.echo_window)  # before IS can echo it
            try:
                connection = self._connected()
                for message in self.publisher.messages(items, tenant=tenant):
                    connection.publish(self.topic, message.body, message.headers, confirm=True,
                                       timeout=PUBLISH_TIMEOUT)
            except UsageError as exc:  # e.g. jms.durable.topic refusing what is not a WSO2 TextMessage
                self._warn_once(f"unusable:{exc}", "%s: cannot deliver: %s", self.describe(), exc)
            except TransportError as exc:
                raise TargetError(f"{self.describe()}: {exc}") from None

    def _connected(self):
        if self._connection is None:
            connection = leg_connection(self.options, self.context.environ, f"[[targets]] {self.name!r}",
                                        client_id=None)
            connection.open()
            self._connection = connection
        return self._connection

    def _unfit(self, fit, tenant) -> None:
        log.warning("%s: %d key(s) the legacy text cannot carry or too large: clear-all of their cache instead",
                    self.describe(), fit.uncarried_keys + fit.oversized_keys)

    def _flush(self, origin: str, patterns) -> None:
        """Clear-alls of the `flush` caches the flush's patterns name (`*`: all), for every
        tenant: now, or once `flush_interval` is over (what is asked meanwhile is merged)."""
        with self._lock:
            self._pending.update(patterns)
            wait = self._last_flush + self.flush_interval - time.monotonic()
            if wait > 0:
                if self._timer is None:
                    log.warning("%s: a flush for %s within %gs of the last one: sending it in %.1fs",
                                self.describe(), origin, self.flush_interval, wait)
                    self._timer = threading.Timer(wait, self._deferred_flush, (origin,))
                    self._timer.daemon = True
                    self._timer.start()
                return
            self._last_flush = time.monotonic()
            patterns, self._pending = self._pending, set()
        items = tuple(item for item in self.flush_items if any(_named(pattern, item) for pattern in patterns))
        if not items:
            return
        log.warning("%s: clear-all of %d cache(s) for %d tenant(s) because messages from %s may be lost (IS nodes "
                    "do not confirm it)", self.describe(), len(items), len(self.tenants) or 1, origin)
        try:
            for tenant in self.tenants or [None]:
                self._publish(items, tenant)
        except TargetError:
            with self._lock:
                self._pending.update(patterns)
                self._last_flush = -1e9
            raise

    def _deferred_flush(self, origin: str) -> None:
        with self._lock:
            self._timer = None
        try:
            self._flush(origin, ())
        except TargetError as exc:
            log.error("%s: the deferred flush failed (%s): trying again in %gs", self.describe(), exc,
                      self.flush_interval)
            with self._lock:
                if self._timer is None:
                    self._timer = threading.Timer(self.flush_interval, self._deferred_flush, (origin,))
                    self._timer.daemon = True
                    self._timer.start()


def _named(pattern: str, item: Item) -> bool:
    """Whether a flush's cache pattern (`*`, `OAuth*`, `manager/cache`) names `item`'s cache."""
    if "/" in pattern:
        return fnmatchcase(f"{item.manager}/{item.cache}", pattern)
    return fnmatchcase(item.cache, pattern)
