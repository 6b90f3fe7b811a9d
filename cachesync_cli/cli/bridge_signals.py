"""The signals a running bridge answers (`cachesync run`): SIGTERM and SIGINT stop it, SIGHUP
reloads its rules, or stops it when it is the hangup of the terminal it runs on. The handlers
are a `SignalPipe`'s (they take no lock); what a signal does happens in its thread."""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable

from cachesync_cli.cli.signal_pipe import SignalPipe


def has_terminal() -> bool:
    """Whether this process still has a controlling terminal (not after a hangup)."""
    try:
        os.close(os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY))
    except OSError:
        return False
    return True


class BridgeSignals:
    """`stop` is set once asked to stop, `take_reload()` tells whether a reload was asked for
    since, `wait()` sleeps until either."""

    def __init__(self, *, hangup_stops: bool) -> None:
        self.stop = threading.Event()
        self._reload = threading.Event()
        self._wake = threading.Event()
        self._hangup_stops = hangup_stops
        self._terminal_fds = [fd for fd in (1, 2) if os.isatty(fd)]
        #: run in a thread of its own at a stop; set while the bridge starts
        self.on_stop: Callable[[], None] | None = None
        self._pipe = SignalPipe((signal.SIGTERM, signal.SIGINT, signal.SIGHUP), self._on_signal)

    def _on_signal(self, signum: int) -> None:
        if signum == signal.SIGHUP:
            self._on_hup()
        else:
            self._stopping()
        self._wake.set()

    def _stopping(self) -> None:
        self.stop.set()
        if self.on_stop is not None:
            threading.Thread(target=self.on_stop, daemon=True, name="cachesync-stop").start()

    def _on_hup(self) -> None:
        if self._hangup_stops and not has_terminal():
            # What was written to the terminal now fails (EIO): it goes nowhere instead, so
            # that the stop runs to its end and exits 0 (logs sent elsewhere still go there).
            devnull = os.open(os.devnull, os.O_WRONLY)
            for fd in self._terminal_fds:
                os.dup2(devnull, fd)
            os.close(devnull)
            logging.getLogger("cachesync.bridge").warning("the terminal hung up (SIGHUP): stopping")
            self._stopping()
        else:
            self._reload.set()

    def take_reload(self) -> bool:
        if not self._reload.is_set():
            return False
        self._reload.clear()
        return True

    def wait(self, seconds: float) -> None:
        self._wake.wait(seconds)
        self._wake.clear()

    def restore(self) -> None:
        self._pipe.restore()
