"""`cachesync cleanup` as users run it: once, on a schedule, with failures, signals and locks."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from cachesync_cli.cleanup.locks import LOCK_PREFIX

from ..cli.run import cachesync
from .conftest import BIG_DB, CLI_DB, db_url, fill, keys_of, redis_db


def ndjson(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def write_config(tmp_path, redis: str, folder) -> str:
    path = tmp_path / "cachesync.toml"
    path.write_text(f'''
[[cleanup]]
type = "redis"
name = "app-redis"
url = "{redis}"
caches = ["App"]
every = "1s"

[[cleanup]]
type = "directory"
name = "files"
path = "{folder}"
policy = "max_age"
max_age = "1h"
cron = "*/5 * * * *"
''')
    return str(path)


def test_once_from_the_config_json_and_table(redis_url, tmp_path):
    url, client = redis_db(redis_url, CLI_DB)
    try:
        client.mset({"App:1": 1, "App:2": 2, "Other:1": 3})
        folder = tmp_path / "files"
        (folder / "C").mkdir(parents=True)
        (folder / "C" / "old").write_text("12345")
        os.utime(folder / "C" / "old", (time.time() - 7200, time.time() - 7200))
        (folder / "C" / "new").write_text("1")
        config = write_config(tmp_path, url, folder)
        dry = cachesync("cleanup", "--config", config, "--dry-run")
        assert dry.returncode == 0, dry.stderr
        assert "would remove app-redis: App:1" in dry.stdout and f"would remove files: {folder}/C/old" in dry.stdout
        assert "dry run: nothing deleted" in dry.stdout and keys_of(client) == {"App:1", "App:2", "Other:1"}
        done = cachesync("cleanup", "--config", config, "--json")
        assert done.returncode == 0, done.stderr
        redis, files = ndjson(done.stdout)
        assert {k: redis[k] for k in ("target", "type", "policy", "status", "scanned", "removed", "bytes_freed",
                                      "errors", "dry_run")} == {
            "target": "app-redis", "type": "redis", "policy": "all", "status": "ok", "scanned": 2, "removed": 2,
            "bytes_freed": None, "errors": [], "dry_run": False}
        assert (files["target"], files["removed"], files["bytes_freed"]) == ("files", 1, 5)
        assert isinstance(redis["seconds"], float) and redis["started_at"]
        assert keys_of(client) == {"Other:1"} and sorted(p.name for p in (folder / "C").iterdir()) == ["new"]
        only = cachesync("cleanup", "--config", config, "files")  # by name; a table for people
        assert only.returncode == 0 and "files" in only.stdout and "app-redis" not in only.stdout
    finally:
        client.flushdb()
        client.close()


def test_a_failing_target_does_not_stop_the_others_and_exit_1(redis_url, tmp_path):
    url, client = redis_db(redis_url, CLI_DB)
    try:
        client.mset({"App:1": 1})
        (tmp_path / "C").mkdir()
        (tmp_path / "C" / "f").write_text("x")
        done = cachesync("cleanup", "redis://127.0.0.1:1/0", url, str(tmp_path), "--json")
        assert done.returncode == 1, done.stderr
        closed, redis, folder = ndjson(done.stdout)
        assert closed["status"] == "failed" and "127.0.0.1:1" in closed["errors"][0]
        assert (redis["status"], redis["removed"]) == ("ok", 1) and (folder["status"], folder["removed"]) == ("ok", 1)
        assert keys_of(client) == set()
    finally:
        client.flushdb()
        client.close()


def test_usage_errors_exit_2(tmp_path):
    config = write_config(tmp_path, "redis://127.0.0.1:6379/7", tmp_path)
    cases = [
        (["cleanup", "--config", config, "app-rediss"], "no [[cleanup]] entry named 'app-rediss'",
         "did you mean 'app-redis'"),
        (["cleanup", "--config", config, "--every", "10x"], "--every: '10x' is not a duration", None),
        (["cleanup", "--config", config, "--cron", "* * *"], "--cron: '* * *': a cron expression has 5 fields", None),
        (["cleanup", "--config", config, "--every", "1m", "--cron", "* * * * *"], "not both", None),
        (["cleanup", "--config", config, "--jitter", "1m"], "--jitter needs a schedule", None),
        (["cleanup", "memcached://127.0.0.1:11211", "--policy", "max_age", "--max-age", "1d"],
         "not possible for memcached: memcached cannot list keys or their ages", None),
        (["cleanup", str(tmp_path), "--policy", "max_age"], 'policy = "max_age" needs max_age', None),
        (["cleanup", str(tmp_path), "--scheduled"], "has no every or cron", None),
        (["cleanup"], "nothing to clean up", None),
    ]
    empty = tmp_path / "empty"
    empty.mkdir()
    for args, message, hint in cases:
        done = cachesync(*args, cwd=empty,
                         env={"XDG_CONFIG_HOME": str(tmp_path / "none")})
        assert done.returncode == 2, (args, done.stderr)
        assert message in done.stderr, (args, done.stderr)
        if hint:
            assert hint in done.stderr


def test_every_1s_fires_several_times_until_sigterm(redis_url, tmp_path):
    url, client = redis_db(redis_url, CLI_DB)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CACHESYNC_")}
    env["NO_COLOR"] = "1"
    process = subprocess.Popen([sys.executable, "-m", "cachesync_cli", "cleanup", url, "--every", "1s", "--json"],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 4.2
        while time.monotonic() < deadline:
            client.set("App:refill", 1)
            time.sleep(0.1)
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
        client.flushdb()
        client.close()
    assert process.returncode == 0, err
    runs = ndjson(out)
    assert 4 <= len(runs) <= 6, runs  # at 0, 1, 2, 3, 4 s
    assert all(r["target"] == "redis-1" and r["status"] == "ok" for r in runs)
    assert sum(r["removed"] for r in runs) >= 4
    assert "every 1s" in err and "stopping" in err


def test_sigterm_stops_a_big_run_between_batches(redis_url):
    url, client = redis_db(redis_url, BIG_DB)
    try:
        fill(client, 100_000)
        env = {k: v for k, v in os.environ.items() if not k.startswith("CACHESYNC_")}
        process = subprocess.Popen([sys.executable, "-m", "cachesync_cli", "cleanup", url, "--cache", "Big",
                                    "--json"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 20
        while client.dbsize() > 95_000 and time.monotonic() < deadline:
            time.sleep(0.002)
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=10)
        (result,) = ndjson(out)
        assert process.returncode == 0, err
        assert result["status"] == "stopped" and 0 < result["removed"] < 100_000, result
        assert client.dbsize() == 100_000 - result["removed"]
        assert client.get(LOCK_PREFIX + "redis-1") is None
    finally:
        client.flushdb()
        client.close()


def test_a_second_run_on_a_locked_target_is_skipped_visibly(redis_url, tmp_path):
    url, client = redis_db(redis_url, CLI_DB)
    try:
        client.mset({"App:1": 1})
        client.set(LOCK_PREFIX + "redis-1", "another-run", px=10_000)
        done = cachesync("cleanup", url)
        assert done.returncode == 0, done.stderr
        assert "locked" in done.stdout and "another run holds" in done.stdout
        assert keys_of(client) == {"App:1", LOCK_PREFIX + "redis-1"}
    finally:
        client.flushdb()
        client.close()


def test_db_urls_are_the_tests_own():
    assert db_url("redis://127.0.0.1:6379", CLI_DB).endswith("/7")
