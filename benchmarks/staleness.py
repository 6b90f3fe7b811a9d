"""Issue 15's table: how stale caches get when a bridge restarts, dies, meets a bad local
message, or loses the broker.

    .venv/bin/python benchmarks/staleness.py --broker amqp://guest:guest@127.0.0.1:5672/ \\
        --scenario restart|kill|bad-message|cut|all [--redis redis://127.0.0.1:6379] [--repeat N]

Two real bridges, a and b (`cachesync run` of this checkout), each with a redis-channel
source and a Redis target: a on db 1, b on db 2 of `--redis`, both FLUSHDB'd before and
after, so give it a Redis of its own. Settings: the defaults, except `[sync]
heartbeat_interval = 1` and `[broker] heartbeat = 2`. Scenarios:

- restart: a's app revokes 3,000 keys at ~400/s; 2 s in, a's bridge gets SIGTERM and is
  started again. Counts the keys still readable in b at the end;
- kill: the same with SIGKILL;
- bad-message: one local message `{"cache":"C","keys":["x"*1048400]}` on a's channel, then
  10 real invalidations: is a's bridge still up, how many of the 10 reach b;
- cut: a's path to the broker (a TCP proxy) refuses for 20 s while b's app revokes one key a
  second: how long each revoked key stayed readable in a (max, median); and an entry a's
  app caches again 12 s into the cut (one b had revoked): how long it survives.

The measuring (apps, the staleness recorder) is the chaos suite's: tests/reliability/chaos.py.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cachesync_cli.transport.endpoint import parse_endpoint  # noqa: E402
from tests.bridge.processes import BridgeProcess, bridge_config  # noqa: E402
from tests.reliability.chaos import Application, Cluster, InvalidationStream  # noqa: E402
from tests.reliability.staleness_recorder import StalenessRecorder  # noqa: E402
from tests.reliability.helpers import TcpProxy, set_broker_options  # noqa: E402

#: What the issue changed from the defaults; every other setting is the default.
ISSUE_HEARTBEAT_INTERVAL = 1
ISSUE_BROKER_HEARTBEAT = 2
#: Lines of the tests' bridge_config that are not defaults, removed for the issue's settings.
TEST_ONLY_SETTINGS = ("connect_timeout =", "reconnect_max_delay =", "retry_max_delay =", "silence_flush =")
#: How long the far caches get to drop what is left once the fault is over: the cut's a may
#: wait up to reconnect_max_delay (3 s by default; 30 s before issue 15) before it reconnects.
SETTLE_SECONDS = 15.0
SETTLE_AFTER_CUT_SECONDS = 60.0


class Pair:
    """Clusters a and b: their Redis dbs, configs and bridges, torn down on exit."""

    def __init__(self, broker: str, redis_url: str, *, proxy_a: bool = False) -> None:
        import redis

        self.broker = broker
        self.tmp = Path(tempfile.mkdtemp(prefix="staleness-"))
        suffix = secrets.token_hex(3)
        self.names = (f"a-{suffix}", f"b-{suffix}")
        self.topic = f"cachesync.staleness.{suffix}"
        self.redis = [redis.Redis.from_url(f"{redis_url.rstrip('/')}/{db}") for db in (1, 2)]
        for client in self.redis:
            client.flushdb()
        self.proxy = None
        if proxy_a:
            endpoint = parse_endpoint(broker)
            self.proxy = TcpProxy((endpoint.host, endpoint.port))
        self.a, self.b = (Cluster(name, client, client) for name, client in zip(self.names, self.redis))
        configs = [bridge_config(self.tmp, name, broker, self.topic, redis_db=db, redis_url=redis_url,
                                 heartbeat=ISSUE_HEARTBEAT_INTERVAL) for name, db in zip(self.names, (1, 2))]
        if self.proxy is not None:
            configs[0].write_text(configs[0].read_text().replace(f'url = "{broker}"',
                                                                 f'url = "{self.proxy.url(broker)}"'))
        for config in configs:
            text = "".join(line + "\n" for line in config.read_text().splitlines()
                           if not line.startswith(TEST_ONLY_SETTINGS))
            config.write_text(text)
            set_broker_options(config, heartbeat=ISSUE_BROKER_HEARTBEAT)
        env = {"PYTHONPATH": str(ROOT)}
        self.bridge_a, self.bridge_b = (BridgeProcess(config, env=env) for config in configs)
        self.recorder = StalenessRecorder([self.a, self.b])

    def __enter__(self) -> Pair:
        self.bridge_a.start()
        self.bridge_b.start()
        self.recorder.start()
        return self

    def __exit__(self, *exc_info) -> None:
        if not self.recorder.stopped:
            self.recorder.stop()
        for bridge in (self.bridge_a, self.bridge_b):
            if bridge.process is not None and bridge.process.poll() is None:
                try:
                    bridge.stop()
                except AssertionError:
                    pass
        if self.proxy is not None:
            self.proxy.close()
        for client in self.redis:
            client.flushdb()
        if self.broker.startswith("amqp"):
            from tests.transport.brokers import delete_amqp_queue

            for name in self.names:
                delete_amqp_queue(self.broker, f"cachesync.{name}")


def restart_during_stream(pair: Pair, how: str) -> dict:
    """3,000 revocations by a's app at ~400/s; a's bridge stopped (`how`) and started 2 s in."""
    stream = InvalidationStream(Application(pair.a, pair.b, pair.recorder), rate=400, total=3000).start()
    time.sleep(2.0)
    started = time.monotonic()
    if how == "SIGTERM":
        pair.bridge_a.stop()
    else:
        pair.bridge_a.kill()
    pair.bridge_a.start()
    down = time.monotonic() - started
    stream.join()
    pair.recorder.settle(SETTLE_SECONDS)
    pair.recorder.stop()
    figures = pair.recorder.summary(near=pair.a.name)
    return {**figures, "a_down_s": round(down, 1),
            "verdict": f"{figures['stale']}/{figures['revoked']} stale in b after {how} (a down {down:.1f} s)"}


def bad_message(pair: Pair) -> dict:
    """One local message over the size limit, then 10 real invalidations."""
    pair.a.channel_redis.publish(pair.a.channel, json.dumps({"cache": "C", "keys": ["x" * 1048400]}))
    time.sleep(3.0)
    Application(pair.a, pair.b, pair.recorder).revoke(10)
    pair.recorder.settle(10.0)
    pair.recorder.stop()
    figures = pair.recorder.summary(near=pair.a.name)
    code = pair.bridge_a.process.poll()
    up = "a up" if code is None else f"a exited {code}"
    return {**figures, "a_exit_status": code,
            "verdict": f"{up}; {figures['applied'] + figures['flushed']}/10 applied in b"}


def cut(pair: Pair) -> dict:
    """a's broker path refused for 20 s while b's app revokes a key a second."""
    b_app, a_app = Application(pair.b, pair.a, pair.recorder), Application(pair.a, pair.b, pair.recorder)
    time.sleep(2.0)
    pair.proxy.refuse()
    stream = InvalidationStream(b_app, rate=1).start()
    time.sleep(12.0)
    revoked_by_b = [r for r in pair.recorder.revocations if r.near == pair.b.name]
    again = a_app.recache(revoked_by_b[-1])
    time.sleep(8.0)
    stream.stop()
    pair.proxy.restore()
    pair.recorder.settle(SETTLE_AFTER_CUT_SECONDS)
    pair.recorder.stop()
    figures = pair.recorder.summary(near=pair.b.name)
    survived = again.staleness if again.gone is not None else None
    return {**figures, "recached_survived_s": None if survived is None else round(survived, 1),
            "verdict": f"readable in a up to {figures['max_staleness_s']} s (median "
                       f"{figures['median_staleness_s']} s); re-cached entry survived "
                       f"{'until the end' if survived is None else f'{survived:.1f} s'}"}


SCENARIOS = {
    "restart": lambda pair: restart_during_stream(pair, "SIGTERM"),
    "kill": lambda pair: restart_during_stream(pair, "SIGKILL"),
    "bad-message": bad_message,
    "cut": cut,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--broker", default="amqp://guest:guest@127.0.0.1:5672/")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379")
    parser.add_argument("--scenario", choices=[*SCENARIOS, "all"], default="all")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each scenario (a row each)")
    args = parser.parse_args()
    names = [name for name in (list(SCENARIOS) if args.scenario == "all" else [args.scenario])
             for _ in range(args.repeat)]
    rows = []
    for name in names:
        print(f"running {name}...", file=sys.stderr)
        started = time.monotonic()
        with Pair(args.broker, args.redis, proxy_a=name == "cut") as pair:
            figures = SCENARIOS[name](pair)
        figures["seconds"] = round(time.monotonic() - started, 1)
        rows.append((name, figures))
        print(f"{name}: {json.dumps(figures)}", file=sys.stderr)
    print(f"{'scenario':<12} {'revoked':>7} {'applied':>7} {'flushed':>7} {'stale':>5} {'max s':>6} "
          f"{'median s':>8}  result")
    for name, f in rows:
        print(f"{name:<12} {f['revoked']:>7} {f['applied']:>7} {f['flushed']:>7} {f['stale']:>5} "
              f"{f['max_staleness_s']:>6} {f['median_staleness_s']:>8}  {f['verdict']}")


if __name__ == "__main__":
    main()
