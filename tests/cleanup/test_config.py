"""[[cleanup]] entries: one validation path with the file, entry and key in every error."""

from __future__ import annotations

from pathlib import Path

import pytest

from cachesync_cli.config import load_config
from cachesync_cli.errors import ConfigError

DOCS = Path(__file__).resolve().parents[2] / "docs"


def load(tmp_path, text: str):
    path = tmp_path / "cachesync.toml"
    path.write_text(text)
    return load_config(path, environ={})


def test_entries_get_defaults_and_durations_in_seconds(tmp_path):
    config = load(tmp_path, '''
[[cleanup]]
type = "redis"
policy = "max_idle"
max_idle = "1h30m"
every = "10m"
jitter = 30

[[cleanup]]
type = "directory"
name = "files"
path = "/var/cache/app"
policy = "max_age"
max_age = "7d"
cron = "0 3 * * *"

[[cleanup]]
type = "memcached"
servers = ["10.0.0.1:11211"]
''')
    redis, files, memcached = config["cleanup"]
    assert redis["name"] == "redis-1" and redis["max_idle"] == 5400 and redis["every"] == 600
    assert redis["jitter"] == 30 and redis["template"] == "{cache}:{key}" and redis["scan_count"] == 1000
    assert files["name"] == "files" and files["max_age"] == 7 * 86400 and files["cron"] == "0 3 * * *"
    assert memcached["policy"] == "all" and memcached["every"] is None


@pytest.mark.parametrize("body, message, hint", [
    ('type = "reddis"', r"\[\[cleanup\]\] #1: type 'reddis' is not a kind of cleanup target", "did you mean 'redis'"),
    ('type = "redis"\nmax_idel = "1h"', r"#1 \(redis\): unknown key 'max_idel'", "did you mean 'max_idle'"),
    ('type = "redis"\npolicy = "max_idle"', r"policy = \"max_idle\" needs max_idle", None),
    ('type = "redis"\nmax_idle = "1h"', r"max_idle applies only to policy = \"max_idle\"", None),
    ('type = "redis"\npolicy = "max_age"\nmax_age = "1d"', r"policy: policy 'max_age' is not possible for redis: "
                                                           r"Redis keeps no creation time", None),
    ('type = "memcached"\npolicy = "max_age"', r"not possible for memcached: memcached cannot list keys or their ages",
     None),
    ('type = "memcached"\ncaches = ["A"]', r"caches: memcached cannot list keys: cleanup flushes whole servers", None),
    ('type = "directory"\npath = "/x"\npolicy = "ttl"', r"not possible for directory", None),
    ('type = "redis"\nevery = "10 minutes"', r"every: '10 minutes' is not a duration", None),
    ('type = "redis"\ncron = "*/15 * * *"', r"cron: '\*/15 \* \* \*': a cron expression has 5 fields", None),
    ('type = "redis"\nevery = "1m"\ncron = "* * * * *"', r"either every or cron, not both", None),
    ('type = "redis"\njitter = "1m"', r"jitter needs a schedule", None),
    ('type = "directory"', r"path is required", None),
])
def test_errors_name_the_file_entry_and_key(tmp_path, body, message, hint):
    with pytest.raises(ConfigError, match=message) as caught:
        load(tmp_path, f"[[cleanup]]\n{body}\n")
    assert str(tmp_path / "cachesync.toml") in caught.value.message
    if hint:
        assert hint in caught.value.hint


def test_a_misspelt_array_suggests_cleanup(tmp_path):
    with pytest.raises(ConfigError, match="unknown key 'clenup'") as caught:
        load(tmp_path, '[[clenup]]\ntype = "redis"\n')
    assert "did you mean 'cleanup'" in caught.value.hint


def test_docs_reference_matches_the_registry():
    from cachesync_cli.cleanup.reference import reference_markdown

    text = (DOCS / "cleanup.md").read_text(encoding="utf-8")
    assert reference_markdown() in text, "regenerate: python -m cachesync_cli.cleanup.reference"


def test_docs_examples_are_valid(tmp_path):
    text = (DOCS / "cleanup.md").read_text(encoding="utf-8")
    blocks = [b.split("```", 1)[0] for b in text.split("```toml\n")[1:]]
    assert len(blocks) >= 1
    for block in blocks:
        load(tmp_path, block)
