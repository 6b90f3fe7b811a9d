"""`cachesync cleanup`: clean the local caches once (cron, CI, Kubernetes CronJobs) or on a schedule."""


import json
import signal
import threading
from datetime import datetime
from typing import Annotated, Optional

import typer

from cachesync_cli.cli import completers, formats, output
from cachesync_cli.cli.options import ConfigOption
from cachesync_cli.cli.signal_pipe import SignalPipe
from cachesync_cli.errors import ExitStatus, UsageError

FORMATS = ("table", "ndjson")
POLICIES = ("all", "max_idle", "max_age", "ttl")  # cachesync_cli.cleanup: the policies (a test checks)
SCHEDULE_PANEL = "Schedule"
POLICY_PANEL = "Policy (overrides the entries')"
OUTPUT_PANEL = "Output and exit"
FormatOption, JsonOption = formats.format_options(
    FORMATS, "table (default) or ndjson: one JSON object per target and run on stdout.", panel=OUTPUT_PANEL,
    alias_of="ndjson")

EPILOG = """[b]Examples[/b]

  cachesync cleanup                                   every \\[\\[cleanup]] entry of the config, once
  cachesync cleanup app-redis --dry-run               what would go, nothing deleted
  cachesync cleanup redis://cache:6379/2 --policy max_idle --max-idle 1h --cache OAuthCache
  cachesync cleanup /var/cache/app --policy max_age --max-age 7d --format ndjson
  cachesync cleanup --every 10m --jitter 1m           all entries, every 10 minutes (first run now)
  cachesync cleanup --cron "*/15 * * * *"             at :00, :15, :30, :45
  cachesync cleanup --scheduled                       each entry on its own every/cron

TARGET is the name of a \\[\\[cleanup]] entry, a redis:// URL, memcached://HOST:PORT[,HOST:PORT], or a
directory path. See docs/cleanup.md.

[b]Exit status[/b]: 0 every target cleaned (or skipped: another run held its lock, or stopped by
SIGTERM/SIGINT); 1 some target failed (on a schedule: in its last run); 2 usage or configuration error."""


def command(
    targets: Annotated[Optional[list[str]], typer.Argument(metavar="TARGET", show_default=False,
                                                           autocompletion=completers.cleanup_targets,
                                                           help="\\[\\[cleanup]] entry names, redis:// URLs, "
                                                                "memcached://HOST:PORT, directory paths. "
                                                                "Default: every \\[\\[cleanup]] entry.")] = None,
    every: Annotated[Optional[str], typer.Option(metavar="DURATION", rich_help_panel=SCHEDULE_PANEL,
                                                 help='Run now, then every DURATION ("10m", "1h", "90s").')] = None,
    cron: Annotated[Optional[str], typer.Option(metavar="EXPR", rich_help_panel=SCHEDULE_PANEL,
                                                help='Run at the times of a 5-field cron expression, e.g. '
                                                     '"*/15 * * * *" (local time).')] = None,
    jitter: Annotated[Optional[str], typer.Option(metavar="DURATION", rich_help_panel=SCHEDULE_PANEL,
                                                  help="Delay each scheduled run by a random 0..DURATION.")] = None,
    scheduled: Annotated[bool, typer.Option("--scheduled", rich_help_panel=SCHEDULE_PANEL,
                                            help="Run each entry on its own every/cron from the config.")] = False,
    policy: Annotated[Optional[str], typer.Option(metavar="POLICY", rich_help_panel=POLICY_PANEL,
                                                  autocompletion=completers.choices(*POLICIES),
                                                  help="all, max_idle (Redis), max_age (directory), ttl (Redis).")]
    = None,
    max_idle: Annotated[Optional[str], typer.Option(metavar="DURATION", rich_help_panel=POLICY_PANEL,
                                                    help="max_idle: Redis keys unused this long go.")] = None,
    max_age: Annotated[Optional[str], typer.Option(metavar="DURATION", rich_help_panel=POLICY_PANEL,
                                                   help="max_age: files older than this go.")] = None,
    ttl: Annotated[Optional[str], typer.Option(metavar="DURATION", rich_help_panel=POLICY_PANEL,
                                               help="ttl: the TTL given to Redis keys without one.")] = None,
    cache: Annotated[Optional[list[str]], typer.Option(metavar="NAME", rich_help_panel=POLICY_PANEL,
                                                       help="Only this cache (repeatable; * wildcards, "
                                                            "manager/cache).")] = None,
    template: Annotated[Optional[str], typer.Option(metavar="TEMPLATE", rich_help_panel=POLICY_PANEL,
                                                    help='Key template of the store, e.g. "{cache}:{key}".')]
    = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List what would go; delete nothing.",
                                                  rich_help_panel=OUTPUT_PANEL)] = False,
    fmt: FormatOption = None,
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """Clean the local caches: clear them, or drop what is idle or old, once or on a schedule."""

    as_json = formats.choose(fmt, FORMATS, alias=("--json", as_json, "ndjson")) == "ndjson"
    from cachesync_cli.cleanup.plan import select_entries
    from cachesync_cli.cleanup.schedule import Schedule
    from cachesync_cli.entries.cron import CronSchedule
    from cachesync_cli.entries.duration import parse_duration

    for flag, value in (("--every", every), ("--jitter", jitter), ("--max-idle", max_idle),
                        ("--max-age", max_age), ("--ttl", ttl)):
        if value is not None:
            _flag(flag, parse_duration, value)
    if cron is not None:
        _flag("--cron", CronSchedule.parse, cron)
    if every and cron:
        raise UsageError("give --every or --cron, not both")
    if scheduled and (every or cron):
        raise UsageError("--scheduled uses the entries' own schedules: leave out --every/--cron")
    if jitter and not (every or cron or scheduled):
        raise UsageError("--jitter needs a schedule: --every, --cron or --scheduled")
    from cachesync_cli.cli.common import load  # at call time: --help stays fast

    cfg = load(config)
    overrides = {"policy": policy, "max_idle": max_idle, "max_age": max_age, "ttl": ttl, "caches": cache or None,
                 "template": template, "every": every, "cron": cron, "jitter": jitter}
    entries = select_entries(cfg["cleanup"], list(targets or []), overrides, str(cfg.path) if cfg.path else None)
    schedules = None
    if every or cron or scheduled:
        schedules = [Schedule.from_entry(entry) for entry in entries]
        missing = [entry["name"] for entry, s in zip(entries, schedules) if s is None]
        if missing:
            raise UsageError(f"--scheduled: [[cleanup]] {', '.join(map(repr, missing))} has no every or cron",
                             hint="give it one in the config, or use --every/--cron")
    cleaners = _build(cfg, entries)
    report = Report(as_json, dry_run, lines=schedules is not None)
    stop = threading.Event()
    SignalPipe((signal.SIGTERM, signal.SIGINT), lambda _signum: stop.set())  # a handler must not take stop's lock
    if schedules is None:
        failed = _once(cleaners, stop, dry_run, report)
    else:
        failed = _scheduled(cleaners, schedules, stop, dry_run, report)
    raise typer.Exit(ExitStatus.FAILURE if failed else ExitStatus.OK)


