"""Signal handlers that are safe wherever they interrupt the main thread.

A handler runs in the main thread between two of its bytecodes, holding whatever locks that
thread holds: even setting a `threading.Event` there can deadlock (the main thread may be
inside that Event's own `wait`, holding its lock: seen, a bridge that never stopped on
SIGTERM). `SignalPipe`'s handler only writes the signal's number to a pipe; a thread of its
own reads it and calls `on_signal(signum)`, where taking a lock is safe.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Iterable


class SignalPipe:
    """Install (from the main thread) handlers for `signums` that hand each signal to
    `on_signal`, called in the thread `cachesync-signals`; `restore()` puts the previous
    handlers back."""

    def __init__(self, signums: Iterable[int], on_signal: Callable[[int], None]) -> None:
        self._on_signal = on_signal
        self._read_fd, self._write_fd = os.pipe()
        os.set_blocking(self._write_fd, False)
        self._previous = {signum: signal.getsignal(signum) for signum in signums}
        threading.Thread(target=self._watch, daemon=True, name="cachesync-signals").start()
        for signum in self._previous:
            signal.signal(signum, self.handler)

    def handler(self, signum: int, _frame) -> None:
        """The handler: one byte down the pipe, no lock, nothing else."""
        try:
            os.write(self._write_fd, bytes([signum]))
        except BlockingIOError:  # the pipe is full of signals not yet read: this one adds nothing
            pass

    def _watch(self) -> None:
        while True:
            received = os.read(self._read_fd, 64)
            if not received:  # `restore()` closed the other end
                os.close(self._read_fd)
                return
            for signum in received:
                self._on_signal(signum)

    def restore(self) -> None:
        """Put the previous handlers back (a test process goes on after a bridge's)."""
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        os.close(self._write_fd)
