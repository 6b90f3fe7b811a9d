"""Tables never cut what the user came to read: `config show` and `cleanup` at 60 and 80 columns."""

from __future__ import annotations

import json

import pytest

from .run import cachesync

URL = "amqp://cachesync@broker-1.eu-west-1.production.example.com:5672/cachesync-vhost"


def _whole(value: str, out: str) -> bool:
    """`value` is in `out`, wrapped or folded over lines maybe, but with none of its characters cut."""
    squeezed = "".join(out.replace("│", " ").split())
    return "…" not in out and "".join(value.split()) in squeezed


def _column(table: str, heading: str, next_heading: str) -> str:
    """The text of one column of a table, its wrapped or folded lines joined."""
    lines = table.splitlines()
    header = next(i for i, line in enumerate(lines) if f" {next_heading}" in line and heading in line)
    start, end = lines[header].index(heading), lines[header].index(f" {next_heading}")
    return "".join(line[start:end].strip(" │┃") for line in lines[header + 1:])


@pytest.mark.parametrize("columns", ["60", "80"])
def test_config_show_shows_the_broker_url_whole(tmp_path, columns):
    config = tmp_path / "cachesync.toml"
    config.write_text(f'[cluster]\nid = "dc-east"\n[broker]\nurl = "{URL}"\n')
    result = cachesync("config", "show", "-c", str(config), env={"COLUMNS": columns})
    assert result.returncode == 0, result.stderr
    title, table = result.stdout.split("\n", 1)  # the title line wraps on the terminal, as text does
    assert all(len(line) <= int(columns) for line in table.splitlines())
    assert _whole(URL, _column(table, "value", "source")), result.stdout
    assert _whole(str(config), title)


@pytest.mark.parametrize("columns", ["60", "80"])
def test_cleanup_table_is_whole_at_narrow_widths(tmp_path, columns):
    target = tmp_path / "a-cache-directory-with-a-long-name"
    target.mkdir()
    (target / "entry").write_text("x")
    args = ("cleanup", str(target), "--policy", "all", "--dry-run")
    record = json.loads(cachesync(*args, "--format", "ndjson").stdout)
    result = cachesync(*args, env={"COLUMNS": columns})
    assert result.returncode == 0, result.stderr
    table = result.stdout.split("cleanup (dry run: nothing deleted)\n")[1]
    assert all(len(line) <= int(columns) for line in table.splitlines())
    for value in ("target", "type", "policy", "status", "scanned", "removed", "freed", "seconds", "errors",
                  record["target"], record["type"], record["policy"], record["status"], str(record["scanned"])):
        assert _whole(value, table), (value, table)
