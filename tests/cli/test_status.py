"""`cachesync status` with two idle bridges, as a user runs it: it ends once both are heard,
shows no cluster behind, prints a --template, and cuts no name on a 60-column terminal."""

from __future__ import annotations

import json
import re
import time

import pytest

from tests.bridge.processes import BridgeProcess, bridge_config
from tests.redis_dbs import flushed_dbs

from .run import cachesync

EAST, WEST = "dc-east-production-eu1", "dc-west-production-us2"  # long names: the table must not cut them


@pytest.fixture(scope="module")
def idle_bridges(tmp_path_factory, amqp_url, redis_url):
    tmp = tmp_path_factory.mktemp("status")
    topic = f"status-{time.time_ns()}"
    configs = [bridge_config(tmp, cluster, amqp_url, topic, redis_db=db, redis_url=redis_url, heartbeat=0.5)
               for cluster, db in ((EAST, 13), (WEST, 14))]
    with flushed_dbs(redis_url, 13, 14), BridgeProcess(configs[0]), BridgeProcess(configs[1]):
        time.sleep(1.5)  # a few heartbeats each way: each has applied the other's
        yield ["--broker", amqp_url, "--topic", topic]


def test_status_ends_once_every_cluster_is_heard_and_no_idle_cluster_is_behind(idle_bridges):
    for _ in range(3):  # the old count was "1 behind" for whichever cluster's heartbeat went out last
        started = time.monotonic()
        result = cachesync("status", "--format", "json", *idle_bridges)
        took = time.monotonic() - started
        assert result.returncode == 0, result.stderr
        report = json.loads(result.stdout)
        assert [c["origin"] for c in report["clusters"]] == [EAST, WEST]
        assert report["unheard"] == []
        for cluster in report["clusters"]:
            assert set(cluster["behind"].values()) == {0}, cluster
        assert took < 6, f"status took {took:.1f}s for two clusters heard every 0.5s (window 12s)"


def test_the_old_json_flag_is_an_alias(idle_bridges):
    result = cachesync("status", "--json", *idle_bridges)
    assert result.returncode == 0, result.stderr
    assert {c["origin"] for c in json.loads(result.stdout)["clusters"]} == {EAST, WEST}
    clash = cachesync("status", "--json", "--format", "table", *idle_bridges)
    assert clash.returncode == 2 and "--json means --format json" in clash.stderr


@pytest.mark.parametrize("columns", ["60", "80", "200"])
def test_the_table_shows_every_name_whole_at_any_width(idle_bridges, columns):
    result = cachesync("status", *idle_bridges, env={"COLUMNS": columns})
    assert result.returncode == 0, result.stderr
    assert "…" not in result.stdout
    assert all(len(line) <= int(columns) for line in result.stdout.splitlines())
    words = result.stdout.split()
    for name in (EAST, WEST):
        assert name in words and any(w.startswith(name + "/") for w in words), result.stdout
    assert not re.search(r"\d+ *$", "".join(line for line in result.stdout.splitlines() if "behind" in line))


def test_template_prints_one_line_per_cluster(idle_bridges):
    result = cachesync("status", "--template", r"{origin}\t{seq:>6} behind=[{behind}] {intake}", *idle_bridges)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split("\t")[0] for line in lines] == [EAST, WEST]
    assert all(re.fullmatch(r"[\w-]+\t *\d+ behind=\[\] ok", line) for line in lines), lines
