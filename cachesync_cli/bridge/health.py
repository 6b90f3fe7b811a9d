"""Is the bridge ready? Subscribed to the broker, and every target reachable.

`health()` returns a report whose `problems` say what is not ready, in words an operator
can act on. Target checks are cached for a moment, so a busy health probe does not
hammer Redis or the webhooks.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

CHECK_TTL = 2.0  # seconds a target check result is reused


@dataclass
class HealthReport:
    ready: bool
    state: str
    broker: str
    problems: list[str] = field(default_factory=list)
    targets: dict[str, str] = field(default_factory=dict)  # name -> "ok" or the error
    intake: dict[str, str] = field(default_factory=dict)  # sources not receiving -> why
    oldest_unpublished_seconds: float | None = None
    duplicate_nodes: list[str] = field(default_factory=list)  # other bridges of this cluster id, heard lately

    def to_json(self) -> dict:
        return {"status": "ok" if self.ready else "unavailable", "state": self.state, "broker": self.broker,
                "problems": self.problems, "targets": self.targets, "intake_down": self.intake,
                "oldest_unpublished_seconds": self.oldest_unpublished_seconds,
                "duplicate_nodes": self.duplicate_nodes}


class HealthCheck:
    """Reads `Bridge.status()`; checks each target itself (`Bridge.check_target`), cached."""

    def __init__(self, bridge) -> None:
        self.bridge = bridge
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, str]] = {}

    def _target_status(self, name: str) -> str:
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(name)
            if cached and now - cached[0] < CHECK_TTL:
                return cached[1]
        try:
            self.bridge.check_target(name)
            status = "ok"
        except Exception as exc:  # any failure of a check is "not reachable", with its words
            status = str(exc) or type(exc).__name__
        with self._lock:
            self._cache[name] = (now, status)
        return status

    def report(self) -> HealthReport:
        status = self.bridge.status()
        report = HealthReport(ready=True, state=status.state, broker=status.broker)
        if status.failure is not None:
            report.problems.append(f"broker: {status.failure}")
        elif not status.connected:
            report.problems.append("broker: not connected (reconnecting)")
        if status.state != "running":
            report.problems.append(f"bridge: {status.state}")
        for name in status.targets:
            reachable = self._target_status(name)
            failing = status.failing.get(name)
            if reachable == "ok" and failing:
                reachable = f"last apply failed: {failing}"
            report.targets[name] = reachable
            if reachable != "ok":
                report.problems.append(f"target {name}: {reachable}")
        # A source that is not receiving is reported, not made a readiness problem: the
        # others flush for it (its heartbeats stop vouching), and a Redis blip must not take
        # the pod out of its service.
        report.duplicate_nodes = list(status.duplicate_nodes)
        if report.duplicate_nodes:  # it misses messages and flushes: not a bridge to rely on
            report.problems.append(f"cluster id {status.cluster} is used by another running bridge too (node "
                                   f"{', '.join(report.duplicate_nodes)}): run one bridge per cluster id")
        report.intake = dict(status.intake_down)
        waited = status.oldest_unpublished
        report.oldest_unpublished_seconds = None if waited is None else round(waited, 3)
        report.ready = not report.problems
        return report
