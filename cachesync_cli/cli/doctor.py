"""`cachesync doctor`: can invalidations really flow? Ordered checks, CI- and Nagios-friendly.

Exit codes are Nagios's (0 ok, 1 warning, 2 critical, 3 unknown), and unlike the other
commands a usage error exits 3 (see docs/doctor.md).
"""


import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from typer.core import TyperCommand

from cachesync_cli.cli import completers, output
from cachesync_cli.cli.options import BrokerOption, ConfigOption, TopicOption, context_flag
from cachesync_cli.errors import UsageError

FORMATS = ("text", "json", "junit", "nagios")  # cachesync_cli.doctor.render.FORMATS (a test checks)
CHECKS_PANEL = "Checks"
OUTPUT_PANEL = "Output and exit"

EPILOG = """[b]Examples[/b]

  cachesync doctor
  cachesync doctor --broker amqps://mq:5671/ --format json
  cachesync doctor --wait 60s --format junit --output doctor.xml     (CI: broker started just before)
  cachesync doctor --format nagios --warn-ms 200 --crit-ms 1000      (a Nagios/Icinga plugin)
  cachesync doctor --peers --only peers

[b]Exit status[/b] (Nagios): 0 every check ok or skipped; 1 a warning; 2 a failure (or a warning
with --fail-on warn); 3 unknown: bad command line or an internal error. See docs/doctor.md."""

UNKNOWN = 3


