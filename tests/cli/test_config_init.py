"""`config init` writes this cluster's sources and targets (flags, or questions on a real
terminal), and `doctor`/`run` say when a bridge has nothing to do (issue 16, item 3)."""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import sys
import time
import tomllib

from tests.doctor.helpers import check, doctor

from .run import cachesync


def _env(tmp_path) -> dict[str, str]:
    return {"XDG_CONFIG_HOME": str(tmp_path / "xdg"), "XDG_STATE_HOME": str(tmp_path / "state")}


def test_init_with_flags_writes_entries_that_validate_and_doctor_checks(tmp_path, amqp_url, redis_url, topic_name):
    config = tmp_path / "cachesync.toml"
    result = cachesync("config", "init", str(config), "--cluster", "dc-a", "--broker", amqp_url,
                       "--source", f"redis-channel:{redis_url}/0", "--target", f"redis:{redis_url}/0",
                       "--target", f"directory:{tmp_path}", env=_env(tmp_path))
    assert result.returncode == 0, result.stderr
    data = tomllib.loads(config.read_text())
    assert data["sources"] == [{"type": "redis-channel", "url": f"{redis_url}/0"}]
    assert data["targets"] == [{"type": "redis", "url": f"{redis_url}/0"},
                               {"type": "directory", "path": str(tmp_path)}]
    text = config.read_text()
    for kind in ("redis-stream", "http", "redis-keyspace", "memcached", "webhook", "command"):
        assert f'# type = "{kind}"' in text, kind  # the other kinds, as commented examples
    assert cachesync("config", "validate", "--config", str(config), env=_env(tmp_path)).returncode == 0
    code, report, _ = doctor("--config", str(config), "--topic", topic_name, env=_env(tmp_path))
    assert code == 0, report
    assert check(report, "targets")["message"] == "2 of 2 reachable"
    assert check(report, "sources")["status"] == "ok"


def test_doctor_warns_with_a_fix_when_the_bridge_has_nothing_to_do(tmp_path, amqp_url, topic_name):
    config = tmp_path / "cachesync.toml"
    assert cachesync("config", "init", str(config), "--broker", amqp_url, env=_env(tmp_path)).returncode == 0
    assert "[[targets]]" not in [line.strip() for line in config.read_text().splitlines()]
    assert cachesync("config", "validate", "--config", str(config), env=_env(tmp_path)).returncode == 0
    code, report, _ = doctor("--config", str(config), "--topic", topic_name, env=_env(tmp_path))
    targets = check(report, "targets")
    assert code == 1 and report["status"] == "warn", report
    assert targets["status"] == "warn" and "nothing to do" in targets["message"]
    assert "[[sources]]" in targets["hint"] and str(config) in targets["hint"]
    text = cachesync("doctor", "--config", str(config), "--topic", topic_name, "--only", "config,targets",
                     env=_env(tmp_path)).stdout
    assert "fix: add a [[sources]] entry" in text


def test_doctor_explains_a_one_way_bridge_without_warning(tmp_path, amqp_url, topic_name):
    config = tmp_path / "cachesync.toml"
    assert cachesync("config", "init", str(config), "--broker", amqp_url, "--target",
                     f"directory:{tmp_path}", env=_env(tmp_path)).returncode == 0
    code, report, _ = doctor("--config", str(config), "--topic", topic_name, env=_env(tmp_path))
    assert code == 0, report
    assert "publishes none of this cluster's" in check(report, "sources")["message"]


def test_wrong_source_or_target_is_refused_before_anything_is_written(tmp_path):
    config = tmp_path / "cachesync.toml"
    typo = cachesync("config", "init", str(config), "--source", "redis-chanel")
    assert typo.returncode == 2 and "did you mean 'redis-channel'" in typo.stderr
    missing = cachesync("config", "init", str(config), "--target", "webhook")
    assert missing.returncode == 2 and "--target webhook needs its urls" in missing.stderr
    assert not config.exists()


