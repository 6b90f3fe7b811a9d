"""`cachesync bench`: the real bridge pipeline between simulated clusters, measured."""


import json
from typing import Annotated, Optional

import typer

from cachesync_cli.cli import formats
from cachesync_cli.cli.options import BrokerOption, ConfigOption, TopicOption
from cachesync_cli.errors import ExitStatus, UsageError
from cachesync_cli.wire.codec_names import CODEC_NAMES

LOAD_PANEL = "Load"
REPORT_PANEL = "Report"
FORMATS = ("table", "json")
FormatOption, JsonOption = formats.format_options(FORMATS, "table (default) or json.", panel=REPORT_PANEL)

EPILOG = """[b]Examples[/b]

  cachesync bench --broker amqp://guest:guest@127.0.0.1:5672/ --count 100000 --baseline
  cachesync bench --broker amqp://guest:guest@127.0.0.1:5672/ --keys-per-message 10 --count 500000
  cachesync bench --broker stomp://127.0.0.1:61613 --rate 1000 --duration 10
  cachesync bench --broker amqp://guest:guest@127.0.0.1:5672/ --clusters 10 --idle 30

Each simulated cluster is a real `cachesync run` process with a Redis channel source and a
Redis target (database <--redis db> + cluster number - 1). Keys are named for the run and
removed afterwards; nothing else in Redis is touched. See docs/performance.md.

[b]Exit status[/b]: 0 done with nothing lost; 1 some invalidation was lost; 2 usage or
configuration error; 3 broker unreachable."""


def command(
    count: Annotated[Optional[int], typer.Option(metavar="N", help="Invalidations (keys) to send. "
                                                 "Default: 100000 unpaced, rate x duration paced.",
                                                 rich_help_panel=LOAD_PANEL)] = None,
    duration: Annotated[float, typer.Option(metavar="SECONDS", help="With --rate: how long to send.",
                                            rich_help_panel=LOAD_PANEL)] = 10.0,
    rate: Annotated[Optional[float], typer.Option(metavar="PER_SECOND",
                                                  help="Offered invalidations/s (unpaced when omitted).",
                                                  rich_help_panel=LOAD_PANEL)] = None,
    keys_per_message: Annotated[int, typer.Option(metavar="N", help="Keys per local message.",
                                                  rich_help_panel=LOAD_PANEL)] = 1,
    clusters: Annotated[int, typer.Option(metavar="N", help="Simulated clusters (1 sends, the rest apply).",
                                          rich_help_panel=LOAD_PANEL)] = 2,
    codec: Annotated[str, typer.Option(metavar="CODEC", help="native or wso2.", rich_help_panel=LOAD_PANEL)]
    = "native",
    sign: Annotated[bool, typer.Option("--sign", help="Sign and verify every envelope.",
                                       rich_help_panel=LOAD_PANEL)] = False,
    idle: Annotated[float, typer.Option(metavar="SECONDS", help="Measure idle bridges (heartbeats only) "
                                        "for this long instead of sending.", rich_help_panel=LOAD_PANEL)] = 0.0,
    redis: Annotated[str, typer.Option(metavar="URL", help="Redis for the clusters' sources and targets.",
                                       rich_help_panel=LOAD_PANEL)] = "redis://127.0.0.1:6379/0",
    baseline: Annotated[bool, typer.Option("--baseline", help="Also run the bare driver, same broker, same run.",
                                           rich_help_panel=REPORT_PANEL)] = False,
    fmt: FormatOption = None,
    as_json: JsonOption = False,
    config: ConfigOption = None,
    broker: BrokerOption = None,
    topic: TopicOption = None,
) -> None:
    """Measure the bridge pipeline end to end: throughput, latency, loss, CPU and memory."""
    import secrets
    import signal
    import sys

    from cachesync_cli.bench.scenario import BenchOptions, run_bench
    from cachesync_cli.cli import output

    as_json = formats.choose(fmt, FORMATS, alias=("--json", as_json, "json")) == "json"
    from cachesync_cli.cli.common import load, open_broker

    if codec not in CODEC_NAMES:
        raise UsageError(f"--codec {codec!r}: must be {' or '.join(CODEC_NAMES)}")
    if keys_per_message < 1 or (count is not None and count < 1):
        raise UsageError("--count and --keys-per-message must be 1 or more")
    cfg = load(config, broker, topic)
    cfg.broker_urls()  # raises when there is none
    if rate is not None and rate <= 0:
        raise UsageError("--rate must be more than 0")
    total = count or (int(rate * duration) if rate else 100_000)
    bench_topic = f"{cfg['broker.topic']}.bench.{secrets.token_hex(3)}"
    options = BenchOptions(brokers=cfg["broker.url"], topic=bench_topic, redis_url=redis, clusters=clusters,
                           count=total, rate=rate, keys_per_message=keys_per_message, codec=codec, sign=sign,
                           idle=idle)
    say = (lambda text: None) if as_json else output.info
    open_broker(cfg, quiet=True).close()  # unreachable or refused: say so now (exit 3), not from a bridge's log
    # SIGTERM unwinds like Ctrl-C: the bridges stop and Redis gets its settings back.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    result = run_bench(options, progress=say).to_json()
    result["broker"] = _redacted(cfg["broker.url"][0])
    if baseline and not idle:
        from cachesync_cli.bench.baseline import baseline_rate

        say("running the bare-driver baseline")
        result["baseline"] = baseline_rate(cfg["broker.url"][0], bench_topic + ".baseline", min(total, 20_000))
        ours, theirs = result.get("achieved_per_second"), result["baseline"].get("per_second")
        result["ratio_to_baseline"] = round(ours / theirs, 2) if ours and theirs else None
    if as_json:
        output.write_line(json.dumps(result))
    else:
        _table(result)
    if result.get("silence_flushes"):
        output.warn(f"{result['silence_flushes']} silence flush(es) in a run without faults: a bridge went "
                    "unheard for longer than max_silence (an overloaded machine?); see the bridges' logs")
    if result.get("lost"):
        raise typer.Exit(ExitStatus.FAILURE)


