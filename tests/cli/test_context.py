"""`cachesync context add/use/ls/show/rm` and every command reading the context in use
without --config (issue 16, item 12). XDG_CONFIG_HOME points into tmp_path."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

from .run import cachesync


def _env(tmp_path, **extra: str) -> dict[str, str]:
    return {"XDG_CONFIG_HOME": str(tmp_path / "xdg"), **extra}


def _contexts(tmp_path):
    return tmp_path / "xdg" / "cachesync" / "contexts"


def test_add_use_ls_then_commands_need_no_config(tmp_path, amqp_url, topic_name):
    env = _env(tmp_path)
    west = tmp_path / "west.toml"
    west.write_text(f'[cluster]\nid = "dc-west"\n[broker]\nurl = "{amqp_url}"\ntopic = "{topic_name}"\n')
    added = cachesync("context", "add", "west", "--config", str(west), env=env, cwd=tmp_path)
    assert added.returncode == 0, added.stderr
    assert "cachesync context use west" in added.stderr
    east = cachesync("context", "add", "east", "--cluster", "dc-east", "--broker", "amqp://mq-east:5672/",
                     "--target", f"directory:{tmp_path}", env=env, cwd=tmp_path)
    assert east.returncode == 0, east.stderr
    assert oct((_contexts(tmp_path) / "east.toml").stat().st_mode & 0o777) == "0o600"

    listed = cachesync("context", "ls", env=env, cwd=tmp_path)
    assert listed.stdout.splitlines() == [f"  east  {_contexts(tmp_path) / 'east.toml'}",
                                          f"  west  {_contexts(tmp_path) / 'west.toml'} -> {west}"]
    assert cachesync("context", "use", "west", env=env, cwd=tmp_path).returncode == 0
    listed = cachesync("context", "ls", "--format", "json", env=env, cwd=tmp_path)
    assert [(c["name"], c["current"]) for c in json.loads(listed.stdout)] == [("east", False), ("west", True)]

    shown = cachesync("config", "show", "--json", env=env, cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["settings"]["cluster.id"]["value"] == "dc-west"
    path = cachesync("config", "path", env=env, cwd=tmp_path)
    assert path.stdout.strip() == str(_contexts(tmp_path) / "west.toml")
    assert "the context in use, 'west'" in path.stderr

    status = cachesync("status", "--window", "0.5", "--json", env=env, cwd=tmp_path)
    assert json.loads(status.stdout)["topic"] == topic_name, status.stderr

    base = {k: v for k, v in os.environ.items() if not k.startswith("CACHESYNC_")}
    tail = subprocess.Popen([sys.executable, "-m", "cachesync_cli", "tail", "--count", "1", "--format", "ndjson",
                             "--idle-timeout", "20"], env={**base, "NO_COLOR": "1", **env}, cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    listening = threading.Event()
    errors: list[str] = []

    def read_stderr() -> None:
        for line in tail.stderr:
            errors.append(line)
            if "listening on" in line:
                listening.set()
        listening.set()

    threading.Thread(target=read_stderr, daemon=True).start()
    assert listening.wait(30) and any(f"listening on {topic_name}" in line for line in errors), errors
    sent = cachesync("invalidate", "AppInfoCache", "app-7", env=env, cwd=tmp_path)
    assert sent.returncode == 0, sent.stderr
    out, _ = tail.communicate(timeout=30)
    message = json.loads(out.splitlines()[0])
    assert message["origin"] == "dc-west" and "app-7" in out


def test_context_flag_and_env_order_and_errors_name_the_context(tmp_path):
    env = _env(tmp_path)
    for name, cluster in (("east", "dc-east"), ("west", "dc-west")):
        assert cachesync("context", "add", name, "--cluster", cluster, env=env, cwd=tmp_path).returncode == 0
    assert cachesync("context", "use", "east", env=env, cwd=tmp_path).returncode == 0

    def cluster(*args: str, **extra: str) -> str:
        result = cachesync(*args, "config", "show", "--json", env=_env(tmp_path, **extra), cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)["settings"]["cluster.id"]["value"]

    other = tmp_path / "other.toml"
    other.write_text('[cluster]\nid = "dc-other"\n')
    (tmp_path / "cachesync.toml").write_text('[cluster]\nid = "dc-local"\n')
    assert cluster() == "dc-east"  # the context in use, before ./cachesync.toml
    assert cluster(CACHESYNC_CONTEXT="west") == "dc-west"
    assert cluster(CACHESYNC_CONTEXT="west", CACHESYNC_CONFIG=str(other)) == "dc-other"
    assert cluster("--context", "west", CACHESYNC_CONFIG=str(other)) == "dc-west"
    with_config = cachesync("--context", "west", "config", "show", "--json", "--config", str(other), env=env)
    assert json.loads(with_config.stdout)["settings"]["cluster.id"]["value"] == "dc-other"

    missing = cachesync("--context", "wset", "status", env=env, cwd=tmp_path)
    assert missing.returncode == 2
    assert f"context 'wset' (from --context) does not exist: no file {_contexts(tmp_path) / 'wset.toml'}" \
        in missing.stderr
    assert "did you mean 'west'?" in missing.stderr
    (_contexts(tmp_path) / "west.toml").write_text('[broker]\ntopik = "x"\n')
    broken = cachesync("--context", "west", "config", "validate", env=env, cwd=tmp_path)
    assert broken.returncode == 2
    assert f"--context west: {_contexts(tmp_path) / 'west.toml'}: unknown key 'topik'" in broken.stderr

    assert cachesync("context", "rm", "east", env=env, cwd=tmp_path).returncode == 2  # a pipe: needs --force
    removed = cachesync("context", "rm", "east", "--force", env=env, cwd=tmp_path)
    assert removed.returncode == 0 and "it was the context in use" in removed.stderr
    assert cluster() == "dc-local"  # no context in use any more: ./cachesync.toml
    assert cachesync("context", "add", "west", env=env).returncode == 2  # exists, without --force
