"""One output convention: --format everywhere, the old --json flags as aliases, --template refusing
what is not a documented field. Run as a user types it; nothing here needs a broker."""

from __future__ import annotations

import json

import pytest

from .run import cachesync


@pytest.mark.parametrize("template,message", [
    ("{nope}", "unknown field {nope}"),
    ("{origin.__class__}", "unknown field {origin.__class__}"),
    ("{keys[0]}", "unknown field {keys[0]}"),
    ("{}", "unknown field {}"),
    ("{seq:{width}}", "nested fields are not supported"),
    ("{origin", "expected '}'"),
    ("no fields", "names no field"),
])
def test_a_template_with_anything_but_its_fields_is_refused_naming_the_valid_ones(template, message):
    result = cachesync("tail", "--broker", "amqp://127.0.0.1:1/", "--template", template)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert "valid fields: time, ts, type, origin" in result.stderr or "nested" in message


def test_status_template_lists_its_own_fields():
    result = cachesync("status", "--broker", "amqp://127.0.0.1:1/", "--template", "{keys}")
    assert result.returncode == 2
    assert "unknown field {keys}" in result.stderr and "valid fields: origin, node, last_seen" in result.stderr


def test_template_and_format_are_one_or_the_other():
    result = cachesync("tail", "--broker", "amqp://127.0.0.1:1/", "--template", "{origin}", "--format", "raw")
    assert result.returncode == 2 and "leave out --format raw" in result.stderr


def test_config_show_format_json_and_its_old_alias_agree(tmp_path):
    config = tmp_path / "cachesync.toml"
    config.write_text('[cluster]\nid = "dc-east"\n')
    new = cachesync("config", "show", "-c", str(config), "--format", "json")
    old = cachesync("config", "show", "-c", str(config), "--json")
    assert new.returncode == old.returncode == 0, new.stderr + old.stderr
    assert json.loads(new.stdout) == json.loads(old.stdout)
    assert json.loads(new.stdout)["settings"]["cluster.id"]["value"] == "dc-east"
    bad = cachesync("config", "show", "-c", str(config), "--format", "yaml")
    assert bad.returncode == 2 and "must be one of table, json" in bad.stderr


def test_invalidate_dry_run_format_json_and_alias(tmp_path):
    args = ("invalidate", "AppInfoCache", "k1", "--dry-run", "--broker", "amqp://127.0.0.1:1/")
    new, old = cachesync(*args, "--format", "json"), cachesync(*args, "--json")
    assert new.returncode == old.returncode == 0, new.stderr
    assert json.loads(new.stdout)["keys"] == json.loads(old.stdout)["keys"] == 1


def test_cleanup_format_ndjson_and_alias(tmp_path):
    (tmp_path / "old").mkdir()
    args = ("cleanup", str(tmp_path / "old"), "--policy", "all", "--dry-run")
    new, old = cachesync(*args, "--format", "ndjson"), cachesync(*args, "--json")
    assert new.returncode == old.returncode == 0, new.stderr
    assert json.loads(new.stdout)["type"] == json.loads(old.stdout)["type"] == "directory"


def test_hidden_aliases_stay_out_of_help():
    for command in (("status",), ("config", "show"), ("invalidate",), ("cleanup",), ("bench",), ("demo",)):
        result = cachesync(*command, "--help")
        options = [line.strip("│ ").split()[0] for line in result.stdout.splitlines()
                   if line.startswith("│") and line.strip("│ ")]
        assert "--format" in options and "--json" not in options, command
