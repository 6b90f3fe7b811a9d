"""The local side of a bridge: sources of this cluster's invalidations, targets for the others'.

A `Source` watches something in this cluster (a Redis channel, an HTTP endpoint, Redis
keyspace notifications) and hands each `LocalMessage` to the bridge. A `Target` applies
an `Invalidation` from another cluster (delete keys in Redis or memcached, call a webhook,
run a command, delete files). Both are built from one `[[sources]]`/`[[targets]]` entry of
the config; their drivers (redis, pymemcache) are imported inside their own modules.

Threading: a source runs its own thread(s) and calls `emit` from them; `emit` is short
(it queues). A target's `apply` is called from the bridge's apply thread, one at a time.
"""

from __future__ import annotations

import abc
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from cachesync_cli.errors import CachesyncError
from cachesync_cli.local.intake import Intake
from cachesync_cli.local.leg_guard import LegGuard
from cachesync_cli.wire.envelope import Item, Tenant
from cachesync_cli.wire.local import LocalMessage


class TargetError(CachesyncError):
    """A target could not apply an invalidation (unreachable, refused). The bridge retries."""


class SourceError(CachesyncError):
    """A source cannot run (bad address, unreachable service)."""


@dataclass(frozen=True)
class Invalidation:
    """What a target applies: the items of one message from another cluster, or a flush.

    In a gap flush (`reason == "gap-flush"`) the items are `all` items whose cache names are
    patterns: `*` means every cache the target holds (`[sync] gap_flush` may name others).
    Everywhere else cache names are literal."""

    origin: str
    items: tuple[Item, ...]
    tenant: Tenant | None = None
    id: str = ""  # the envelope id, for logs; "flush-..." for a gap flush
    reason: str = "remote"  # "remote" or "gap-flush"


EmitFn = Callable[[LocalMessage], None]
RejectFn = Callable[[str, str], None]  # (reason, detail): bad local input, counted and logged


class EchoGuard:
    """Keys a target deleted a moment ago, so a keyspace source does not mirror them back.

    A remote invalidation applied to Redis makes Redis announce the deletes; without this
    guard the bridge would publish them again as its own (a loop between clusters). Only
    namespaces a keyspace source `watch`es are remembered: a bridge without one keeps
    nothing. Entries stay `window` seconds, kept in the order they were noted so that
    forgetting the expired ones only looks at those."""

    def __init__(self, window: float = 10.0) -> None:
        self.window = window
        self._lock = threading.Lock()
        self._watched: set[str] = set()
        self._until: OrderedDict[tuple[str, str], float] = OrderedDict()

    def watch(self, namespace: str) -> None:
        """A keyspace source reads `namespace`: remember the deletes targets make there."""
        with self._lock:
            self._watched.add(namespace)

    def note(self, namespace: str, keys: list[str] | tuple[str, ...]) -> None:
        """`keys` of `namespace` (e.g. a Redis URL) are being deleted by a target now."""
        if namespace not in self._watched:
            return
        now = time.monotonic()
        until = now + self.window
        with self._lock:
            for key in keys:
                entry = (namespace, key)
                self._until[entry] = until
                self._until.move_to_end(entry)
            while self._until:
                entry, oldest = next(iter(self._until.items()))
                if oldest >= now:
                    break
                del self._until[entry]

    def is_echo(self, namespace: str, key: str) -> bool:
        with self._lock:
            until = self._until.pop((namespace, key), None)
        return until is not None and until >= time.monotonic()


@dataclass(frozen=True)
class LocalContext:
    """What sources and targets may share, handed to their constructors."""

    cluster: str
    echo_guard: EchoGuard
    environ: Mapping[str, str]
    #: where sources report whether they receive, and windows in which they could not
    intake: Intake = field(default_factory=Intake)
    #: what broker legs delivered a moment ago (their sources skip its echoes)
    leg_guard: LegGuard = field(default_factory=LegGuard)
    #: the bridge's limit on `all` per origin (`[sync] all_rate`, `all_burst`): makes a new
    #: token bucket set (bridge/all_limit.py) for a source whose input has origins of its own
    #: (IS nodes on a broker leg); None outside a bridge (doctor)
    new_all_limiter: Callable[[], Any] | None = None


class Target(abc.ABC):
    type: ClassVar[str]
    #: whether it can use Java object keys (items' `java_keys`, WSO2 IS key objects): a target
    #: that cannot is handed the invalidation without them, and the bridge counts what it skipped
    accepts_java_keys: ClassVar[bool] = False

    def __init__(self, name: str, options: Mapping[str, Any], context: LocalContext) -> None:
        self.name = name
        self.options = options
        self.context = context

    @abc.abstractmethod
    def apply(self, invalidation: Invalidation) -> None:
        """Apply it; idempotent (may be called again for the same invalidation). Raise
        TargetError when it could not be applied (the bridge retries and reports)."""

    @abc.abstractmethod
    def check(self) -> None:
        """Raise TargetError when the target is not reachable now (health, doctor)."""

    def close(self) -> None:
        """Release connections. Targets holding none need not override this."""

    def describe(self) -> str:
        return f"{self.type} target {self.name!r}"


class Source(abc.ABC):
    type: ClassVar[str]
    #: True when nothing given to it is lost while the bridge is not running (a stream it reads
    #: again, a request it answers only once published); False for pub/sub, where what is
    #: published while nobody listens is gone: the bridge then announces an intake gap.
    durable: ClassVar[bool] = False

    def __init__(self, name: str, options: Mapping[str, Any], context: LocalContext) -> None:
        self.name = name
        self.options = options
        self.context = context

    @abc.abstractmethod
    def start(self, emit: EmitFn, reject: RejectFn) -> None:
        """Start watching (in threads of its own): `emit` each valid local message, `reject`
        each invalid one with a reason. Raise SourceError when it cannot start."""

    @abc.abstractmethod
    def stop(self) -> None:
        """Stop taking input; return once no more `emit` calls will be made."""

    @abc.abstractmethod
    def check(self) -> None:
        """Raise SourceError when what the source watches is not reachable now."""

    def describe(self) -> str:
        return f"{self.type} source {self.name!r}"
