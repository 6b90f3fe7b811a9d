"""A doctor report as text (for people), JSON, JUnit XML (CI test reports) or one Nagios line.

The JSON shape is documented in docs/doctor.md and kept stable.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from xml.etree import ElementTree as ET

from cachesync_cli.doctor.model import DoctorExit, Report, Status

FORMATS = ("text", "json", "junit", "nagios")

_MARKS = {Status.OK: ("ok", "green"), Status.WARN: ("WARN", "yellow"), Status.FAIL: ("FAIL", "red"),
          Status.SKIP: ("skip", "dim")}
_NAGIOS = {DoctorExit.OK: "OK", DoctorExit.WARNING: "WARNING", DoctorExit.CRITICAL: "CRITICAL",
           DoctorExit.UNKNOWN: "UNKNOWN"}


def summary(report: Report) -> str:
    return ", ".join(f"{report.count(s)} {s.value}" for s in Status)


def render_json(report: Report) -> str:
    return json.dumps(report.to_json(), indent=2, ensure_ascii=False) + "\n"


def render_nagios(report: Report) -> str:
    state = _NAGIOS[report.exit_code]
    first_bad = next((r for r in report.results if r.status in (Status.FAIL, Status.WARN)), None)
    text = f"{first_bad.id}: {first_bad.message}; " if first_bad else ""
    text = text.replace("|", "/").replace("\n", " ")  # '|' starts Nagios perfdata
    perf = []
    limits = f";{report.thresholds.warn_ms:g};{report.thresholds.crit_ms:g}"
    for name, value in report.metrics().items():
        perf.append(f"{name}={value:.1f}" + (limits if name in ("connect_ms", "roundtrip_ms") else ""))
    line = f"CACHESYNC {state} - {text}{summary(report)}"
    return line + (" | " + " ".join(perf) if perf else "") + "\n"


def render_junit(report: Report) -> str:
    failures = sum(1 for r in report.results if r.status is Status.FAIL
                   or (r.status is Status.WARN and report.fail_on_warn))
    suite = ET.Element("testsuite", {
        "name": "cachesync doctor", "tests": str(len(report.results)), "failures": str(failures),
        "errors": "0", "skipped": str(report.count(Status.SKIP)), "time": f"{report.duration_ms / 1000:.3f}",
    })
    for result in report.results:
        case = ET.SubElement(suite, "testcase", {"classname": "cachesync.doctor", "name": result.id,
                                                 "time": f"{result.duration_ms / 1000:.3f}"})
        body = "\n".join([result.message, *(f"{d.name}: {d.status.value}: {d.message}" for d in result.details),
                          *([f"fix: {result.hint}"] if result.hint else [])])
        if result.status is Status.FAIL or (result.status is Status.WARN and report.fail_on_warn):
            element = ET.SubElement(case, "failure", {"message": result.message, "type": result.status.value})
            element.text = body
        elif result.status is Status.SKIP:
            ET.SubElement(case, "skipped", {"message": result.message})
        else:
            ET.SubElement(case, "system-out").text = (f"warning: {body}" if result.status is Status.WARN else body)
    root = ET.Element("testsuites", {"name": "cachesync doctor", "tests": suite.get("tests"),
                                     "failures": str(failures), "errors": "0", "skipped": suite.get("skipped"),
                                     "time": suite.get("time")})
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def print_text(report: Report, console) -> None:
    """The report for people, remedies inline, on a rich Console (NO_COLOR honoured)."""
    from rich.markup import escape
    from rich.table import Table

    table = Table(show_header=False, box=None, pad_edge=False, padding=(0, 1))
    table.add_column(overflow="fold")  # nothing is cut on a narrow terminal: it folds
    table.add_column(overflow="fold")
    table.add_column(justify="right", overflow="fold")
    table.add_column(overflow="fold")
    for result in report.results:
        mark, color = _MARKS[result.status]
        lines = [escape(result.message)]
        if len(result.details) > 1:
            for detail in result.details:
                dmark, dcolor = _MARKS[detail.status]
                lines.append(f"  [{dcolor}]{dmark}[/] {escape(detail.name)}: {escape(detail.message)}")
        if result.hint and result.status in (Status.FAIL, Status.WARN):
            lines.append(f"[bold]fix:[/] {escape(result.hint)}")
        took = f"{result.duration_ms:.0f} ms" if result.status is not Status.SKIP else ""
        table.add_row(f"[{color}]{mark:<4}[/]", escape(result.id), took, "\n".join(lines))
    console.print(table)
    state = _NAGIOS[report.exit_code]
    color = {"OK": "green", "WARNING": "yellow"}.get(state, "red")
    retries = f" after {report.attempts} attempts" if report.attempts > 1 else ""
    console.print(f"[bold {color}]{state}[/]: {summary(report)} in {report.duration_ms / 1000:.1f}s{retries}")


def render(report: Report, fmt: str) -> str:
    if fmt == "json":
        return render_json(report)
    if fmt == "junit":
        return render_junit(report)
    if fmt == "nagios":
        return render_nagios(report)
    from io import StringIO

    from rich.console import Console

    buffer = StringIO()
    print_text(report, Console(file=buffer, width=120, no_color=True, highlight=False, soft_wrap=False))
    return buffer.getvalue()


def write_atomically(path: Path, text: str) -> None:
    """Write `text` to `path` so a reader sees the old file or the new one, never half of one."""
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(tmp, _mode_for(path))
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _mode_for(path: Path) -> int:
    """The existing file's permissions, or what a new file would get under the umask."""
    try:
        return path.stat().st_mode & 0o777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask
