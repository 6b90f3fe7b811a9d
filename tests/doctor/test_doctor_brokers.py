"""`cachesync doctor` against the real brokers: healthy runs and each way a broker can be wrong."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

import pytest

from tests.doctor.helpers import DelayingProxy, check, doctor, free_port, statuses

BROKER_CHECKS = ("config", "dns", "tcp", "auth", "permissions", "roundtrip")


@pytest.mark.parametrize("broker", ["amqp", "rabbit_stomp", "activemq_stomp"])
def test_healthy_broker_every_check_ok(request, broker, topic_name):
    url = request.getfixturevalue(f"{broker}_url")
    code, report, _ = doctor("--broker", url, "--topic", topic_name)
    got = statuses(report)
    assert code == 0, report
    assert report["status"] == "ok" and report["exit_code"] == 0
    assert all(got[name] == "ok" for name in BROKER_CHECKS), got
    assert got["tls"] == got["signature"] == got["targets"] == got["sources"] == "skip"
    assert "peers" not in got  # only with --peers
    assert check(report, "roundtrip")["metrics"]["roundtrip_ms"] > 0
    assert check(report, "tcp")["metrics"]["connect_ms"] >= 0
    clock = check(report, "clock")
    if broker == "activemq_stomp":  # ActiveMQ stamps STOMP messages: the clock is compared
        assert clock["status"] == "ok" and abs(clock["metrics"]["clock_skew_ms"]) < 1000
    else:
        assert clock["status"] == "skip" and "timestamp" in clock["message"]


def test_closed_port_fails_tcp_and_skips_what_needs_it(topic_name):
    port = free_port()
    code, report, _ = doctor("--broker", f"amqp://guest:guest@127.0.0.1:{port}/", "--topic", topic_name)
    got = statuses(report)
    assert code == 2
    assert got["config"] == got["dns"] == "ok"
    assert got["tcp"] == "fail" and "Connection refused" in check(report, "tcp")["message"]
    assert check(report, "tcp")["hint"]
    for later in ("tls", "auth", "permissions", "roundtrip", "signature", "clock"):
        assert got[later] == "skip", later
    assert "not run: tcp" in check(report, "auth")["message"]


def test_dead_failover_url_is_a_warning_while_another_works(amqp_url, topic_name):
    dead = f"amqp://guest:guest@127.0.0.1:{free_port()}/"
    code, report, _ = doctor("--broker", dead, "--broker", amqp_url, "--topic", topic_name)
    assert code == 1
    tcp = check(report, "tcp")
    assert tcp["status"] == "warn" and "1 of 2" in tcp["message"]
    assert [d["status"] for d in tcp["details"]] == ["fail", "ok"]
    assert statuses(report)["roundtrip"] == "ok"


def test_wrong_password_fails_auth_without_printing_it(amqp_url, topic_name):
    parts = urlsplit(amqp_url)
    wrong = amqp_url.replace(f":{parts.password}@", ":not-the-password-xyz@")
    result = doctor("--broker", wrong, "--topic", topic_name)
    code, report, stderr = result
    auth = check(report, "auth")
    assert code == 2
    assert auth["status"] == "fail" and "wrong user name or password" in auth["message"]
    assert statuses(report)["permissions"] == "skip"
    assert "not-the-password-xyz" not in str(report) + stderr


@pytest.mark.parametrize("broker", ["restricted_amqp", "restricted_stomp"])
def test_user_without_permission_on_the_topic(request, broker, topic_name):
    url = request.getfixturevalue(f"{broker}_url")
    code, report, _ = doctor("--broker", url, "--topic", topic_name)
    got = statuses(report)
    permissions = check(report, "permissions")
    assert code == 2
    assert got["auth"] == "ok"  # connecting is allowed
    assert permissions["status"] == "fail"
    assert "ACCESS_REFUSED" in str(permissions["details"])
    assert "set_permissions" in permissions["hint"]
    assert got["roundtrip"] == "skip"


def test_slow_round_trip_warns_and_fails_by_thresholds(amqp_url, topic_name):
    host_port = urlsplit(amqp_url)
    with DelayingProxy((host_port.hostname, host_port.port), delay=0.15) as proxy:
        slow = f"amqp://guest:guest@127.0.0.1:{proxy.port}/"
        code, report, _ = doctor("--broker", slow, "--topic", topic_name, "--warn-ms", "100", "--crit-ms", "5000")
        roundtrip = check(report, "roundtrip")
        assert roundtrip["status"] == "warn", roundtrip
        assert roundtrip["metrics"]["roundtrip_ms"] >= 100
        assert code == 1
        code, report, _ = doctor("--broker", slow, "--topic", topic_name, "--warn-ms", "50", "--crit-ms", "100",
                                 "--only", "roundtrip")
        assert code == 2 and check(report, "roundtrip")["status"] == "fail"
        assert "above 100 ms" in check(report, "roundtrip")["message"]


def test_fail_on_warn_turns_a_warning_into_exit_2(amqp_url, topic_name):
    code, report, _ = doctor("--broker", amqp_url, "--topic", topic_name, "--warn-ms", "0")
    assert code == 1 and check(report, "roundtrip")["status"] == "warn"
    code, report, _ = doctor("--broker", amqp_url, "--topic", topic_name, "--warn-ms", "0", "--fail-on", "warn")
    assert code == 2 and report["exit_code"] == 2


def test_wait_gives_up_after_the_duration(topic_name):
    started = time.monotonic()
    code, report, stderr = doctor("--broker", f"amqp://127.0.0.1:{free_port()}/", "--topic", topic_name,
                                  "--wait", "2500ms")
    assert code == 2
    assert time.monotonic() - started >= 2.5
    assert report["attempts"] >= 2
    assert "attempt 1: tcp" in stderr


def test_wait_succeeds_once_the_broker_listens(amqp_url, topic_name):
    parts = urlsplit(amqp_url)
    with DelayingProxy((parts.hostname, parts.port), start_after=1.5) as proxy:
        code, report, _ = doctor("--broker", f"amqp://guest:guest@127.0.0.1:{proxy.port}/", "--topic", topic_name,
                                 "--wait", "20s")
    assert code == 0, report
    assert report["attempts"] >= 2


def test_signed_probe_verifies(amqp_url, topic_name, tmp_path):
    config = tmp_path / "cachesync.toml"
    config.write_text('[cluster]\nid = "dc-test"\n[signing]\nkey_id = "k1"\nrequire = true\n')
    code, report, _ = doctor("--config", str(config), "--broker", amqp_url, "--topic", topic_name,
                             "--skip", "targets",  # a file with no sources or targets: warns, not this test's point
                             env={"CACHESYNC_SIGNING_KEY": "s3cret-doctor-key"})
    signature = check(report, "signature")
    assert code == 0, report
    assert signature["status"] == "ok" and "'k1'" in signature["message"]
    assert "s3cret-doctor-key" not in str(report)


def test_missing_signing_key_fails_config(amqp_url, topic_name, tmp_path):
    config = tmp_path / "cachesync.toml"
    config.write_text('[signing]\nkey_id = "k1"\n')
    code, report, _ = doctor("--config", str(config), "--broker", amqp_url, "--topic", topic_name)
    assert code == 2
    assert check(report, "config")["status"] == "fail" and "CACHESYNC_SIGNING_KEY" in check(report, "config")["message"]
    assert set(statuses(report).values()) == {"fail", "skip"}
