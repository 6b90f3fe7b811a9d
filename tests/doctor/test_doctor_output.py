"""doctor's formats, --output, --list-checks, --only/--skip, exit 3 for usage, and local targets."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

from tests.cli.run import cachesync
from tests.doctor.helpers import check, doctor, free_port, statuses


def test_list_checks_in_order():
    result = cachesync("doctor", "--list-checks", "--format", "json")
    ids = [c["id"] for c in json.loads(result.stdout)]
    assert result.returncode == 0
    assert ids == ["config", "dns", "tcp", "tls", "auth", "permissions", "roundtrip", "signature", "clock", "is-queues",
                   "targets", "sources", "peers"]
    text = cachesync("doctor", "--list-checks").stdout
    assert text.splitlines()[0].startswith("config ")


def test_only_and_skip(amqp_url, topic_name):
    code, report, _ = doctor("--broker", amqp_url, "--topic", topic_name, "--only", "tcp,roundtrip")
    assert code == 0 and list(statuses(report)) == ["tcp", "roundtrip"]
    assert statuses(report)["roundtrip"] == "ok"  # runs on its own, without `permissions`
    code, report, _ = doctor("--broker", amqp_url, "--topic", topic_name, "--skip", "clock", "--skip", "dns")
    assert code == 0 and "clock" not in statuses(report) and "dns" not in statuses(report)


def test_usage_errors_exit_3():
    for args in (["--only", "nosuch"], ["--format", "xml"], ["--no-such-option"], ["--wait", "soon"],
                 ["--fail-on", "maybe"]):
        result = cachesync("doctor", *args)
        assert result.returncode == 3, (args, result.stderr)
    assert "did you mean 'roundtrip'" in cachesync("doctor", "--only", "roundtrp").stderr


def test_wait_takes_the_durations_cleanup_takes(topic_name):
    for wait in ("1d", "0", "90", "1h30m"):
        result = cachesync("doctor", "--broker", "memory://", "--topic", topic_name, "--only", "config",
                           "--wait", wait)
        assert result.returncode == 0, (wait, result.stderr)
    assert "--wait: 'soon' is not a duration" in cachesync("doctor", "--wait", "soon").stderr


def test_no_broker_configured_fails_config_with_the_one_hint(tmp_path):
    result = cachesync("doctor", "--only", "config", "--format", "json", cwd=tmp_path,
                       env={"XDG_CONFIG_HOME": str(tmp_path)})
    config = json.loads(result.stdout)["checks"][0]
    assert (config["status"], config["message"]) == ("fail", "no broker configured")
    assert config["hint"] == "pass --broker URL, set $CACHESYNC_BROKER, or set [broker] url in cachesync.toml"


def test_junit_is_valid_with_one_testcase_per_check(topic_name):
    result = cachesync("doctor", "--broker", f"amqp://127.0.0.1:{free_port()}/", "--topic", topic_name,
                       "--format", "junit")
    assert result.returncode == 2
    root = ET.fromstring(result.stdout)
    suite = root.find("testsuite")
    cases = {case.get("name"): case for case in suite.findall("testcase")}
    assert list(cases)[:3] == ["config", "dns", "tcp"]
    assert int(suite.get("tests")) == len(cases) == 12
    assert cases["tcp"].find("failure") is not None and "fix:" in cases["tcp"].find("failure").text
    assert cases["auth"].find("skipped") is not None
    assert cases["config"].find("failure") is None and cases["config"].find("skipped") is None
    assert suite.get("failures") == "1"


def test_nagios_one_line_with_perfdata(amqp_url, topic_name):
    result = cachesync("doctor", "--broker", amqp_url, "--topic", topic_name, "--format", "nagios",
                       "--warn-ms", "200", "--crit-ms", "1000")
    assert result.returncode == 0
    line, = result.stdout.splitlines()
    assert re.fullmatch(r"CACHESYNC OK - \d+ ok, 0 warn, 0 fail, \d+ skip \| .+", line), line
    perf = dict(item.split("=", 1) for item in line.split(" | ")[1].split())
    assert re.fullmatch(r"[\d.]+;200;1000", perf["connect_ms"])
    assert re.fullmatch(r"[\d.]+;200;1000", perf["roundtrip_ms"])
    bad = cachesync("doctor", "--broker", f"amqp://127.0.0.1:{free_port()}/", "--format", "nagios")
    assert bad.returncode == 2 and bad.stdout.startswith("CACHESYNC CRITICAL - tcp: cannot connect")


def test_output_file_is_written_atomically_and_stdout_stays_clean(amqp_url, topic_name, tmp_path):
    target = tmp_path / "reports" / "doctor.json"
    target.parent.mkdir()
    target.write_text("old report")
    result = cachesync("doctor", "--broker", amqp_url, "--topic", topic_name, "--format", "json",
                       "--output", str(target))
    assert result.returncode == 0
    assert result.stdout == ""
    assert json.loads(target.read_text())["status"] == "ok"
    assert [p.name for p in target.parent.iterdir()] == ["doctor.json"]  # no temporary file left
    assert "report written to" in result.stderr


def test_text_format_shows_remedies_inline(topic_name):
    result = cachesync("doctor", "--broker", f"amqp://127.0.0.1:{free_port()}/", "--topic", topic_name)
    assert result.returncode == 2
    assert "FAIL  tcp" in result.stdout and "fix: is the broker running" in result.stdout
    assert "CRITICAL: 2 ok, 0 warn, 1 fail" in result.stdout


def test_redis_target_down_fails_that_check_only(amqp_url, redis_url, topic_name, tmp_path):
    dead = f"redis://127.0.0.1:{free_port()}/0"
    config = tmp_path / "cachesync.toml"
    config.write_text(f'[[targets]]\ntype = "redis"\nname = "cache-up"\nurl = "{redis_url}/0"\n\n'
                      f'[[targets]]\ntype = "redis"\nname = "cache-down"\nurl = "{dead}"\n\n'
                      f'[[targets]]\ntype = "directory"\nname = "files"\npath = "{tmp_path}"\n')
    code, report, _ = doctor("--config", str(config), "--broker", amqp_url, "--topic", topic_name)
    got = statuses(report)
    targets = check(report, "targets")
    assert code == 2
    assert targets["status"] == "fail" and "1 of 3 not reachable" in targets["message"]
    by_name = {d["name"]: d for d in targets["details"]}
    assert by_name["redis 'cache-down'"]["status"] == "fail"
    assert by_name["redis 'cache-up'"]["status"] == "ok"
    assert [s for name, s in got.items() if name != "targets" and s == "fail"] == []
    assert got["roundtrip"] == "ok"
