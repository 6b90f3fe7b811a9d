"""Logging to stderr: readable lines, or JSON lines for log collectors. Driver loggers stay
quiet: their errors are reported as ours. Secrets never reach a log line: URLs are
printed redacted and credentials are never formatted into messages."""

from __future__ import annotations

import contextlib
import json
import logging
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path

DRIVER_LOGGERS = ("pika", "stomp.py", "paho", "redis")
LOG_FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# stomp.py logs every frame it sends at debug level, CONNECT's `passcode` header included.
_DRIVER_SECRETS = re.compile(r"(passcode:)(?:(?!\\n|\n).)*")  # up to the header's end, escaped or not


class DriverSecretFilter(logging.Filter):
    """Redact credentials that broker drivers write into their own debug lines (-vv)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith("cachesync"):
            message = record.getMessage()
            redacted = _DRIVER_SECRETS.sub(r"\1***", message)
            if redacted != message:
                record.msg, record.args = redacted, None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts (RFC 3339, UTC), level, logger, message (+ error)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def setup_logging(verbosity: int = 0, fmt: str = "text", handler: logging.Handler | None = None) -> None:
    """0: warnings; 1 (-v): info; 2 (-vv): debug, drivers included."""
    level = logging.WARNING if verbosity <= 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    if handler is None:  # a given handler (rich's, on a terminal) formats lines its own way
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    handler.addFilter(DriverSecretFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in DRIVER_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG if verbosity >= 2 else logging.CRITICAL + 1)
    # cachesync's own transport log repeats what commands and the bridge report already
    logging.getLogger("cachesync.transport").setLevel(level if verbosity >= 2 else logging.ERROR)


@contextlib.contextmanager
def logging_to_file(path: Path) -> Iterator[Path]:
    """Every log line goes to `path` (text lines, INFO and up, more with -vv) instead of stderr
    while the block runs; then the handlers of before come back. For `cachesync demo`, whose
    timeline is the screen: the bridges' own lines (the gap, the flushes) wait in the file."""
    root = logging.getLogger()
    before = (root.handlers[:], root.level)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    handler.addFilter(DriverSecretFilter())
    root.handlers[:] = [handler]
    root.setLevel(min(before[1] or logging.WARNING, logging.INFO))
    try:
        yield path
    finally:
        root.handlers[:], level = before
        root.setLevel(level)
        handler.close()
