"""Ctrl-C and a closed pipe end a command as a shell expects: exit 130 with one line on
stderr, and exit 0 without a word (`cachesync invalidate ... --dry-run | head -1`).

Typer's main loop turns KeyboardInterrupt into a silent 130 and a broken pipe into 1 before
`cli.main()` could see either, and rich exits 1 on a broken pipe of its own. So the root
group (`guarded`) parses the command line and runs every command inside `shell_endings()`,
which decides first; `cli.main()` runs Typer inside it too, for what happens outside them.
`cachesync run` and `cachesync cleanup` catch SIGINT themselves (they stop in order and
exit 0): this sees only what they let through.
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import sys
from collections.abc import Iterator

from cachesync_cli.errors import ExitStatus


@contextlib.contextmanager
def shell_endings() -> Iterator[None]:
    try:
        yield
    except KeyboardInterrupt:
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.write("interrupted\n")
            sys.stderr.flush()
        raise SystemExit(ExitStatus.INTERRUPTED) from None
    except BrokenPipeError:
        gone = [fd for fd in (1, 2) if _reader_gone(fd)]
        if not gone:  # a socket's, not our output's: not ours to hide
            raise
        # What is still buffered, and every later write (up to the flush at interpreter
        # exit, which would print "Exception ignored ... BrokenPipeError"), goes nowhere.
        devnull = os.open(os.devnull, os.O_WRONLY)
        for fd in gone:
            os.dup2(devnull, fd)
        os.close(devnull)
        raise SystemExit(ExitStatus.OK) from None


def _reader_gone(fd: int) -> bool:
    """Whether whoever read `fd` (a pipe, a socket) has closed its end."""
    if not hasattr(select, "poll"):  # Windows: a broken pipe can only be stdout's
        return fd == 1
    poller = select.poll()
    try:
        poller.register(fd, select.POLLOUT)
    except (OSError, ValueError):  # closed
        return False
    return any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0))


def guarded(group: type) -> type:
    """The root click group `group`, parsing and running its commands in `shell_endings()`."""

    class Guarded(group):
        def make_context(self, *args, **kwargs):
            with shell_endings():  # --help, --version
                return super().make_context(*args, **kwargs)

        def invoke(self, ctx):
            with shell_endings():
                return super().invoke(ctx)

    return Guarded


def quiet_on_broken_pipe(console):
    """A rich Console that raises BrokenPipeError for `shell_endings()` instead of exiting 1."""

    def on_broken_pipe() -> None:
        console.quiet = True
        raise BrokenPipeError(errno.EPIPE, os.strerror(errno.EPIPE))

    console.on_broken_pipe = on_broken_pipe
    return console
