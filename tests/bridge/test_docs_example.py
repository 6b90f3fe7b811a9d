"""The complete example in docs/bridge.md is a valid configuration."""

from __future__ import annotations

import re
from pathlib import Path

from cachesync_cli.config import load_config

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_bridge_doc_example_loads(tmp_path):
    text = (DOCS / "bridge.md").read_text(encoding="utf-8")
    example = re.search(r"```toml\n(.*?)```", text, re.S).group(1)
    path = tmp_path / "cachesync.toml"
    path.write_text(example)
    config = load_config(path, environ={})
    assert config["cluster.id"] == "dc-east"
    assert [s["type"] for s in config["sources"]] == ["redis-stream", "redis-channel", "http", "redis-keyspace"]
    assert [t["type"] for t in config["targets"]] == ["redis", "redis-channel", "memcached", "webhook", "command",
                                                      "directory"]
    assert config["sync.block"] == ["*/LocalOnly*"]


def test_every_counter_is_in_the_metrics_reference():
    from cachesync_cli.bridge.stats import COUNTERS

    text = (DOCS / "monitoring.md").read_text(encoding="utf-8")
    for name in COUNTERS:
        assert f"`cachesync_{name}_total" in text, name
