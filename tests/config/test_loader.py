"""Config lookup, validation and precedence (flag > env > file > default)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from cachesync_cli.config import load_config
from cachesync_cli.config.resolve import broker_password, connect_options, signing_keys
from cachesync_cli.config.schema import SETTINGS
from cachesync_cli.config.starter import starter_config
from cachesync_cli.errors import ConfigError
from cachesync_cli.entries import SOURCE_TYPES, TARGET_TYPES


def write(tmp_path: Path, text: str, name: str = "cachesync.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_any_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    config = load_config(environ={})
    assert config.path is None
    assert config["broker.topic"] == "cachesync"
    assert config.source("broker.topic") == "default"


def test_precedence_flag_over_env_over_file_over_default(tmp_path):
    path = write(tmp_path, '[broker]\ntopic = "from-file"\nurl = "amqp://file-host/"\n[cluster]\nid = "file-dc"\n')
    env = {"CACHESYNC_TOPIC": "from-env", "CACHESYNC_CLUSTER": "env-dc"}
    config = load_config(path, environ=env, overrides={"broker.topic": ("from-flag", "--topic"),
                                                       "broker.url": (None, "--broker")})
    assert config["broker.topic"] == "from-flag"
    assert config.source("broker.topic") == "flag --topic"
    assert config["cluster.id"] == "env-dc"
    assert config.source("cluster.id") == "env $CACHESYNC_CLUSTER"
    assert config["broker.url"] == ["amqp://file-host/"]
    assert config.source("broker.url") == f"file {path}"
    assert config["broker.heartbeat"] == 10
    assert config.source("broker.heartbeat") == "default"


def test_env_broker_takes_a_comma_separated_failover_list(tmp_path):
    config = load_config(write(tmp_path, ""), environ={"CACHESYNC_BROKER": "amqp://a/, amqp://b/"})
    assert config["broker.url"] == ["amqp://a/", "amqp://b/"]


def test_lookup_order_env_var_then_current_directory(tmp_path, monkeypatch):
    in_cwd = write(tmp_path, '[cluster]\nid = "cwd"\n')
    elsewhere = write(tmp_path, '[cluster]\nid = "named"\n', name="other.toml")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))  # no context in use
    assert load_config(environ={})["cluster.id"] == "cwd"
    assert load_config(environ={"CACHESYNC_CONFIG": str(elsewhere)})["cluster.id"] == "named"
    assert load_config(in_cwd, environ={"CACHESYNC_CONFIG": str(elsewhere)})["cluster.id"] == "cwd"


def test_lookup_order_with_contexts(tmp_path, monkeypatch):
    """--config > --context > $CACHESYNC_CONFIG > $CACHESYNC_CONTEXT > the context in use > ./cachesync.toml."""
    from cachesync_cli.config import contexts
    from cachesync_cli.config.loader import find_config_file

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.chdir(tmp_path)
    local = write(tmp_path, "")
    folder = contexts.contexts_dir()
    folder.mkdir(parents=True)
    for name in ("flag", "env", "used"):
        write(folder, "", f"{name}.toml")
    explicit, env_file = write(tmp_path, "", "explicit.toml"), write(tmp_path, "", "env.toml")
    assert find_config_file(None, {}) == (local, "current directory")
    contexts.select("used")
    assert find_config_file(None, {}) == (folder / "used.toml", "the context in use, 'used'")
    environ = {"CACHESYNC_CONTEXT": "env"}
    assert find_config_file(None, environ) == (folder / "env.toml", "$CACHESYNC_CONTEXT=env")
    environ["CACHESYNC_CONFIG"] = str(env_file)
    assert find_config_file(None, environ) == (env_file, "$CACHESYNC_CONFIG")
    assert find_config_file(None, environ, "flag") == (folder / "flag.toml", "--context flag")
    assert find_config_file(explicit, environ, "flag") == (explicit, "--config")
    with pytest.raises(ConfigError, match=r"context 'nope' \(from \$CACHESYNC_CONTEXT\) does not exist: no file .*nope.toml"):
        find_config_file(None, {"CACHESYNC_CONTEXT": "nope"})
    with pytest.raises(ConfigError, match=r"context '\.\./x' \(from --context\): '\.\./x' is not a context name"):
        find_config_file(None, {}, "../x")


def test_missing_explicit_file_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="nope.toml.*does not exist"):
        load_config(tmp_path / "nope.toml", environ={})


def test_unknown_key_names_file_section_and_suggests(tmp_path):
    path = write(tmp_path, '[broker]\ntopik = "x"\n')
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    assert str(path) in caught.value.message
    assert "'topik'" in caught.value.message and "[broker]" in caught.value.message
    assert "did you mean 'topic'" in caught.value.hint


def test_unknown_section_suggests(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, '[brokr]\nurl = "amqp://x/"\n'), environ={})
    assert "did you mean 'broker'" in caught.value.hint


@pytest.mark.parametrize("text, expected", [
    ('[broker]\nheartbeat = "fast"\n', "[broker] heartbeat: must be a whole number"),
    ('[codec]\nname = "xml"\n', "[codec] name: must be one of 'native', 'wso2'"),
    ('[broker.tls]\nverify = "yes"\n', "[broker.tls] verify: must be true or false"),
    ('[broker]\nurl = "amqq://host/"\n', "[broker] url: unknown broker URL scheme 'amqq'"),
    ('[broker]\nurl = []\n', "[broker] url: must be a URL string or a non-empty list"),
    ('[signing]\nprevious = { old = "plain-secret" }\n', "[signing] previous: key 'old'"),
])
def test_bad_values_name_file_key_and_what_is_allowed(tmp_path, text, expected):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    assert caught.value.message.startswith(str(path))
    assert expected in caught.value.message


def test_toml_syntax_error_names_the_file_and_line(tmp_path):
    path = write(tmp_path, '[broker]\nurl = "amqp://x/\n')
    with pytest.raises(ConfigError, match=r"not valid TOML.*line 2"):
        load_config(path, environ={})


def test_bad_env_value_names_the_variable(tmp_path):
    with pytest.raises(ConfigError, match=r"\$CACHESYNC_CODEC"):
        load_config(write(tmp_path, ""), environ={"CACHESYNC_CODEC": "json"})


def test_starter_file_parses_and_covers_every_setting(tmp_path):
    text = starter_config(cluster="dc-west", broker="stomp://mq.example.com:61613")
    path = write(tmp_path, text)
    config = load_config(path, environ={})
    assert config["cluster.id"] == "dc-west"
    assert config["broker.url"] == ["stomp://mq.example.com:61613"]
    for setting in SETTINGS:
        assert f"{setting.name} = " in text, setting.key
    assert config["sources"] == [] and config["targets"] == []  # none chosen: every kind only an example
    # every commented example is itself valid: uncomment them all (entries' headers too) and load
    uncommented = "\n".join(line[2:] if re.match(r"# [a-z_]+ = ", line) or re.fullmatch(r"# \[\[[a-z]+\]\]", line)
                            else line for line in text.splitlines())
    entries = tomllib.loads(uncommented)
    assert {e["type"] for e in entries["sources"]} == set(SOURCE_TYPES)
    assert {e["type"] for e in entries["targets"]} == set(TARGET_TYPES)
    with pytest.raises(ConfigError, match=r"\[signing\] key_file: cannot read /run/secrets/"):
        signing_keys(load_config(write(tmp_path, uncommented, "all.toml"), environ={}))


def test_password_from_env_or_file_never_from_the_config(tmp_path):
    secret_file = tmp_path / "pw"
    secret_file.write_text("s3cr3t-from-file\n")
    config = load_config(write(tmp_path, f'[broker]\npassword_file = "{secret_file}"\n'), environ={})
    assert broker_password(config) == "s3cr3t-from-file"
    assert "s3cr3t" not in repr(config.values)
    assert "s3cr3t" not in repr(connect_options(config))
    env_config = load_config(write(tmp_path, "", "e.toml"), environ={"CACHESYNC_PASSWORD": "from-env"})
    assert broker_password(env_config) == "from-env"


def test_unreadable_password_file_names_setting_and_path(tmp_path):
    config = load_config(write(tmp_path, f'[broker]\npassword_file = "{tmp_path}/missing"\n'), environ={})
    with pytest.raises(ConfigError, match=r"\[broker\] password_file: cannot read .*missing"):
        broker_password(config)


def test_signing_keys_with_rotation(tmp_path):
    key_file = tmp_path / "old.key"
    key_file.write_text("old-key")
    path = write(tmp_path, f'[signing]\nkey_id = "new"\nrequire = true\n'
                           f'previous = {{ old = "file:{key_file}" }}\n')
    key_id, keys = signing_keys(load_config(path, environ={"CACHESYNC_SIGNING_KEY": "new-key"}))
    assert key_id == "new"
    assert keys == {"new": b"new-key", "old": b"old-key"}


def test_require_signatures_without_keys_is_an_error(tmp_path):
    config = load_config(write(tmp_path, "[signing]\nrequire = true\n"), environ={})
    with pytest.raises(ConfigError, match="signatures are required but no key"):
        signing_keys(config)


def test_docs_reference_matches_the_schema():
    from cachesync_cli.config.reference import reference_markdown

    docs = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert reference_markdown() in docs, "regenerate: python -m cachesync_cli.config.reference"


def test_entry_arrays_of_the_schema_are_the_registry_kinds():
    from cachesync_cli.config.schema import ENTRY_ARRAYS
    from cachesync_cli.entries import ENTRY_ARRAYS as KINDS

    assert tuple(KINDS) == ENTRY_ARRAYS


def test_config_and_registry_import_in_either_order():
    import subprocess
    import sys

    for first in ("cachesync_cli.entries", "cachesync_cli.config"):
        subprocess.run([sys.executable, "-c", f"import {first}; import cachesync_cli.cli"], check=True)
