"""`/metrics`: the bridge's counters in Prometheus text format (prometheus-client).

A custom collector reads `Bridge.status()` (its `BridgeStats` included) when Prometheus
scrapes, so the bridge counts things once, in one place, and nothing here runs on the hot path.
"""

from __future__ import annotations

import time

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from prometheus_client.registry import CollectorRegistry

from cachesync_cli.bridge.stats import COUNTERS, LATENCY_BUCKETS

LABELS = {  # counters with a label, and the label's name
    "local_rejected": "reason", "rejected": "reason", "apply_failures": "target", "gaps": "origin",
    "flushes": "origin", "all_limited": "origin", "rules_reloads": "outcome",
    "intake_gaps": "origin", "intake_gaps_announced": "reason", "silence_flushes": "origin",
    "cleanup_runs": "target", "cleanup_removed": "target", "cleanup_failures": "target",
    "duplicate_cluster": "node",
    "local_legacy_shortfalls": "kind", "skipped_java_keys": "target", "unusable_keys": "cache",
}


class BridgeCollector:
    def __init__(self, bridge) -> None:
        self.bridge = bridge

    def collect(self):
        status = self.bridge.status()
        snapshot = status.stats
        counters = snapshot["counters"]
        for name, help_text in COUNTERS.items():
            label = LABELS.get(name)
            family = CounterMetricFamily(f"cachesync_{name}", help_text, labels=[label] if label else None)
            values = {lab: v for (n, lab), v in counters.items() if n == name}
            if label:
                for value_label, value in sorted(values.items()):
                    family.add_metric([value_label], value)
            else:
                family.add_metric([], sum(values.values()))
            yield family
        yield _gauge("cachesync_spool_depth", "Batches waiting in the spool for the broker.", status.spool_batches)
        yield _gauge("cachesync_spool_keys", "Keys waiting in the spool.", status.spool_keys)
        yield _gauge("cachesync_connected", "1 while connected to the broker.", int(status.connected))
        yield _gauge("cachesync_targets_failing", "Targets whose last apply failed.", len(status.failing))
        yield _gauge("cachesync_oldest_unpublished_seconds",
                     "How long the oldest local invalidation not yet confirmed by the broker has waited (0: none).",
                     status.oldest_unpublished or 0.0)
        yield _gauge("cachesync_intake_working", "1 while every local source is receiving.",
                     int(status.intake_working))
        freshness = status.freshness
        yield _gauge("cachesync_fresh", "1 while every watched cluster is heard (0 after a silence, until a "
                                        "heartbeat sent after it is applied).", int(freshness["fresh"]))
        yield _gauge("cachesync_fenced", "1 while GET /fresh answers 503 ([sync] on_silence has fence).",
                     int(status.fenced))
        silence = GaugeMetricFamily("cachesync_origin_silent_seconds",
                                    "Per watched cluster silent for longer than [sync] max_silence: seconds since "
                                    "it was last heard.", labels=["origin"])
        for origin, seconds in sorted(freshness["silent"].items()):
            silence.add_metric([origin], seconds)
        yield silence
        lag = GaugeMetricFamily("cachesync_origin_lag_seconds",
                                "Per origin: from the sender's timestamp to applied here, last message.",
                                labels=["origin"])
        for origin, ms in sorted(snapshot["lag_ms"].items()):
            lag.add_metric([origin], ms / 1000)
        yield lag
        seen = GaugeMetricFamily("cachesync_origin_last_seen_seconds", "Per origin: seconds since its last message.",
                                 labels=["origin"])
        now = time.time()
        for origin, peer in sorted(snapshot["peers"].items()):
            seen.add_metric([origin], max(0.0, now - peer.last_seen))
        yield seen
        buckets, cumulative = [], 0
        for bound, count in zip((*LATENCY_BUCKETS, float("inf")), snapshot["latency_counts"]):
            cumulative += count
            buckets.append(("+Inf" if bound == float("inf") else repr(bound), cumulative))
        yield HistogramMetricFamily("cachesync_apply_seconds", "Time to apply a message to every target.",
                                    buckets=buckets, sum_value=snapshot["latency_sum"])


def _gauge(name: str, help_text: str, value: float) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, help_text)
    family.add_metric([], value)
    return family


def bridge_registry(bridge) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(BridgeCollector(bridge))
    return registry