def _redacted(url: str) -> str:
    from cachesync_cli.transport.endpoint import redact_url

    return redact_url(url)


def _table(result: dict) -> None:
    from cachesync_cli.cli import output

    table = output.new_table("", "", right=("",), title=f"cachesync bench on {result['broker']}",
                             title_justify="left", show_header=False)
    table.columns[0].justify, table.columns[0].style = "left", "bold"
    if result.get("invalidations") is not None and result.get("achieved_per_second") is not None:
        latency = result["latency_ms"]
        rows = [
            ("clusters / codec / signed", f"{result['clusters']} / {result['codec']} / {result['signed']}"),
            ("invalidations (keys per message)", f"{result['invalidations']} ({result['keys_per_message']})"),
            ("offered / achieved invalidations/s",
             f"{result['offered_per_second']:,} / {result['achieved_per_second']:,}"),
            ("broker messages (per second)",
             f"{result['broker_messages']:,} ({result['broker_messages_per_second']:,})"),
            ("latency p50 / p90 / p99 / p99.9 / max ms",
             " / ".join(f"{latency[k]:g}" for k in ("p50", "p90", "p99", "p99.9", "max"))),
            ("lost", str(result["lost"])),
            ("silence flushes (false alarms)", str(result.get("silence_flushes", 0))),
        ]
        if "baseline" in result:
            rows.append(("bare driver invalidations/s", f"{result['baseline'].get('per_second')}"))
            rows.append(("ratio to the bare driver", f"{result.get('ratio_to_baseline')}x"))
        for name, value in rows:
            table.add_row(name, value)
    for bridge in result["bridges"]:
        table.add_row(f"bridge {bridge['cluster']}", f"CPU {bridge['cpu_seconds']}s ({bridge['cpu_percent']}%), "
                                                     f"peak RSS {bridge['peak_rss_mb']} MB")
    output.stdout().print(table)
