"""`ThrottledLog`: warnings about bad input, at most one line per kind every 10 seconds.

A hostile or broken publisher can send thousands of bad messages a second; a line for each
would flood the log (and the disk) and hide everything else. The first event of a kind is
logged at once; those that follow within `interval` are only counted, and one summary line
says how many there were and shows the latest. Kinds must be a small fixed set (reasons,
not cache names): a kind is remembered for the life of the process.

`clip` shortens what input puts in a log line: a name or key may be a megabyte long.
"""

from __future__ import annotations

import logging
import threading
import time

INTERVAL = 10.0  # seconds between two lines of one kind, at most
CLIP = 200  # characters of input shown in a line, at most


def clip(text: str, limit: int = CLIP) -> str:
    """`text` cut to `limit` characters, saying how long it was."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text):,} characters)"


class _Kind:
    __slots__ = ("logged_at", "suppressed", "latest", "timer")

    def __init__(self, logged_at: float) -> None:
        self.logged_at = logged_at
        self.suppressed = 0  # events since the last line
        self.latest: tuple[str, tuple] = ("", ())  # the last suppressed event's message and arguments
        self.timer: threading.Timer | None = None  # writes the summary when the interval is over


class ThrottledLog:
    def __init__(self, logger: logging.Logger, interval: float = INTERVAL) -> None:
        self.logger = logger
        self.interval = interval
        self._lock = threading.Lock()
        self._kinds: dict[str, _Kind] = {}

    def warning(self, kind: str, message: str, *args) -> None:
        """Log `message % args` now if no line of `kind` was written in the last `interval`;
        otherwise count it for the summary that follows."""
        now = time.monotonic()
        with self._lock:
            state = self._kinds.get(kind)
            if state is None or (not state.suppressed and now - state.logged_at >= self.interval):
                self._kinds[kind] = _Kind(now)
            else:
                state.suppressed += 1
                state.latest = (message, args)
                if state.timer is None:
                    state.timer = threading.Timer(max(0.0, state.logged_at + self.interval - now),
                                                  self._summarize, (kind,))
                    state.timer.daemon = True
                    state.timer.start()
                return
        self.logger.warning(message, *args)

    def _summarize(self, kind: str) -> None:
        with self._lock:
            state = self._kinds[kind]
            count, (message, args) = state.suppressed, state.latest
            state.suppressed, state.timer, state.logged_at = 0, None, time.monotonic()
        if count:
            self.logger.warning(f"%d more like this (logged at most every %gs), the latest: {message}", count,
                                self.interval, *args)

    def flush(self) -> None:
        """Write the pending summaries now (the bridge is stopping)."""
        with self._lock:
            pending = [(kind, state.timer) for kind, state in self._kinds.items() if state.timer is not None]
        for kind, timer in pending:
            timer.cancel()
            self._summarize(kind)
