"""CommandTarget with real subprocesses: stdin JSON, exit codes, stderr, timeouts, missing programs."""

from __future__ import annotations

import json
import sys
import time

import pytest

from cachesync_cli.local.base import Invalidation, TargetError
from cachesync_cli.local.command_target import CommandTarget
from cachesync_cli.wire.envelope import Item, Tenant

from .conftest import entry

INVALIDATION = Invalidation("dc-west", (Item("App", ("k1", "k2")),), tenant=Tenant("t.com"), id="e9",
                            reason="gap-flush")


def command(context, argv, **fields):
    return CommandTarget("cmd", entry("targets", type="command", argv=argv, **fields), context)


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def alive(pid: int) -> bool:
    """Running (a zombie waiting for a reaper that never comes in a container counts as dead)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_runs_the_program_with_the_invalidation_on_stdin(context, tmp_path):
    out = tmp_path / "got.json"
    target = command(context, python(f"import sys; open({str(out)!r}, 'wb').write(sys.stdin.buffer.read())"))
    target.check()
    target.apply(INVALIDATION)
    assert json.loads(out.read_text()) == {"origin": "dc-west", "tenant": {"domain": "t.com", "id": None},
                                           "items": [{"cache": "App", "keys": ["k1", "k2"]}],
                                           "id": "e9", "reason": "gap-flush"}


def test_nonzero_exit_reports_status_and_stderr(context):
    target = command(context, python("import sys; print('line one\\nline two', file=sys.stderr); sys.exit(3)"))
    with pytest.raises(TargetError, match="exited with status 3: line one\nline two"):
        target.apply(INVALIDATION)


def test_a_program_that_ignores_stdin_and_succeeds_is_fine(context):
    command(context, ["true"]).apply(INVALIDATION)


def test_timeout_kills_the_program_and_its_children(context, tmp_path):
    pid_file = tmp_path / "child.pid"
    code = ("import subprocess, sys, time; "
            f"p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
            f"open({str(pid_file)!r}, 'w').write(str(p.pid)); time.sleep(60)")
    target = command(context, python(code), timeout=1.0)
    started = time.monotonic()
    with pytest.raises(TargetError, match="did not finish within 1 s; killed"):
        target.apply(INVALIDATION)
    assert time.monotonic() - started < 5
    child = int(pid_file.read_text())
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        if not alive(child):
            break
        time.sleep(0.05)
    else:
        pytest.fail("the grandchild survived")


def test_missing_or_not_executable_program(context, tmp_path):
    missing = command(context, [str(tmp_path / "nope")])
    with pytest.raises(TargetError, match="not found"):
        missing.check()
    with pytest.raises(TargetError, match="cannot run"):
        missing.apply(INVALIDATION)
    script = tmp_path / "script.sh"
    script.write_text("#!/bin/sh\nexit 0\n")
    with pytest.raises(TargetError, match="not executable"):
        command(context, [str(script)]).check()
    with pytest.raises(TargetError, match="not found"):
        command(context, ["no-such-program-cachesync"]).check()
