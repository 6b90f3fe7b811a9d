"""`cachesync run` output: JSON log lines, and the live status on a terminal (tmux)."""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import sys
import time

import pytest

from ..cli.run import cachesync
from ..transport.brokers import delete_bridge_queue
from .processes import bridge_config


def test_log_format_json_gives_one_object_per_line(tmp_path, amqp_url, topic_name, redis_url, request):
    cluster = f"j-{secrets.token_hex(3)}"
    request.addfinalizer(lambda: delete_bridge_queue(amqp_url, cluster, topic_name))
    config = bridge_config(tmp_path, cluster, amqp_url, topic_name, redis_db=13, redis_url=redis_url)
    process = subprocess.Popen([sys.executable, "-m", "cachesync_cli", "run", "--config", str(config),
                                "--log-format", "json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first_lines = []
    for line in process.stderr:  # until it runs (or ended)
        first_lines.append(line)
        if "running on" in line:
            break
    process.terminate()
    _, rest = process.communicate(timeout=30)
    stderr = "".join(first_lines) + rest
    assert process.returncode == 0, stderr
    entries = [json.loads(line) for line in stderr.splitlines()]
    assert any(e["message"].startswith(f"bridge {cluster} running on") for e in entries)
    assert all({"ts", "level", "logger", "message"} <= set(e) for e in entries)
    assert "guest:guest" not in stderr  # the password in the broker URL is never logged


def test_refused_credentials_are_a_clear_error_not_a_traceback(tmp_path, amqp_url):
    """Stopping a bridge that never started once raised from joining its unstarted threads,
    and the user saw a RuntimeError traceback instead of why the broker refused."""
    wrong = amqp_url.replace("guest:guest@", "guest:wrong@")
    # its monitor on a free port, not the default 9754 (taken when two test runs overlap)
    (tmp_path / "cachesync.toml").write_text('[monitor]\nlisten = "127.0.0.1:0"\n')
    result = cachesync("run", "--broker", wrong, "--cluster", "refused", "--log-format", "text", cwd=tmp_path)
    assert result.returncode == 3, result.stderr
    assert "refused user 'guest': wrong user name or password" in result.stderr
    assert "Traceback" not in result.stderr and "wrong@" not in result.stderr


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_live_status_on_a_terminal(tmp_path, amqp_url, topic_name, redis_url, request):
    cluster = f"l-{secrets.token_hex(3)}"
    session = f"cachesync-live-{cluster}"
    request.addfinalizer(lambda: delete_bridge_queue(amqp_url, cluster, topic_name))
    request.addfinalizer(lambda: subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True))
    (tmp_path / "files").mkdir()
    cleanup = f'[[cleanup]]\ntype = "directory"\nname = "files"\npath = "{tmp_path / "files"}"\npolicy = "all"\nevery = "1s"\n'
    config = bridge_config(tmp_path, cluster, amqp_url, topic_name, redis_db=13, redis_url=redis_url, extra=cleanup)
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "160", "-y", "40",
                    f"{sys.executable} -m cachesync_cli run --config {config}"], check=True)
    screen = ""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and "ok, 0 removed" not in screen:
        time.sleep(0.5)
        screen = subprocess.run(["tmux", "capture-pane", "-p", "-t", session], capture_output=True,
                                text=True).stdout
    assert f"cachesync run {cluster}" in screen and "connected" in screen, screen
    assert "spool 0 batch(es)" in screen and f"redis-{cluster}" in screen
    assert "files" in screen and "every 1s" in screen and "ok, 0 removed" in screen  # the cleanup schedule
