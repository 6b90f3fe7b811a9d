"""`cachesync bench` through the real CLI: the pipeline measured, nothing lost (small runs:
the figures themselves are measured by hand, never asserted in tests)."""

from __future__ import annotations

import json
import subprocess

import pytest

from cachesync_cli.bench import scenario
from cachesync_cli.bench.histogram import LatencyHistogram

from ..cli.run import cachesync


def test_histogram_percentiles_within_one_percent():
    histogram = LatencyHistogram()
    for ms in range(1, 1001):
        histogram.record(ms / 1000)
    assert histogram.total == 1000
    assert histogram.percentile(50) == pytest.approx(0.5, rel=0.011)
    assert histogram.percentile(99) == pytest.approx(0.99, rel=0.011)
    assert histogram.percentile(100) == pytest.approx(1.0)
    assert histogram.summary_ms()["max"] == 1000.0


class StallingClock:
    """monotonic() that mostly moves 50 µs between readings but stalls 3 ms on every fifth,
    as a loaded machine preempts the sender."""

    def __init__(self) -> None:
        self.now = 100.0
        self.readings = 0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        self.readings += 1
        self.now += 0.003 if self.readings % 5 == 0 else 0.00005
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


class RecordingRedis:
    def __init__(self) -> None:
        self.published: list[bytes] = []

    def pipeline(self, transaction: bool):
        return self

    def publish(self, channel: str, body: bytes) -> None:
        self.published.append(body)

    def execute(self) -> None:
        pass


def test_paced_sending_survives_a_stalled_clock_and_sends_everything_once(monkeypatch):
    clock = StallingClock()
    monkeypatch.setattr(scenario.time, "monotonic", clock.monotonic)
    monkeypatch.setattr(scenario.time, "sleep", clock.sleep)
    bodies = [str(n).encode() for n in range(50)]
    sent_at = [0.0] * len(bodies)
    sender = RecordingRedis()
    scenario._send_paced(sender, "channel", bodies, sent_at, per_second=1000)
    assert sender.published == bodies
    assert all(sent_at) and sent_at == sorted(sent_at)
    assert all(0 <= seconds <= 0.001 for seconds in clock.slept)


@pytest.mark.parametrize("extra", [["--count", "3000"], ["--count", "3000", "--keys-per-message", "10", "--sign"],
                                   ["--rate", "500", "--duration", "2"]],
                         ids=["unpaced", "batched-signed", "paced"])
def test_bench_on_rabbitmq_loses_nothing(amqp_url, redis_url, extra):
    result = cachesync("bench", "--broker", amqp_url, "--redis", f"{redis_url.rstrip('/')}/9", "--json", *extra,
                       timeout=180)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["lost"] == 0 and report["applied"] == report["invalidations"] > 0
    assert report["silence_flushes"] == 0  # no fault injected: no false alarm
    assert report["latency_ms"]["p50"] > 0 and report["latency_ms"]["max"] >= report["latency_ms"]["p99"]
    assert report["broker_messages"] >= 1
    assert len(report["bridges"]) == 2 and all(b["peak_rss_mb"] > 10 for b in report["bridges"])
    assert "guest:guest" not in result.stdout


def test_bench_baseline_and_idle(amqp_url, redis_url, topic_name):
    result = cachesync("bench", "--broker", amqp_url, "--redis", f"{redis_url.rstrip('/')}/9", "--json",
                       "--count", "2000", "--baseline", "--topic", topic_name, timeout=180)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["baseline"]["driver"] == "pika" and report["baseline"]["received"] == 2000
    assert report["ratio_to_baseline"] > 0
    idle = cachesync("bench", "--broker", amqp_url, "--redis", f"{redis_url.rstrip('/')}/9", "--json",
                     "--clusters", "3", "--idle", "2", timeout=180)
    assert idle.returncode == 0, idle.stderr
    bridges = json.loads(idle.stdout)["bridges"]
    assert len(bridges) == 3 and all(b["cpu_percent"] is not None for b in bridges)
    # the bridges' durable queues (cachesync.<cluster>@<topic>.bench.<run>) went with the runs
    queues = subprocess.run(["rabbitmqctl", "-q", "list_queues", "name"], capture_output=True, text=True,
                            check=True, timeout=60).stdout.split()
    assert [q for q in queues if f"@{topic_name}.bench." in q] == []


@pytest.mark.parametrize("broker", ["activemq_stomp_url", "mosquitto_url"])
def test_bench_on_activemq_and_mqtt_loses_nothing(broker, request, redis_url):
    url = request.getfixturevalue(broker)
    result = cachesync("bench", "--broker", url, "--redis", f"{redis_url.rstrip('/')}/9", "--json",
                       "--count", "2000", timeout=180)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["lost"] == 0 and report["applied"] == 2000 and report["silence_flushes"] == 0


def test_a_watcher_cut_off_by_redis_fails_the_run_and_settings_come_back(amqp_url, redis_url):
    """Redis once cut the bench's keyspace watcher off (pub/sub output buffer limit) and the
    run printed figures from the deletes it had seen. Now the run fails and says why."""
    import threading
    import time

    import redis

    control = redis.Redis.from_url(redis_url)
    before = (control.config_get("notify-keyspace-events"), control.config_get("client-output-buffer-limit"))
    killed = []

    def cut_off_the_watcher() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not killed:
            for client in control.client_list(_type="pubsub"):
                if client.get("psub") == "1" and client.get("db") == "10":  # the watcher of db 10
                    control.client_kill_filter(_id=client["id"])
                    killed.append(client["id"])
            time.sleep(0.01)

    thread = threading.Thread(target=cut_off_the_watcher)
    thread.start()
    result = cachesync("bench", "--broker", amqp_url, "--redis", f"{redis_url.rstrip('/')}/9", "--json",
                       "--count", "20000", timeout=180)
    thread.join()
    after = (control.config_get("notify-keyspace-events"), control.config_get("client-output-buffer-limit"))
    control.close()
    assert killed, "the watcher never showed up"
    assert result.returncode != 0 and result.stdout == ""
    assert "the watcher of Redis db 10 stopped" in result.stderr and "no figures from this run" in result.stderr
    assert after == before


def test_an_unreachable_broker_is_exit_3_before_any_bridge_starts(redis_url):
    result = cachesync("bench", "--broker", "amqp://127.0.0.1:1/", "--redis", f"{redis_url.rstrip('/')}/9",
                       "--count", "10", timeout=60)
    assert result.returncode == 3, result.stderr
    assert "cannot connect to amqp://127.0.0.1:1: connection refused" in result.stderr
    assert "did not start" not in result.stderr  # said at once, not from a bridge's log
