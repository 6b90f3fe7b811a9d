"""examples/ stays valid: every config loads, the other files parse."""

from __future__ import annotations

from pathlib import Path

import pytest

from cachesync_cli.config import load_config

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.toml")), ids=lambda p: p.name)
def test_example_config_loads(path):
    config = load_config(path, environ={})  # secrets are read only when used, not needed here
    assert config["broker.url"]


def test_the_examples_named_in_the_docs_exist():
    for name in ("rabbitmq.toml", "activemq.toml", "wso2-activemq.toml", "wso2-rabbitmq.toml", "tls.toml",
                 "signing.toml", "cachesync.service", "kubernetes-sidecar.yaml", "ci-doctor.yml"):
        assert (EXAMPLES / name).is_file(), name


def test_kubernetes_configmap_holds_a_valid_config(tmp_path):
    text = (EXAMPLES / "kubernetes-sidecar.yaml").read_text()
    block = text.split("cachesync.toml: |\n", 1)[1].split("\n---", 1)[0]
    config = tmp_path / "cachesync.toml"
    config.write_text("\n".join(line[4:] for line in block.splitlines()))
    assert load_config(config, environ={})["cluster.id"] == "dc-east"


def test_systemd_unit_runs_the_bridge_with_secrets_from_a_file():
    unit = (EXAMPLES / "cachesync.service").read_text()
    assert "ExecStart=/usr/local/bin/cachesync run" in unit
    assert "EnvironmentFile=" in unit and "NoNewPrivileges=yes" in unit
    # the bridge says READY=1 (sd_notify) and reloads its rules on SIGHUP: tests/bridge/test_lifecycle_e2e.py
    assert "Type=notify" in unit and "ExecReload=/bin/kill -HUP $MAINPID" in unit