def test_run_warns_at_start_when_the_bridge_has_nothing_to_do(tmp_path, amqp_url, topic_name):
    config = tmp_path / "bridge.toml"
    config.write_text(f'[cluster]\nid = "dc-idle"\n[broker]\ntopic = "{topic_name}"\n'
                      f'[monitor]\nenabled = false\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("CACHESYNC_")}
    env.update(NO_COLOR="1", CACHESYNC_BROKER=amqp_url, **_env(tmp_path))
    process = subprocess.Popen([sys.executable, "-m", "cachesync_cli", "run", "--config", str(config),
                                "--log-format", "text"], env=env, stderr=subprocess.PIPE, text=True)
    lines = []
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = process.stderr.readline()
            lines.append(line)
            if "nothing to do" in line or not line:
                break
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)
    warning = next((line for line in lines if "nothing to do" in line), "")
    assert " WARNING cachesync.bridge: this bridge has nothing to do" in warning, "".join(lines)
    assert "fix: add a [[sources]] entry" in warning
    assert process.returncode == 0


class Terminal:
    """`cachesync ARGS` on a real pseudo-terminal (stdin, stdout and stderr), answered line by line."""

    def __init__(self, *args: str, env: dict[str, str]) -> None:
        self.master, slave = pty.openpty()
        base = {k: v for k, v in os.environ.items() if not k.startswith("CACHESYNC_")}
        base.update({"NO_COLOR": "1", "TERM": "dumb", "COLUMNS": "100", **env})
        self.process = subprocess.Popen([sys.executable, "-m", "cachesync_cli", *args], stdin=slave,
                                        stdout=slave, stderr=slave, env=base, close_fds=True)
        os.close(slave)
        self.seen = ""

    def expect(self, text: str, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.seen:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"waited for {text!r}; the terminal shows:\n{self.seen}"
            ready, _, _ = select.select([self.master], [], [], remaining)
            if ready:
                try:
                    chunk = os.read(self.master, 4096)
                except OSError:  # EIO: the process ended
                    chunk = b""
                assert chunk, f"ended before {text!r}; the terminal shows:\n{self.seen}"
                self.seen += chunk.decode(errors="replace")
        self.seen = self.seen[self.seen.index(text) + len(text):]

    def answer(self, prompt: str, text: str) -> None:
        self.expect(prompt)
        os.write(self.master, text.encode() + b"\r")

    def wait(self) -> int:
        code = self.process.wait(timeout=30)
        os.close(self.master)
        return code


def test_init_on_a_terminal_asks_and_enter_takes_the_defaults(tmp_path):
    config = tmp_path / "cachesync.toml"
    term = Terminal("config", "init", str(config), env=_env(tmp_path))
    term.answer("Cluster id (unique per cluster) [dc-east]: ", "dc-pty")
    term.answer("[amqp://localhost:5672/]: ", "")  # Enter: the default broker
    term.expect("1  redis-channel")
    term.answer("Source [2]: ", "1")
    term.answer("[redis://127.0.0.1:6379/0]: ", "redis://10.1.2.3:6379/0")
    term.answer("Targets [1]: ", "9")
    term.answer("Targets [1]: ", "memcached,6")  # a kind by name, another by number
    term.answer("[127.0.0.1:11211]: ", "")
    term.answer("directory path: ", "/var/cache/pty")
    term.expect(f"wrote {config}")
    assert term.wait() == 0
    data = tomllib.loads(config.read_text())
    assert data["cluster"]["id"] == "dc-pty"
    assert data["broker"]["url"] == "amqp://localhost:5672/"
    assert data["sources"] == [{"type": "redis-channel", "url": "redis://10.1.2.3:6379/0"}]
    assert data["targets"] == [{"type": "memcached", "servers": ["127.0.0.1:11211"]},
                               {"type": "directory", "path": "/var/cache/pty"}]
    assert cachesync("config", "validate", "--config", str(config), env=_env(tmp_path)).returncode == 0


def test_init_on_a_terminal_asks_only_what_the_flags_leave_open(tmp_path):
    config = tmp_path / "cachesync.toml"
    term = Terminal("config", "init", str(config), "--cluster", "dc-b", "--broker", "stomp://mq:61613",
                    "--source", "http", env=_env(tmp_path))
    term.answer("Targets [1]: ", "0")
    term.expect(f"wrote {config}")
    assert term.wait() == 0
    data = tomllib.loads(config.read_text())
    assert data["sources"] == [{"type": "http"}] and "targets" not in data
    assert "Cluster id" not in term.seen