def _flag(flag: str, parse, value: str) -> None:
    try:
        parse(value)
    except ValueError as exc:
        raise UsageError(f"{flag}: {exc}") from None


def _build(cfg, entries):
    from cachesync_cli.config.resolve import cluster_id
    from cachesync_cli.local.base import EchoGuard, LocalContext
    from cachesync_cli.entries import build_cleaner

    context = LocalContext(cluster=cluster_id(cfg), echo_guard=EchoGuard(), environ=cfg.environ)
    return [build_cleaner(entry, context) for entry in entries]


def _once(cleaners, stop: threading.Event, dry_run: bool, report: "Report") -> bool:
    results = []
    try:
        for cleaner in cleaners:
            if stop.is_set():
                break
            result = cleaner.run(stop, dry_run=dry_run, listing=report.listing(cleaner))
            report.result(result)
            results.append(result)
    finally:
        for cleaner in cleaners:
            cleaner.close()
    report.table(results)
    return any(r.failed for r in results)


def _scheduled(cleaners, schedules, stop: threading.Event, dry_run: bool, report: "Report") -> bool:
    from cachesync_cli.cleanup.scheduler import CleanupScheduler

    scheduler = CleanupScheduler(list(zip(cleaners, schedules)), report.result, run_at_start=True, dry_run=dry_run)
    for cleaner, schedule in zip(cleaners, schedules):
        output.info(f"{cleaner.describe()}: {schedule.describe()}")
    scheduler.start()
    try:
        while not stop.wait(0.5):
            pass
    finally:
        output.info("stopping: the runs in progress end at their next batch")
        scheduler.stop()
    return any(job.last is not None and job.last.failed for job in scheduler.jobs)


class Report:
    """Results as NDJSON or for people; dry-run listings for people. Thread-safe (scheduled runs)."""

    def __init__(self, as_json: bool, dry_run: bool, *, lines: bool) -> None:
        self.as_json = as_json
        self.dry_run = dry_run
        self.lines = lines  # a line on stderr per run (on a schedule; once, the table says it all)
        self._lock = threading.Lock()

    def listing(self, cleaner):
        if self.as_json or not self.dry_run:
            return None
        return lambda item: output.write_line(f"would remove {cleaner.name}: {item}")

    def result(self, result) -> None:
        from cachesync_cli.cleanup.base import summary

        with self._lock:
            if self.as_json:
                output.write_line(json.dumps(result.to_json(), separators=(",", ":")))
            elif self.lines:
                output.info(f"{datetime.now():%H:%M:%S} {summary(result)}")

    def table(self, results) -> None:
        if self.as_json or not results:
            return
        from cachesync_cli.cleanup.base import format_bytes

        rows = [(r.target, r.type, r.policy, r.status, r.scanned, r.removed, format_bytes(r.bytes_freed),
                 f"{r.seconds:.2f}", "; ".join(r.errors)) for r in results]
        output.print_table(("target", "type", "policy", "status", "scanned", "removed", "freed", "seconds",
                            "errors"), rows, right=("scanned", "removed", "freed", "seconds"),
                           title="cleanup" + (" (dry run: nothing deleted)" if self.dry_run else ""),
                           fold=("target", "errors"))