class DoctorCommand(TyperCommand):
    """Typer's command, except that usage errors exit 3 (Nagios "unknown"), not 2."""

    def parse_args(self, ctx, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except Exception as error:
            # Typer bundles click privately: recognise its UsageError by its exit code.
            if getattr(error, "exit_code", None) == 2:
                error.exit_code = UNKNOWN
            raise


def _ids(values: Optional[list[str]]) -> list[str]:
    return [part.strip() for value in values or [] for part in value.split(",") if part.strip()]


def command(
    fmt: Annotated[str, typer.Option("--format", metavar="FORMAT", help="text, json, junit or nagios.",
                                     autocompletion=completers.choices(*FORMATS),
                                     rich_help_panel=OUTPUT_PANEL)] = "text",
    output_file: Annotated[Optional[Path], typer.Option("--output", "-o", metavar="FILE",
                                                        help="Write the report to FILE (atomically) instead of "
                                                             "stdout; a summary line goes to stderr.",
                                                        rich_help_panel=OUTPUT_PANEL)] = None,
    fail_on: Annotated[str, typer.Option("--fail-on", metavar="LEVEL",
                                         autocompletion=completers.choices("fail", "warn"),
                                         help="fail (default) or warn: with warn, warnings exit 2 too.",
                                         rich_help_panel=OUTPUT_PANEL)] = "fail",
    list_checks: Annotated[bool, typer.Option("--list-checks", help="List the checks, in order, and exit.",
                                              rich_help_panel=CHECKS_PANEL)] = False,
    only: Annotated[Optional[list[str]], typer.Option("--only", metavar="ID[,ID]",
                                                      help="Run only these checks (repeatable).",
                                                      rich_help_panel=CHECKS_PANEL)] = None,
    skip: Annotated[Optional[list[str]], typer.Option("--skip", metavar="ID[,ID]",
                                                      help="Do not run these checks (repeatable).",
                                                      rich_help_panel=CHECKS_PANEL)] = None,
    peers: Annotated[bool, typer.Option("--peers", help="Also list the clusters alive on the topic (their "
                                                        "heartbeats) and whether each acknowledges a probe.",
                                        rich_help_panel=CHECKS_PANEL)] = False,
    peers_window: Annotated[float, typer.Option("--peers-window", metavar="SECONDS",
                                                help="How long --peers listens for heartbeats and acks.",
                                                rich_help_panel=CHECKS_PANEL)] = 12.0,
    warn_ms: Annotated[float, typer.Option("--warn-ms", metavar="MS",
                                           help="Connect or round-trip time above which a check warns.",
                                           rich_help_panel=CHECKS_PANEL)] = 500.0,
    crit_ms: Annotated[float, typer.Option("--crit-ms", metavar="MS",
                                           help="Connect or round-trip time above which a check fails.",
                                           rich_help_panel=CHECKS_PANEL)] = 2000.0,
    timeout: Annotated[float, typer.Option("--timeout", metavar="SECONDS",
                                           help="Longest wait of any one step (connect, confirm, round trip).",
                                           rich_help_panel=CHECKS_PANEL)] = 5.0,
    wait: Annotated[Optional[str], typer.Option("--wait", metavar="DURATION",
                                                help="Run the checks again until healthy, for up to DURATION "
                                                     "(30s, 2m): for pipelines that start a broker first.",
                                                rich_help_panel=CHECKS_PANEL)] = None,
    config: ConfigOption = None,
    broker: BrokerOption = None,
    topic: TopicOption = None,
) -> None:
    """Check, end to end and in seconds, whether invalidations can flow: config, DNS, TCP, TLS, login,
    permissions, a real round trip on the topic, signatures, clock, local targets and sources."""
    try:
        _doctor(fmt, output_file, fail_on, list_checks, _ids(only), _ids(skip), peers, peers_window, warn_ms,
                crit_ms, timeout, wait, config, broker, topic)
    except UsageError as error:
        output.print_error(error)
        raise typer.Exit(UNKNOWN) from None


def _doctor(fmt, output_file, fail_on, list_checks, only, skip, peers, peers_window, warn_ms, crit_ms,
            timeout, wait, config, broker, topic) -> None:
    from cachesync_cli.doctor import render, runner
    from cachesync_cli.doctor.checks import CHECKS
    from cachesync_cli.doctor.context import Settings
    from cachesync_cli.doctor.model import Thresholds
    from cachesync_cli.entries.duration import parse_duration

    if fmt not in render.FORMATS:
        raise UsageError(f"--format {fmt!r}: must be one of {', '.join(render.FORMATS)}")
    if fail_on not in ("fail", "warn"):
        raise UsageError(f"--fail-on {fail_on!r}: must be fail or warn")
    if list_checks:
        _list(CHECKS, fmt)
        return
    if timeout <= 0 or peers_window <= 0:
        raise UsageError("--timeout and --peers-window must be more than 0")
    if warn_ms < 0 or crit_ms < 0 or crit_ms < warn_ms:
        raise UsageError(f"--warn-ms {warn_ms:g} and --crit-ms {crit_ms:g}: need 0 <= warn <= crit")
    try:
        wait_seconds = parse_duration(wait, zero_ok=True) if wait else 0.0
    except ValueError as exc:
        raise UsageError(f"--wait: {exc}") from None
    selected = runner.select(CHECKS, only, skip, optional=peers)
    settings = Settings(config_path=config, brokers=tuple(broker or ()), topic=topic, timeout=timeout,
                        thresholds=Thresholds(warn_ms, crit_ms), peers=peers, peers_window=peers_window,
                        context=context_flag())

    def on_retry(attempt: int, results, pause: float) -> None:
        failed = next((r for r in results if r.status.value == "fail"), None)
        why = f"{failed.id}: {failed.message}" if failed else "not healthy"
        output.info(f"doctor: attempt {attempt}: {why}; trying again in {pause:g}s")

    report = runner.run(selected, settings, wait=wait_seconds, fail_on_warn=fail_on == "warn",
                        on_retry=on_retry)
    if output_file is not None:
        render.write_atomically(output_file, render.render(report, fmt))
        output.info(f"doctor: {render.summary(report)}; report written to {output_file}")
    elif fmt == "text":
        render.print_text(report, output.stdout())
    else:
        sys.stdout.write(render.render(report, fmt))
        sys.stdout.flush()
    raise typer.Exit(int(report.exit_code))


def _list(checks, fmt: str) -> None:
    if fmt == "json":
        import json

        output.write_line(json.dumps([{"id": c.id, "title": c.title, "requires": list(c.requires),
                                       "optional": c.optional, "description": c.description} for c in checks],
                                     indent=2))
        return
    for check in checks:
        needs = f" (needs {', '.join(check.requires)})" if check.requires else ""
        optional = " [only with --peers]" if check.optional else ""
        output.write_line(f"{check.id:<12} {check.description}{needs}{optional}")
