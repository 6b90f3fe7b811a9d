"""Key templates both ways, every registry path importable and buildable offline, docs in sync."""

from __future__ import annotations

from pathlib import Path

import pytest

from cachesync_cli.local.base import Source, Target
from cachesync_cli.local.key_template import KeyTemplate, MissingValue, escape_glob
from cachesync_cli.local.redis_common import redis_db, redis_namespace, redis_safe_url
from cachesync_cli.entries import SOURCE_TYPES, TARGET_TYPES, build_source, build_target, validate_entry

from .conftest import entry


def test_render_parse_and_glob():
    template = KeyTemplate("{tenant}:{cache}:{key}")
    assert template.render("App", "user:1", "t.com") == "t.com:App:user:1"
    assert template.parse("t.com:App:user:1") == {"tenant": "t.com", "cache": "App", "key": "user:1"}
    assert template.parse("nocolons") is None
    assert template.glob("a*b", "t?[x]") == r"t\?\[x\]:a\*b:*"
    with pytest.raises(MissingValue, match="tenant"):
        template.render("App", "k")
    suffix = KeyTemplate("cache/{cache}/{key}.v1")
    assert suffix.parse("cache/App/a.v1.v1") == {"cache": "App", "key": "a.v1"}
    assert suffix.parse("cache/App/a") is None
    assert suffix.prefix("App") == "cache/App/"
    assert KeyTemplate("{cache}:{key}:{cache}").parse("A:k:A") == {"cache": "A", "key": "k"}
    assert KeyTemplate("{cache}:{key}:{cache}").parse("A:k:B") is None
    assert escape_glob("a\\b") == "a\\\\b"


def test_redis_namespace_ignores_credentials_and_spelling():
    assert redis_namespace("redis://:pw@localhost:6379/3") == "redis://127.0.0.1:6379/3"
    assert redis_namespace("redis://127.0.0.1") == "redis://127.0.0.1:6379/0"
    assert redis_namespace("rediss://cache.example:6380/?db=2") == "redis://cache.example:6380/2"
    assert redis_db("redis://h/12") == 12
    assert "pw" not in redis_safe_url("redis://user:pw@h:1/0")


OFFLINE = {
    "redis-channel": {"url": "redis://127.0.0.1:1/0"},
    "http": {"listen": "127.0.0.1:0"},
    "redis-keyspace": {"url": "redis://127.0.0.1:1/0"},
    "redis-stream": {"url": "redis://127.0.0.1:1/0"},
    "redis": {"url": "redis://127.0.0.1:1/0"},
    "memcached": {"servers": ["127.0.0.1:1"]},
    "webhook": {"urls": ["http://127.0.0.1:1/"]},
    "command": {"argv": ["true"]},
    "directory": {"path": "/nonexistent"},
    "broker": {"url": "stomp://127.0.0.1:1", "topic": "is"},
}
OFFLINE_TARGETS = {**OFFLINE, "broker": {**OFFLINE["broker"], "tenants": [{"domain": "carbon.super", "id": -1234}],
                                         "flush": ["M/C"]}}


@pytest.mark.parametrize("kind", SOURCE_TYPES)
def test_every_source_type_builds_with_its_service_down(kind, context):
    source = build_source(entry("sources", type=kind, **OFFLINE[kind]), context)
    assert isinstance(source, Source) and source.type == kind


@pytest.mark.parametrize("kind", TARGET_TYPES)
def test_every_target_type_builds_with_its_service_down(kind, context):
    target = build_target(entry("targets", type=kind, **OFFLINE_TARGETS[kind]), context)
    assert isinstance(target, Target) and target.type == kind


def test_docs_match_the_registry():
    from cachesync_cli.local.reference import reference_markdown

    docs = (Path(__file__).resolve().parents[2] / "docs" / "local.md").read_text(encoding="utf-8")
    assert reference_markdown() in docs, "regenerate: python -m cachesync_cli.local.reference"


def test_docs_example_entries_are_valid():
    import re
    import tomllib

    docs = (Path(__file__).resolve().parents[2] / "docs" / "local.md").read_text(encoding="utf-8")
    example = tomllib.loads(re.search(r"## Example\n\n```toml\n(.*?)```", docs, re.DOTALL).group(1))
    assert len(example["sources"]) == 4 and len(example["targets"]) == 6
    for array in ("sources", "targets"):
        for index, fields in enumerate(example[array]):
            validate_entry(array, index, fields, "docs/local.md")
