"""What starting `cachesync` loads: a Tab or a help page imports only the command it shows.

The time itself is measured by benchmarks/startup.py (docs/performance.md), not here: a
timed test would fail on a busy machine. These tests check what makes it fast.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from cachesync_cli.cli import COMMANDS, app

from .run import cachesync

COMMAND_MODULES = {f"cachesync_cli.cli.{command.module}" for command in COMMANDS}
HEAVY = ("pydantic", "markdown_it", "pygments", "pika", "stomp", "paho", "redis", "prometheus_client",
         "cachesync_cli.config", "cachesync_cli.bridge")


def _loaded(*args: str, env: dict | None = None) -> tuple[set[str], str]:
    """The cachesync command modules and the heavy packages that `cachesync ARGS` imported, and its stdout."""
    code = ("import json, sys\nsys.argv = ['cachesync', *json.loads(sys.argv[1])]\n"
            "try:\n    from cachesync_cli.cli import main; main()\nexcept SystemExit: pass\n"
            "print(json.dumps(sorted(sys.modules)), file=sys.stderr)")
    result = subprocess.run([sys.executable, "-c", code, json.dumps(args)], capture_output=True, text=True,
                            env={"COLUMNS": "100", "NO_COLOR": "1", "PATH": "", **(env or {})}, timeout=60)
    modules = set(json.loads(result.stderr.strip().splitlines()[-1]))
    return {m for m in modules if m in COMMAND_MODULES or m.split(".")[0] in HEAVY or m in HEAVY}, result.stdout


def _bash_tab(words: str) -> dict:
    cword = len(words.split()) - (0 if words.endswith(" ") else 1)
    return {"_CACHESYNC_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(cword)}


def test_root_help_and_version_import_no_command():
    loaded, stdout = _loaded("--help")
    assert loaded == set() and "invalidate" in stdout
    loaded, stdout = _loaded("--version")
    assert loaded == set() and stdout.startswith("cachesync ")


@pytest.mark.parametrize("args,module", [(("invalidate", "--help"), "invalidate"),
                                         (("config", "init", "--help"), "config_cmd"),
                                         (("doctor", "-h"), "doctor")])
def test_a_command_help_imports_that_command_only(args, module):
    loaded, stdout = _loaded(*args)
    assert loaded == {f"cachesync_cli.cli.{module}"}, "no pydantic: the root's options need no converting"
    assert "Usage: cachesync" in stdout


def test_a_tab_imports_the_completed_command_only_and_no_rich():
    loaded, stdout = _loaded(env=_bash_tab("cachesync tail --format n"))
    assert stdout.split() == ["ndjson"]
    assert loaded == {"cachesync_cli.cli.tail"}
    code = ("import sys\nsys.argv = ['cachesync']\ntry:\n    from cachesync_cli.cli import main; main()\n"
            "except SystemExit: pass\nprint([m for m in sys.modules if m == 'rich' or m.startswith('rich.')],"
            " file=sys.stderr)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                            env={"PATH": "", **_bash_tab("cachesync invalidate AppInfoCache k --codec w")})
    assert result.stdout.split() == ["wso2"]
    assert result.stderr.strip().splitlines()[-1] == "[]", "bash completion shows no help text: no rich"


def test_completing_a_command_name_imports_no_command():
    loaded, stdout = _loaded(env=_bash_tab("cachesync "))
    assert stdout.split() == [command.name for command in COMMANDS]
    assert loaded == set()


def test_the_listed_summaries_are_the_first_paragraph_of_each_command_help():
    """`cachesync --help` lists COMMANDS' summaries without importing the commands: keep them true."""
    import typer

    root = typer.main.get_command(app)
    assert root.list_commands(None) == [command.name for command in COMMANDS]
    for command in COMMANDS:
        built = root.get_command(None, command.name)
        first_paragraph = (built.help or "").split("\n\n")[0].strip()
        assert command.summary == first_paragraph, (
            f"cli/__init__.py COMMANDS: the summary of {command.name!r} must be {first_paragraph!r}")
        assert not built.short_help and not built.hidden and not built.deprecated
        assert not getattr(built, "rich_help_panel", None), "a command panel: teach LazyCommand.listing() it"


def test_values_that_need_converting_are_still_checked():
    result = cachesync("demo", "--timeout", "abc", env={"COLUMNS": "80"})
    assert result.returncode == 2
    assert "Invalid value for '--timeout': Input should be a valid number" in result.stderr
    result = cachesync("-v", "-v", "config", "path", "--help")
    assert result.returncode == 0 and "Usage: cachesync config path" in result.stdout
