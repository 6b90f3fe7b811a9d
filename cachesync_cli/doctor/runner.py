"""Run the checks in order: prerequisites, `--only`/`--skip`, timing, `--wait` retries.

A check is a function of the run's `DoctorContext` returning an `Outcome`, declared with
its id, title and the ids of the checks it needs. When one of those failed (or was itself
skipped for that reason) the check is `skip`, not `fail`: only the first broken link of
the chain is reported as broken.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from cachesync_cli.doctor.context import DoctorContext, Settings
from cachesync_cli.doctor.model import CheckResult, Outcome, Report, Status, fail
from cachesync_cli.errors import CachesyncError, UsageError

CheckFn = Callable[[DoctorContext], Outcome]


@dataclass(frozen=True)
class Check:
    id: str
    title: str
    run: CheckFn
    requires: tuple[str, ...] = ()
    #: only run when asked for (`--peers`, or named in `--only`)
    optional: bool = False
    description: str = ""


def select(checks: Sequence[Check], only: Sequence[str], skip: Sequence[str], *,
           optional: bool) -> list[Check]:
    """The checks of a run, in their order. Unknown ids are a usage error."""
    known = {check.id for check in checks}
    for given in (*only, *skip):
        if given not in known:
            import difflib

            close = difflib.get_close_matches(given, known, n=1)
            raise UsageError(f"no check named {given!r}",
                             hint=(f"did you mean {close[0]!r}? " if close else "") + "see --list-checks")
    chosen = [c for c in checks if (c.id in only if only else (not c.optional or optional))]
    return [c for c in chosen if c.id not in skip]


def run_once(checks: Sequence[Check], settings: Settings) -> list[CheckResult]:
    context = DoctorContext(settings)
    results: dict[str, CheckResult] = {}
    try:
        for check in checks:
            results[check.id] = _run_check(check, context, results)
    finally:
        context.close()
    return list(results.values())


def _run_check(check: Check, context: DoctorContext, done: dict[str, CheckResult]) -> CheckResult:
    blocked = [done[r] for r in check.requires if r in done and done[r].blocks]
    if blocked:
        names = ", ".join(r.id for r in blocked)
        return CheckResult(check.id, check.title, Status.SKIP, 0.0,
                           f"not run: {names} {'has' if len(blocked) == 1 else 'have'} not passed", blocks=True)
    started = time.monotonic()
    try:
        outcome = check.run(context)
    except CachesyncError as error:
        outcome = fail(error.message, error.hint)
    except Exception as error:  # a bug in a check must not hide the others' results
        outcome = fail(f"internal error: {type(error).__name__}: {error}",
                       "please report this with the output of `cachesync -vv doctor`")
    duration = (time.monotonic() - started) * 1000
    blocks = (outcome.status is Status.FAIL and outcome.blocking) or (outcome.status is Status.SKIP and not outcome.not_applicable)
    return CheckResult(check.id, check.title, outcome.status, duration, outcome.message, outcome.hint,
                       dict(outcome.metrics), tuple(outcome.details), blocks)


def run(checks: Sequence[Check], settings: Settings, *, wait: float = 0.0, fail_on_warn: bool = False,
        on_retry: Callable[[int, list[CheckResult], float], None] | None = None) -> Report:
    """Run the checks; with `wait`, run them again (1 s apart, then up to 5 s) until healthy
    or `wait` seconds have passed, and report the last run."""
    started = time.monotonic()
    deadline = started + wait
    attempt = 0
    while True:
        attempt += 1
        results = run_once(checks, settings)
        report = Report(tuple(results), (time.monotonic() - started) * 1000, attempt, settings.thresholds,
                        fail_on_warn)
        if report.exit_code == 0 or report.exit_code == 1 and not fail_on_warn:
            return report
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return report
        pause = min(5.0, float(attempt), remaining)
        if on_retry is not None:
            on_retry(attempt, results, pause)
        time.sleep(pause)
