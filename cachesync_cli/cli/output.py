"""Where output goes: data to stdout, messages and progress to stderr. NO_COLOR is honoured."""

from __future__ import annotations

import functools
import sys

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

    from cachesync_cli.errors import CachesyncError


@functools.cache
def stderr() -> Console:
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)


@functools.cache
def stdout() -> Console:
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True)


def print_error(error: CachesyncError) -> None:
    console = stderr()
    console.print(f"[bold red]error:[/] {_escape(str(error))}")
    if error.hint:
        console.print(f"[dim]hint:[/] {_escape(error.hint)}")


def warn(message: str) -> None:
    stderr().print(f"[yellow]warning:[/] {_escape(message)}")


def info(message: str) -> None:
    stderr().print(_escape(message))


def write_line(text: str) -> None:
    """One line of data on stdout, flushed at once (for pipes and `tail`)."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)
