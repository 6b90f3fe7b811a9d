"""Shell completion: the committed scripts are current, and the shell gets useful candidates."""

from __future__ import annotations

from pathlib import Path

import pytest

from cachesync_cli.cli.completion import FILES, script

from .run import cachesync

COMPLETIONS = Path(__file__).resolve().parents[2] / "completions"


@pytest.mark.parametrize("shell", sorted(FILES))
def test_committed_scripts_are_current(shell):
    committed = COMPLETIONS / FILES[shell]
    assert committed.is_file(), f"{committed} is missing: run scripts/gen-completions and commit completions/"
    assert committed.read_text(encoding="utf-8") == script(shell), (
        f"completions/{FILES[shell]} is out of date: run scripts/gen-completions and commit completions/")


@pytest.mark.parametrize("shell", sorted(FILES))
def test_completion_command_prints_the_committed_script(shell):
    result = cachesync("completion", shell)
    assert result.returncode == 0, result.stderr
    assert result.stdout == (COMPLETIONS / FILES[shell]).read_text(encoding="utf-8")


def test_unknown_shell_is_a_usage_error():
    result = cachesync("completion", "tcsh")
    assert result.returncode == 2
    assert "unknown shell 'tcsh'" in result.stderr


def _bash(words: str, tmp_path: Path, env: dict | None = None) -> list[str]:
    """What bash's completion function would get for the command line `words` (cursor at its end)."""
    cword = len(words.split()) - (0 if words.endswith(" ") else 1)
    result = cachesync(env={"_CACHESYNC_COMPLETE": "complete_bash", "COMP_WORDS": words,
                            "COMP_CWORD": str(cword), **(env or {})}, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_commands_and_option_values_complete(tmp_path):
    assert "demo" in _bash("cachesync de", tmp_path)
    assert _bash("cachesync tail --format n", tmp_path) == ["ndjson"]
    assert _bash("cachesync tail --codec ", tmp_path) == ["auto", "native", "wso2"]
    assert _bash("cachesync invalidate AppInfoCache k --codec w", tmp_path) == ["wso2"]
    assert _bash("cachesync completion z", tmp_path) == ["zsh"]


def test_cache_names_come_from_the_config_file(tmp_path):
    (tmp_path / "cachesync.toml").write_text(
        '[sync]\nallow = ["IdentityApplicationManagementCacheManager/AppInfoCache", "OAuth*"]\n'
        'gap_flush = ["OAuthCache"]\n'
        '[[targets]]\ntype = "directory"\npath = "/tmp/x"\n'
        '[[sources]]\ntype = "redis-keyspace"\ncaches = ["AuthorizationCache"]\n')
    assert _bash("cachesync invalidate ", tmp_path) == ["AppInfoCache", "AuthorizationCache", "OAuthCache"]
    assert _bash("cachesync tail --cache O", tmp_path) == ["OAuthCache"]
    other = tmp_path / "other.toml"
    other.write_text('[sync]\nblock = ["LocalOnlyCache"]\n')
    assert _bash(f"cachesync tail --config {other} --cache ", tmp_path) == ["LocalOnlyCache"]


def test_a_broken_config_file_completes_nothing_quietly(tmp_path):
    (tmp_path / "cachesync.toml").write_text("[sync\n")
    result = cachesync(env={"_CACHESYNC_COMPLETE": "complete_bash", "COMP_WORDS": "cachesync invalidate ",
                            "COMP_CWORD": "2"}, cwd=tmp_path)
    assert result.returncode == 0
    assert result.stdout.strip() == "" and "Traceback" not in result.stderr


def test_format_policy_and_log_format_values_complete(tmp_path):
    assert _bash("cachesync doctor --format ", tmp_path) == ["text", "json", "junit", "nagios"]
    assert _bash("cachesync doctor --format j", tmp_path) == ["json", "junit"]
    assert _bash("cachesync cleanup --policy max_", tmp_path) == ["max_idle", "max_age"]
    assert _bash("cachesync run --log-format ", tmp_path) == ["auto", "text", "json"]
    assert _bash("cachesync status --format ", tmp_path) == ["table", "json"]
    assert _bash("cachesync config show --format j", tmp_path) == ["json"]


def test_cleanup_entry_names_come_from_the_config_file(tmp_path):
    (tmp_path / "cachesync.toml").write_text(
        '[[cleanup]]\nname = "app-redis"\ntype = "redis"\nurl = "redis://127.0.0.1:6379/0"\n'
        '[[cleanup]]\nname = "thumbnails"\ntype = "directory"\npath = "/tmp/x"\n')
    assert _bash("cachesync cleanup ", tmp_path) == ["app-redis", "thumbnails"]
    assert _bash("cachesync cleanup t", tmp_path) == ["thumbnails"]
    (tmp_path / "cache-dir").mkdir()
    assert _bash(f"cachesync cleanup {tmp_path}/cach", tmp_path) == [f"{tmp_path}/cache-dir/"]
