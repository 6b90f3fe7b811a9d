"""An HDR-style latency histogram: log-spaced buckets, a fixed relative precision (1%),
constant memory whatever the number of samples, percentiles read from the buckets."""

from __future__ import annotations

import math


class LatencyHistogram:
    def __init__(self, lowest: float = 1e-6, precision: float = 0.01) -> None:
        self.lowest = lowest  # seconds; anything faster counts as this
        self._log_base = math.log1p(precision)
        self.counts: dict[int, int] = {}
        self.total = 0
        self.max = 0.0
        self.sum = 0.0

    def record(self, seconds: float) -> None:
        value = max(seconds, self.lowest)
        index = int(math.log(value / self.lowest) / self._log_base)
        self.counts[index] = self.counts.get(index, 0) + 1
        self.total += 1
        self.sum += seconds
        self.max = max(self.max, seconds)

    def percentile(self, percent: float) -> float:
        """The latency under which `percent` % of samples fall (upper bound of its bucket)."""
        if not self.total:
            return 0.0
        rank = math.ceil(self.total * percent / 100)
        seen = 0
        for index in sorted(self.counts):
            seen += self.counts[index]
            if seen >= rank:
                return min(self.max, self.lowest * math.exp((index + 1) * self._log_base))
        return self.max

    def summary_ms(self) -> dict[str, float]:
        return {name: round(self.percentile(p) * 1000, 3)
                for name, p in (("p50", 50), ("p90", 90), ("p99", 99), ("p99.9", 99.9))} | {
            "max": round(self.max * 1000, 3), "mean": round(self.sum / self.total * 1000, 3) if self.total else 0.0}
