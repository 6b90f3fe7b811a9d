"""`CleanupScheduler`: run cleaners on their schedules, one thread per target, until stopped.

Used by `cachesync cleanup --every/--cron/--scheduled` and by the bridge (`[[cleanup]]`
entries with `every` or `cron`). Each target has its own thread, so a slow target never
delays another, and its runs never overlap (a run that outlasts the interval is followed by
the next at once). Every run's `RunResult` goes to `on_result`; the scheduler keeps the
last one and the next planned time per target for status pages.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from cachesync_cli.cleanup.base import Cleaner, RunResult
from cachesync_cli.cleanup.schedule import Schedule

log = logging.getLogger("cachesync.cleanup")

ResultFn = Callable[[RunResult], None]


@dataclass
class Job:
    cleaner: Cleaner
    schedule: Schedule
    last: RunResult | None = None
    next_at: float | None = None  # epoch seconds, jitter included
    runs: int = 0


class CleanupScheduler:
    def __init__(self, jobs: list[tuple[Cleaner, Schedule]], on_result: ResultFn | None = None, *,
                 run_at_start: bool = False, dry_run: bool = False) -> None:
        """`run_at_start`: interval schedules run once at start (the command line); the bridge
        waits one interval first, so restarting it does not flush the caches."""
        self.jobs = [Job(cleaner, schedule) for cleaner, schedule in jobs]
        self.on_result = on_result
        self.run_at_start = run_at_start
        self.dry_run = dry_run
        self.stopping = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for job in self.jobs:
            thread = threading.Thread(target=self._loop, args=(job,), name=f"cachesync-cleanup-{job.cleaner.name}",
                                      daemon=True)
            thread.start()
            self._threads.append(thread)
            log.info("%s scheduled %s", job.cleaner.describe(), job.schedule.describe())

    def _loop(self, job: Job) -> None:
        now = time.time()
        planned = now if (self.run_at_start and job.schedule.every) else job.schedule.next_planned(None, now)
        while True:
            job.next_at = planned + job.schedule.delay()
            if self.stopping.wait(max(0.0, job.next_at - time.time())):
                return
            job.next_at = None
            result = job.cleaner.run(self.stopping, dry_run=self.dry_run)
            job.last, job.runs = result, job.runs + 1
            if self.on_result is not None:
                try:
                    self.on_result(result)
                except Exception:  # noqa: BLE001 a reporting bug must not end the schedule
                    log.exception("reporting a cleanup run failed")
            if self.stopping.is_set():
                return
            planned = job.schedule.next_planned(planned, time.time())

    def stop(self, timeout: float | None = 30.0) -> None:
        """Stop between batches: a run in progress returns at its next batch."""
        self.stopping.set()
        for thread in self._threads:
            thread.join(timeout)
        for job in self.jobs:
            job.cleaner.close()

    def status(self) -> list[dict]:
        """Per target: schedule, runs, next planned run, the last run's result (for status pages)."""
        return [{"target": job.cleaner.name, "schedule": job.schedule.describe(), "runs": job.runs,
                 "next_at": job.next_at, "last": job.last.to_json() if job.last else None} for job in self.jobs]


def bridge_scheduler(entries, context, stats) -> CleanupScheduler | None:
    """The scheduler `cachesync run` starts for its `[[cleanup]]` entries that have a schedule
    (None when none has): runs are logged and counted in the bridge's stats. Cleaners share
    the bridge's echo guard, so a keyspace source does not publish what they delete."""
    from cachesync_cli.cleanup.base import log_result
    from cachesync_cli.entries import build_cleaner

    jobs = []
    for entry in entries:
        schedule = Schedule.from_entry(entry)
        if schedule is None:
            log.info("[[cleanup]] %r has no every or cron: the bridge does not run it (cachesync cleanup does)",
                     entry["name"])
            continue
        jobs.append((build_cleaner(entry, context), schedule))
    if not jobs:
        return None

    def on_result(result: RunResult) -> None:
        log_result(result)
        stats.inc("cleanup_runs", label=result.target)
        stats.inc("cleanup_removed", result.removed, label=result.target)
        if result.failed:
            stats.inc("cleanup_failures", label=result.target)

    return CleanupScheduler(jobs, on_result)
