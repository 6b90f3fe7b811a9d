"""What `doctor` reports: a status per check, the report of a run, and its exit code.

Exit codes are Nagios's, so monitoring systems can run `doctor` as a plugin:
0 every check ok (or skipped), 1 a warning, 2 a failure, 3 unknown (bad usage, internal error).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class Status(str, enum.Enum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"

    @property
    def rank(self) -> int:
        return {Status.SKIP: 0, Status.OK: 0, Status.WARN: 1, Status.FAIL: 2}[self]


class DoctorExit(enum.IntEnum):
    """`doctor`'s exit codes (Nagios plugin convention; the other commands use ExitStatus)."""

    OK = 0
    WARNING = 1
    CRITICAL = 2
    UNKNOWN = 3


@dataclass(frozen=True)
class Detail:
    """One line of a check's result, e.g. one failover URL or one target."""

    name: str
    status: Status
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status.value, "message": self.message}


@dataclass(frozen=True)
class Outcome:
    """What a check function returns: the runner adds id, title and timing."""

    status: Status
    message: str
    hint: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)  # e.g. {"roundtrip_ms": 4.2}
    details: tuple[Detail, ...] = ()
    #: a skip that means "does not apply here" (no TLS URL, signing off): it does not
    #: block the checks that depend on this one, unlike a skip for a failed prerequisite
    not_applicable: bool = False
    #: False for a failure that leaves the next checks able to run (a threshold exceeded)
    blocking: bool = True


def ok(message: str, **kwargs: Any) -> Outcome:
    return Outcome(Status.OK, message, **kwargs)


def warn(message: str, hint: str | None = None, **kwargs: Any) -> Outcome:
    return Outcome(Status.WARN, message, hint, **kwargs)


def fail(message: str, hint: str | None = None, **kwargs: Any) -> Outcome:
    return Outcome(Status.FAIL, message, hint, **kwargs)


def not_applicable(message: str, **kwargs: Any) -> Outcome:
    return Outcome(Status.SKIP, message, not_applicable=True, **kwargs)


def worst(statuses) -> Status:
    """FAIL over WARN over OK; SKIP only when nothing else is there."""
    statuses = list(statuses)
    for status in (Status.FAIL, Status.WARN, Status.OK):
        if status in statuses:
            return status
    return Status.SKIP


@dataclass(frozen=True)
class CheckResult:
    id: str
    title: str
    status: Status
    duration_ms: float
    message: str
    hint: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    details: tuple[Detail, ...] = ()
    blocks: bool = False  # whether the checks that need this one must be skipped

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "title": self.title, "status": self.status.value,
            "duration_ms": round(self.duration_ms, 1), "message": self.message, "hint": self.hint,
            "metrics": {k: round(v, 1) for k, v in self.metrics.items()},
            "details": [d.to_json() for d in self.details],
        }


@dataclass(frozen=True)
class Thresholds:
    """Milliseconds above which connect and round-trip times warn, and fail."""

    warn_ms: float = 500.0
    crit_ms: float = 2000.0

    def judge(self, value_ms: float) -> Status:
        if value_ms > self.crit_ms:
            return Status.FAIL
        if value_ms > self.warn_ms:
            return Status.WARN
        return Status.OK


@dataclass(frozen=True)
class Report:
    results: tuple[CheckResult, ...]
    duration_ms: float
    attempts: int
    thresholds: Thresholds
    fail_on_warn: bool = False

    @property
    def status(self) -> Status:
        return worst(r.status for r in self.results)

    def count(self, status: Status) -> int:
        return sum(1 for r in self.results if r.status is status)

    @property
    def exit_code(self) -> DoctorExit:
        status = self.status
        if status is Status.FAIL or (status is Status.WARN and self.fail_on_warn):
            return DoctorExit.CRITICAL
        if status is Status.WARN:
            return DoctorExit.WARNING
        return DoctorExit.OK

    def metrics(self) -> dict[str, float]:
        merged: dict[str, float] = {}
        for result in self.results:
            merged.update(result.metrics)
        return merged

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "exit_code": int(self.exit_code),
            "summary": {s.value: self.count(s) for s in Status},
            "duration_ms": round(self.duration_ms, 1),
            "attempts": self.attempts,
            "thresholds": {"warn_ms": self.thresholds.warn_ms, "crit_ms": self.thresholds.crit_ms},
            "checks": [r.to_json() for r in self.results],
        }
