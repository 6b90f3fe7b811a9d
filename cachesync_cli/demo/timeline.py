"""The demo's timeline: each step, when it happened, how long it took, and whether it did.

The timeline is the demo's output, so it goes to stdout (a line per step as it happens, or
one JSON object with `--json`); the bridges' logs (the gap, the flushes) go to a file that
`cachesync demo` names at the end, so that no raw log line cuts through the timeline.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field


@dataclass
class Step:
    """One thing that happened (or did not) in the scenario."""

    id: str
    title: str
    ok: bool
    at_ms: float  # since the scenario started
    took_ms: float  # its latency: from its cause (B's POST) until it was seen to happen
    detail: str = ""

    def to_json(self) -> dict:
        data = asdict(self)
        data["at_ms"] = round(self.at_ms, 1)
        data["took_ms"] = round(self.took_ms, 1)
        return data


@dataclass
class Timeline:
    started: float = field(default_factory=time.monotonic)
    steps: list[Step] = field(default_factory=list)

    def elapsed_ms(self) -> float:
        return (time.monotonic() - self.started) * 1000

    def add(self, id: str, title: str, ok: bool, took_ms: float, detail: str = "") -> Step:
        step = Step(id, title, ok, self.elapsed_ms(), took_ms, detail)
        self.steps.append(step)
        return step

    @property
    def ok(self) -> bool:
        return bool(self.steps) and all(step.ok for step in self.steps)

    def failed(self) -> list[Step]:
        return [step for step in self.steps if not step.ok]

    def to_json(self, **extra) -> dict:
        return {"ok": self.ok, **extra, "steps": [step.to_json() for step in self.steps]}


def step_line(step: Step) -> str:
    """One step as rich markup, printed as it happens."""
    from rich.markup import escape

    mark = "[green]✓[/]" if step.ok else "[bold red]✗[/]"
    detail = f"  [dim]({escape(step.detail)})[/]" if step.detail else ""
    return f"{mark} [dim]{step.at_ms:8.1f} ms[/] [cyan]{step.took_ms:7.1f} ms[/]  {escape(step.title)}{detail}"


HEADER = "[dim]       at      latency  step[/]"
