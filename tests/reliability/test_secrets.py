"""Secrets (a broker password, a signing key) never appear in logs (text and JSON, drivers'
debug output included), `config show`, `--help`, error messages or the process's command
line; a file holding one that others can read is warned about."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time

import pytest

from cachesync_cli.transport.endpoint import parse_endpoint

from ..cli.run import cachesync
from .helpers import cluster_names, two_configs

PASSWORD = "pw-" + secrets.token_hex(12)
SIGNING_KEY = "sk-" + secrets.token_hex(16)
USER = "cachesync-secrets-test"


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def secret_user(amqp_url):
    """A RabbitMQ user whose password appears nowhere else."""
    rabbitmqctl("add_user", USER, PASSWORD)
    rabbitmqctl("set_permissions", "-p", "/", USER, ".*", ".*", ".*")
    yield USER
    rabbitmqctl("delete_user", USER)


def secret_config(tmp_path, broker: str, topic: str, redis_url: str, clusters, request) -> tuple:
    password_file, key_file = tmp_path / "broker-password", tmp_path / "signing-key"
    for path, secret in ((password_file, PASSWORD), (key_file, SIGNING_KEY)):
        path.write_text(secret + "\n")
        path.chmod(0o600)
    extra = f'\n[signing]\nkey_id = "k1"\nkey_file = "{key_file}"\n'
    config, _ = two_configs(tmp_path, broker, topic, redis_url, clusters, extra_a=extra)
    text = config.read_text().replace("[broker]\n", f'[broker]\nusername = "{USER}"\npassword_file = "{password_file}"\n')
    config.write_text(text)
    return config, password_file


def assert_clean(text: str, where: str) -> None:
    assert PASSWORD not in text, f"the broker password is in {where}"
    assert SIGNING_KEY not in text, f"the signing key is in {where}"


@pytest.mark.parametrize("scheme", ["amqp", "stomp"])
@pytest.mark.parametrize("log_format", ["text", "json"])
def test_bridge_logs_and_command_line_hold_no_secret(tmp_path, amqp_url, rabbit_stomp_url, topic_name, redis_url,
                                                     secret_user, request, scheme, log_format):
    import redis

    broker = amqp_url if scheme == "amqp" else rabbit_stomp_url
    endpoint = parse_endpoint(broker)
    bare = f"{endpoint.scheme}://{endpoint.host}:{endpoint.port}" + ("/" if scheme == "amqp" else "")
    clusters = cluster_names(amqp_url, request)
    config, _ = secret_config(tmp_path, bare, topic_name, redis_url, clusters, request)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CACHESYNC_")}
    process = subprocess.Popen([sys.executable, "-m", "cachesync_cli", "-vv", "run", "--config", str(config),
                                "--log-format", log_format], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    running = threading.Event()

    def pump() -> None:
        for line in process.stdout:
            lines.append(line)
            if " running on " in line:
                running.set()
        running.set()

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        running.wait(30)  # connected, subscribed and logging (instead of a fixed 3 s)
        cmdline = open(f"/proc/{process.pid}/cmdline", "rb").read().decode(errors="replace")
        client = redis.Redis.from_url(f"{redis_url.rstrip('/')}/1")
        client.publish(f"local.{clusters[0]}", json.dumps({"cache": "C", "keys": ["k"]}))
        client.close()
        time.sleep(1.5)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        reader.join(10)
    output = "".join(lines)
    assert " running on " in output and process.returncode == 0, output
    assert_clean(output, f"the {log_format} log at -vv over {scheme}")
    assert_clean(cmdline, "/proc/PID/cmdline")


def test_config_show_help_and_errors_hold_no_secret(tmp_path, amqp_url, topic_name, redis_url, secret_user, request):
    endpoint = parse_endpoint(amqp_url)
    clusters = cluster_names(amqp_url, request)
    config, _ = secret_config(tmp_path, f"amqp://{USER}:{PASSWORD}@{endpoint.host}:{endpoint.port}/", topic_name,
                              redis_url, clusters, request)
    config.chmod(0o644)
    env = {"CACHESYNC_PASSWORD": PASSWORD, "CACHESYNC_SIGNING_KEY": SIGNING_KEY}
    shown = cachesync("config", "show", "--config", str(config), env=env)
    shown_json = cachesync("config", "show", "--json", "--config", str(config), env=env)
    assert shown.returncode == 0 and shown_json.returncode == 0, shown.stderr
    for result, where in ((shown, "config show"), (shown_json, "config show --json")):
        assert_clean(result.stdout + result.stderr, where)
    assert f"{USER}:***@" in json.loads(shown_json.stdout)["settings"]["broker.url"]["value"][0]
    # the file holds a password and others may read it: say so, with the fix
    assert f"{config} holds a broker password" in shown.stderr and f"chmod 600 {config}" in shown.stderr
    config.chmod(0o600)
    assert "chmod 600" not in cachesync("config", "show", "--config", str(config), env=env).stderr
    for args in (["--help"], ["run", "--help"], ["invalidate", "--help"], ["config", "show", "--help"]):
        result = cachesync(*args, env={**env, "CACHESYNC_BROKER": f"amqp://{USER}:{PASSWORD}@127.0.0.1:5672/"})
        assert_clean(result.stdout + result.stderr, f"cachesync {' '.join(args)}")
    wrong = cachesync("invalidate", "C", "k", "--broker",
                      f"amqp://{USER}:{SIGNING_KEY}@{endpoint.host}:{endpoint.port}/", "--topic", topic_name)
    assert wrong.returncode == 3, wrong.stderr
    assert_clean(wrong.stdout + wrong.stderr, "the error of a refused password")
    assert f"refused user '{USER}'" in wrong.stderr


def test_a_secret_file_others_can_read_is_warned_about(tmp_path, amqp_url, topic_name, redis_url, secret_user,
                                                      request):
    endpoint = parse_endpoint(amqp_url)
    clusters = cluster_names(amqp_url, request)
    config, password_file = secret_config(tmp_path, f"amqp://{endpoint.host}:{endpoint.port}/", topic_name,
                                          redis_url, clusters, request)
    password_file.chmod(0o640)
    result = cachesync("config", "validate", "--config", str(config))
    assert f"{password_file} holds a secret" in result.stderr and "readable by its group" in result.stderr
    assert_clean(result.stdout + result.stderr, "config validate")
