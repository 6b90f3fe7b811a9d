"""Logging to stderr. Driver loggers stay quiet: their errors are reported as ours."""

from __future__ import annotations

import logging
import sys

DRIVER_LOGGERS = ("pika", "stomp.py", "paho", "redis")


def setup_logging(verbosity: int = 0) -> None:
    """0: warnings; 1 (-v): info; 2 (-vv): debug, drivers included."""
    level = logging.WARNING if verbosity <= 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in DRIVER_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG if verbosity >= 2 else logging.CRITICAL + 1)
    # cachesync's own transport log repeats what commands print on stderr already
    logging.getLogger("cachesync.transport").setLevel(level if verbosity >= 1 else logging.ERROR)
