"""What a bridge says of itself in its heartbeats: the optional `bridge` field (docs/wire.md §2.1).

Only bridges send it, so only it makes a cluster *watched* by the others (a `doctor` probe
is a heartbeat too, without it). It tells the receivers:

- `intake`: "ok" when every local source of the bridge is receiving, "down" when one is
  not (its Redis connection is lost...), "none" when it has no source. A bridge whose intake
  is not "ok" does not vouch for its cluster: its heartbeats do not stop the silence timer.
- `interval`: its heartbeat interval in ms, so receivers can check their `max_silence`.
- `pending`: how long (ms) its oldest local invalidation not yet confirmed by the broker has
  waited (0: none). A receiver counts the heartbeat as hearing from the cluster that much
  earlier: a bridge that is alive but cannot publish does not keep the others fresh.
- `intake_gap`: on the heartbeat sent right after a window in which local invalidations may
  have been lost (before it started, a source's outage, stream entries trimmed unread):
  `{"source": name, "reason": ..., "since": ms}`. Receivers flush, as for a sequence gap.
- `stopping`: true on the last heartbeat of a clean stop: expect silence, not "gone".
- `silent`: the clusters this bridge watches that it has not heard from for longer than its
  `max_silence`, and for how long (ms): `{"dc-b": 42000}`. `status` hears only live
  heartbeats; this is how it learns of a cluster that stopped sending. Absent when none.

Older bridges ignore the field (unknown fields are ignored, WIRE.md §2), so it is never a
new message `type`. Unknown members are ignored here too; known ones are checked.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

INTAKE_STATES = ("ok", "down", "none")
MAX_SILENT = 100  # clusters listed in `silent` at most (the longest silent are left out)


@dataclass(frozen=True)
class IntakeGapInfo:
    source: str
    reason: str
    since: int | None = None  # ms since the epoch, when known


@dataclass(frozen=True)
class BridgeInfo:
    intake: str = "ok"
    interval: int | None = None  # ms between heartbeats
    pending: int = 0  # ms the oldest unpublished local invalidation has waited
    intake_gap: IntakeGapInfo | None = None
    stopping: bool = False
    silent: Mapping[str, int] = field(default_factory=dict)  # watched cluster -> ms since heard

    @property
    def vouching(self) -> bool:
        """Whether this heartbeat says the cluster's invalidations are being taken in."""
        return self.intake == "ok" and not self.stopping


def bridge_info_to_dict(info: BridgeInfo) -> dict[str, Any]:
    result: dict[str, Any] = {"intake": info.intake}
    if info.interval is not None:
        result["interval"] = info.interval
    result["pending"] = info.pending
    if info.intake_gap is not None:
        gap: dict[str, Any] = {"source": info.intake_gap.source, "reason": info.intake_gap.reason}
        if info.intake_gap.since is not None:
            gap["since"] = info.intake_gap.since
        result["intake_gap"] = gap
    if info.stopping:
        result["stopping"] = True
    if info.silent:
        result["silent"] = dict(sorted(info.silent.items(), key=lambda kv: kv[1])[:MAX_SILENT])
    return result


def bridge_info_from_object(value: Any) -> BridgeInfo | None:
    """The `bridge` field as received, or None when absent. Raises ValueError when malformed.
    An `intake` value this version does not know counts as not vouching (safe side)."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise ValueError("bridge must be an object")
    intake = value.get("intake", "ok")
    if not isinstance(intake, str):
        raise ValueError("bridge.intake must be a string")
    interval = value.get("interval")
    if interval is not None and (isinstance(interval, bool) or not isinstance(interval, int) or interval <= 0):
        raise ValueError("bridge.interval must be a positive integer (ms)")
    pending = value.get("pending", 0)
    if isinstance(pending, bool) or not isinstance(pending, int) or pending < 0:
        raise ValueError("bridge.pending must be a non-negative integer (ms)")
    stopping = value.get("stopping", False)
    if not isinstance(stopping, bool):
        raise ValueError("bridge.stopping must be true or false")
    return BridgeInfo(intake=intake, interval=interval, pending=pending, intake_gap=_gap(value.get("intake_gap")),
                      stopping=stopping, silent=_silent(value.get("silent")))


def _silent(value: Any) -> dict[str, int]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(
            isinstance(ms, int) and not isinstance(ms, bool) and ms >= 0 for ms in value.values()):
        raise ValueError("bridge.silent must map cluster ids to non-negative integers (ms)")
    return dict(value)


def _gap(value: Any) -> IntakeGapInfo | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise ValueError("bridge.intake_gap must be an object")
    source, reason, since = value.get("source"), value.get("reason"), value.get("since")
    if not isinstance(source, str) or not isinstance(reason, str) or not reason:
        raise ValueError("bridge.intake_gap needs string source and reason")
    if since is not None and (isinstance(since, bool) or not isinstance(since, int) or since < 0):
        raise ValueError("bridge.intake_gap.since must be a non-negative integer (ms)")
    return IntakeGapInfo(source=source, reason=reason, since=since)
