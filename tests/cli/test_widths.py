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


def test_run_live_status_wraps_on_a_60_column_terminal(tmp_path, amqp_url, redis_url):
    """The live status shows only on a terminal: run the bridge under a pty 60 columns wide."""
    import fcntl
    import os
    import pty
    import re
    import select
    import signal
    import struct
    import subprocess
    import sys
    import termios
    import time

    from tests.bridge.processes import bridge_config

    cluster = "dc-north-production-eu1"
    config = bridge_config(tmp_path, cluster, amqp_url, f"widths-{time.time_ns()}", redis_db=15, redis_url=redis_url)
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 60, 0, 0))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CACHESYNC_")}
    env.update(COLUMNS="60", TERM="xterm", NO_COLOR="1")
    process = subprocess.Popen([sys.executable, "-m", "cachesync_cli", "run", "--config", str(config)],
                               stdin=slave, stdout=slave, stderr=slave, env=env)
    os.close(slave)
    screen, deadline = b"", time.monotonic() + 20
    try:
        while time.monotonic() < deadline and b"targets" not in screen.split(b"connected")[-1]:
            if select.select([master], [], [], 0.2)[0]:
                try:
                    screen += os.read(master, 65536)
                except OSError:
                    break
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
        os.close(master)
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen.decode("utf-8", "replace"))
    assert "connected" in text, text
    assert "…" not in text
    from cachesync_cli.transport.endpoint import redact_url

    assert cluster in text.split()
    head = text[text.rindex(f"cachesync run {cluster}"):].split("\nout ")[0]  # the last frame's first line(s)
    assert redact_url(amqp_url).rstrip("/") in "".join(head.split()), head  # wrapped, not cut
