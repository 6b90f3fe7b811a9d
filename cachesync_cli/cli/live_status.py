"""The live status `cachesync run` shows on a terminal: broker, rates, peers, spool, targets."""

from __future__ import annotations

import time

from rich.console import Group
from rich.text import Text

from cachesync_cli.cli.output import new_table


class LiveStatus:
    """Renders a bridge's `status()`; rates are computed between two renders."""

    def __init__(self, bridge) -> None:
        self.bridge = bridge
        self._last: tuple[float, dict] | None = None

    def _rates(self, counters: dict) -> dict[str, float]:
        now = time.monotonic()
        totals = {name: sum(v for (n, _), v in counters.items() if n == name)
                  for name in ("published_keys", "applied_keys", "received", "rejected")}
        rates = {name: 0.0 for name in totals}
        if self._last is not None:
            elapsed = max(1e-6, now - self._last[0])
            rates = {name: (totals[name] - self._last[1][name]) / elapsed for name in totals}
        self._last = (now, totals)
        return rates

    def __rich__(self) -> Group:
        status = self.bridge.status()
        snapshot = status.stats
        rates = self._rates(snapshot["counters"])
        total = status.total
        head = Text.assemble(
            ("cachesync run ", "bold"), (status.cluster, "bold cyan"), "  broker ",
            (status.broker or "-", "cyan"), f" ({status.server}) ",
            ("connected", "green") if status.connected else ("reconnecting", "bold red"),
        )
        waited = status.oldest_unpublished
        flow = Text(
            f"out {rates['published_keys']:.0f} keys/s ({total('published_keys')} total)   "
            f"in {rates['applied_keys']:.0f} keys/s ({total('applied_keys')} applied)\n"
            f"rejected {total('rejected')}   spool {status.spool_batches} batch(es), {status.spool_keys} key(s)"
            + (f"   oldest unpublished {waited:.1f}s" if waited else "")
        )
        last_gap = snapshot["last_gap"]
        gap = Text(f"last gap: {time.strftime('%H:%M:%S', time.localtime(last_gap[0]))} from {last_gap[1]} "
                   f"(flushes {total('flushes')})" if last_gap else "last gap: none", style="red" if last_gap else "")
        peers = new_table("origin", "node", "seq", "last seen", "lag", box=None, title="clusters", title_justify="left")
        now = time.time()
        for origin, peer in sorted(snapshot["peers"].items()):
            lag = snapshot["lag_ms"].get(origin)
            peers.add_row(origin, peer.node, str(peer.last_seq), f"{now - peer.last_seen:.0f}s ago",
                          "-" if lag is None else f"{lag} ms")
        targets = new_table("target", "state", box=None, title="targets", title_justify="left")
        for name in status.targets:
            failing = status.failing.get(name)
            targets.add_row(name, Text(f"failing: {failing}", style="red") if failing else Text("ok", "green"))
        for text in (head, flow, gap):  # wrap on a narrow terminal (the console soft-wraps), never cut
            text.no_wrap, text.overflow = False, "fold"
        parts = [head, flow, gap, peers, targets]
        if status.duplicate_nodes:
            parts.insert(1, Text(f"ANOTHER BRIDGE RUNS WITH CLUSTER ID {status.cluster} (node "
                                 f"{', '.join(status.duplicate_nodes)}): each misses messages and flushes; run one "
                                 f"bridge per cluster id", style="bold red"))
        if status.cleanup is not None:
            cleanup = new_table("cleanup", "schedule", "runs", "last", "next", box=None, title="cleanup",
                                title_justify="left")
            for job in status.cleanup:
                last = job["last"]
                last_text = "-" if last is None else f"{last['status']}, {last['removed']} removed"
                next_text = "-" if not job["next_at"] else time.strftime("%H:%M:%S", time.localtime(job["next_at"]))
                cleanup.add_row(job["target"], job["schedule"], str(job["runs"]), last_text, next_text)
            parts.append(cleanup)
        return Group(*parts)
