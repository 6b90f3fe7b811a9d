"""A cleanup target (`Cleaner`) and what one run of it reports (`RunResult`).

A cleaner is built from one validated `[[cleanup]]` entry. `run()` takes its lock, cleans
batch by batch, checks the stop flag between batches, and always returns a `RunResult`:
errors are recorded in it, never raised, so one failing target cannot stop the others.
"""

from __future__ import annotations

import abc
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any, ClassVar

from cachesync_cli.errors import CachesyncError
from cachesync_cli.local.base import LocalContext

log = logging.getLogger("cachesync.cleanup")

ListFn = Callable[[str], None]  # called with each key/file that goes (dry run listing)


class LockHeld(CachesyncError):
    """Another run holds this target's lock: this run is skipped."""


class CleanupError(CachesyncError):
    """A cleanup could not do (all of) its work: the store is unreachable, refused, lock lost."""


@dataclass
class RunResult:
    """One run of one target: the stable `--json` object (docs/cleanup.md)."""

    target: str
    type: str
    policy: str
    dry_run: bool = False
    status: str = "ok"  # ok | failed | locked | stopped
    scanned: int = 0
    removed: int = 0  # removed (or, in a dry run, that would be); ttl policy: keys given a TTL
    bytes_freed: int | None = None  # None: the store does not say
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)
    started_at: str = ""

    @property
    def failed(self) -> bool:
        return self.status == "failed"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class Cleaner(abc.ABC):
    """One `[[cleanup]]` target. Subclasses implement `_lock` and `_clean`."""

    type: ClassVar[str]

    def __init__(self, name: str, options: Mapping[str, Any], context: LocalContext) -> None:
        self.name = name
        self.options = options
        self.context = context
        self.policy: str = options["policy"]
        self.caches: list[str] | None = options.get("caches")

    def describe(self) -> str:
        return f"{self.type} cleanup {self.name!r}"

    @abc.abstractmethod
    def _lock(self):
        """A context manager holding this target's lock; raises LockHeld when another run has it."""

    @abc.abstractmethod
    def _clean(self, result: RunResult, stop: threading.Event, dry_run: bool, listing: ListFn | None) -> None:
        """Do the work, adding to `result`; return early when `stop` is set (result.status =
        "stopped"). Raise CleanupError (or record errors in result) when something failed."""

    def close(self) -> None:
        """Release connections; cleaners holding none need not override this."""

    def driver_errors(self) -> tuple[type[BaseException], ...]:
        """The driver's exceptions that mean "the store could not do it" (reported without a traceback)."""
        return (OSError,)

    def run(self, stop: threading.Event | None = None, *, dry_run: bool = False,
            listing: ListFn | None = None) -> RunResult:
        stop = stop or threading.Event()
        result = RunResult(self.name, self.type, self.policy, dry_run=dry_run,
                           started_at=datetime.now(timezone.utc).isoformat(timespec="seconds"))
        began = time.monotonic()
        try:
            with self._lock():
                self._clean(result, stop, dry_run, listing)
        except LockHeld as exc:
            result.status = "locked"
            result.errors.append(str(exc))
        except CachesyncError as exc:
            result.errors.append(str(exc))
        except Exception as exc:  # noqa: BLE001 report, go on with the other targets
            if not isinstance(exc, self.driver_errors()):
                log.exception("%s failed unexpectedly", self.describe())
            result.errors.append(f"{self.describe()}: {type(exc).__name__}: {exc}")
        if result.errors and result.status not in ("locked",):
            result.status = "failed"
        result.seconds = round(time.monotonic() - began, 3)
        return result


def summary(result: RunResult) -> str:
    """One line for people and logs: what a run did."""
    verb = {"ttl": "gave a TTL to"}.get(result.policy, "removed")
    if result.dry_run:
        verb = "would have " + ("given a TTL to" if result.policy == "ttl" else "removed")
    freed = f", {format_bytes(result.bytes_freed)} freed" if result.bytes_freed else ""
    text = (f"cleanup {result.target} ({result.type}, {result.policy}): {verb} {result.removed} of "
            f"{result.scanned} scanned{freed} in {result.seconds:.2f} s")
    if result.status != "ok":
        text += f" [{result.status}]"
    if result.errors:
        text += ": " + "; ".join(result.errors)
    return text


def log_result(result: RunResult) -> None:
    level = {"ok": logging.INFO, "stopped": logging.WARNING, "locked": logging.WARNING}.get(result.status, logging.ERROR)
    log.log(level, "%s", summary(result))


def format_bytes(size: int | None) -> str:
    if size is None:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return str(size)
