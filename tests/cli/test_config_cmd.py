"""`cachesync config` and the CLI's basics, through the real command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from cachesync_cli import __version__

from .run import cachesync


def test_version():
    result = cachesync("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"cachesync {__version__}"


def test_init_writes_a_valid_file_and_refuses_to_overwrite(tmp_path):
    target = tmp_path / "cachesync.toml"
    first = cachesync("config", "init", str(target), "--cluster", "dc-a", "--broker", "stomp://mq:61613")
    assert first.returncode == 0, first.stderr
    assert 'id = "dc-a"' in target.read_text()
    assert oct(target.stat().st_mode & 0o777) == "0o640"
    again = cachesync("config", "init", str(target))
    assert again.returncode == 2
    assert "already exists" in again.stderr and "--force" in again.stderr
    forced = cachesync("config", "init", str(target), "--force")
    assert forced.returncode == 0
    assert 'id = "dc-east"' in target.read_text()
    assert cachesync("config", "validate", "--config", str(target)).returncode == 0


def test_init_defaults_to_the_current_directory(tmp_path):
    result = cachesync("config", "init", cwd=tmp_path)
    assert result.returncode == 0
    assert (tmp_path / "cachesync.toml").is_file()
    found = cachesync("config", "path", cwd=tmp_path)
    assert found.stdout.strip() == str(tmp_path / "cachesync.toml")


def test_path_without_a_file_exits_1(tmp_path):
    result = cachesync("config", "path", cwd=tmp_path, env={"XDG_CONFIG_HOME": str(tmp_path / "x")})
    assert result.returncode == 1
    assert result.stdout == ""
    assert "no config file found" in result.stderr


def test_show_redacts_secrets_and_tells_sources(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text('[broker]\nurl = "amqp://admin:file-pw-123@mq.example.com/"\n')
    env = {"CACHESYNC_PASSWORD": "env-pw-456", "CACHESYNC_TOPIC": "t-env"}
    result = cachesync("config", "show", "--config", str(config), "--json", env=env)
    assert result.returncode == 0, result.stderr
    assert "file-pw-123" not in result.stdout + result.stderr
    assert "env-pw-456" not in result.stdout + result.stderr
    shown = json.loads(result.stdout)["settings"]
    assert shown["broker.url"] == {"value": ["amqp://admin:***@mq.example.com:5672"],
                                   "source": f"file {config}"}
    assert shown["broker.topic"] == {"value": "t-env", "source": "env $CACHESYNC_TOPIC"}
    assert shown["broker.password"] == {"value": "***", "source": "env $CACHESYNC_PASSWORD"}
    table = cachesync("config", "show", "--config", str(config), env=env)
    assert "file-pw-123" not in table.stdout and "env-pw-456" not in table.stdout
    assert "amqp://admin:***@mq.example.com:5672" in table.stdout


def test_validate_reports_the_file_and_key(tmp_path):
    config = tmp_path / "bad.toml"
    config.write_text('[codec]\nname = "xml"\n')
    result = cachesync("config", "validate", "--config", str(config))
    assert result.returncode == 2
    assert f"{config}: [codec] name: must be one of 'native', 'wso2'" in result.stderr
    assert "Traceback" not in result.stderr


def test_importing_the_cli_does_not_import_broker_drivers():
    code = ("import sys, cachesync_cli.cli; "
            "print(sorted(m for m in ('pika', 'stomp', 'paho', 'redis', 'pymemcache', 'prometheus_client') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_show_lists_sources_and_targets_with_passwords_redacted(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text('[[targets]]\ntype = "redis"\nurl = "redis://:R3disPw@10.0.0.5:6379/2"\n'
                      '[[targets]]\ntype = "webhook"\nurls = ["http://user:HookPw@app:8080/x"]\n'
                      '[[sources]]\ntype = "http"\n')
    result = cachesync("config", "show", "--config", str(config), "--json")
    assert result.returncode == 0, result.stderr
    assert "R3disPw" not in result.stdout and "HookPw" not in result.stdout
    shown = json.loads(result.stdout)["settings"]
    assert shown["targets[1]"]["value"]["url"] == "redis://:***@10.0.0.5:6379/2"
    assert shown["targets[2]"]["value"]["urls"] == ["http://user:***@app:8080/x"]
    assert shown["sources[1]"]["value"]["listen"] == "127.0.0.1:8765"


def test_a_configured_password_variable_that_is_unset_is_an_error_naming_it(tmp_path, amqp_url):
    """Issue 16: with `password_env` set and the variable forgotten, the tool logged in as guest
    and the broker blamed the user name. Now validate, doctor and every command say which
    variable is missing (exit 2), before any connection."""
    config = tmp_path / "cachesync.toml"
    config.write_text(f'[cluster]\nid = "x"\n[broker]\nurl = "{amqp_url}"\npassword_env = "MY_MQ_PASSWORD"\n')
    for args in (("config", "validate"), ("invalidate", "C", "k", "--confirm"), ("status", "--window", "1")):
        result = cachesync(*args, "--config", str(config))
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert "MY_MQ_PASSWORD is not set" in result.stderr and "[broker] password_env" in result.stderr, result.stderr
    empty = cachesync("config", "validate", "--config", str(config), env={"MY_MQ_PASSWORD": ""})
    assert empty.returncode == 2 and "MY_MQ_PASSWORD is empty" in empty.stderr
    assert cachesync("config", "validate", "--config", str(config), env={"MY_MQ_PASSWORD": "x"}).returncode == 0
    default = tmp_path / "default.toml"  # the default variable, unset: no password (URL credentials)
    default.write_text(f'[cluster]\nid = "x"\n[broker]\nurl = "{amqp_url}"\n')
    assert cachesync("config", "validate", "--config", str(default)).returncode == 0


def test_init_comments_and_the_reference_name_every_broker_scheme(tmp_path):
    target = tmp_path / "cachesync.toml"
    assert cachesync("config", "init", str(target)).returncode == 0
    text = target.read_text()
    reference = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text()
    for scheme in ("amqps", "stomp+ssl", "mqtt", "mqtts://"):
        assert scheme in text and scheme in reference, scheme
