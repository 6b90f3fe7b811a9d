"""Where output goes: data to stdout, messages and progress to stderr. NO_COLOR is honoured."""

from __future__ import annotations

import functools
import sys
from collections.abc import Collection, Iterable, Sequence
from typing import TYPE_CHECKING

from cachesync_cli.cli.shell_endings import quiet_on_broken_pipe

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from cachesync_cli.errors import CachesyncError


@functools.cache
def stderr() -> Console:
    from rich.console import Console

    return quiet_on_broken_pipe(Console(stderr=True, highlight=False, soft_wrap=True))


@functools.cache
def stdout() -> Console:
    from rich.console import Console

    return quiet_on_broken_pipe(Console(highlight=False, soft_wrap=True))


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


def new_table(*columns: str, right: Collection[str] = (), **options) -> Table:
    """A rich Table whose cells wrap at spaces or fold, never cut with an ellipsis: the values
    are what the user came to read. `right`: the columns aligned right (numbers)."""
    from rich.table import Table

    table = Table(**options)
    for column in columns:
        table.add_column(column, justify="right" if column in right else "left", overflow="fold")
    return table


def print_table(columns: Sequence[str], rows: Iterable[Sequence[object]], *, title: str | None = None,
                right: Collection[str] = (), fold: Sequence[str] = (), console: Console | None = None) -> None:
    """Rows for people on stdout, never cut: a boxed table when it fits the terminal, else
    a table without borders, else one whose `fold` columns (in that order) fold their long
    words over several lines, else one block of `column  value` lines a row. Cells wrap at
    spaces; they are plain text, not markup."""
    from rich.text import Text

    console = console or stdout()
    cells = [[str(cell) for cell in row] for row in rows]
    n, boxed, bare = len(columns), {}, {"box": None, "pad_edge": False}
    for style, overhead, folding in ((boxed, 3 * n + 1, ()), (bare, 2 * (n - 1), ()), (bare, 2 * (n - 1), fold)):
        widths = column_widths(columns, cells, console.width - overhead, fold=folding)
        if widths is None:
            continue
        table = new_table(*columns, right=right, title=Text(title) if title else None, title_justify="left",
                          **style)
        for column, width in zip(table.columns, widths):
            column.width = width
        for row in cells:
            table.add_row(*(Text(cell) for cell in row))
        console.print(table)
        return
    from rich.table import Table

    if title:
        console.print(Text(title))
    for index, row in enumerate(cells):
        record = Table.grid(padding=(0, 2))
        record.add_column(no_wrap=True, min_width=max(len(column) for column in columns))
        record.add_column(overflow="fold")
        for column, cell in zip(columns, row):
            record.add_row(Text(column, style="bold"), Text(cell))
        if index:
            console.print()
        console.print(record)


def column_widths(columns: Sequence[str], rows: list[list[str]], space: int, *,
                  fold: Sequence[str] = ()) -> list[int] | None:
    """Widths that show every cell and heading whole within `space`, wrapping them at spaces
    (and, when that is not enough, folding the long words of the `fold` columns, in that order,
    down to 10 characters); None when they do not fit side by side."""
    def longest_line(text: str) -> int:
        return max(map(len, text.splitlines() or [""]))

    def longest_word(text: str) -> int:
        return max((len(word) for word in text.split()), default=0)

    natural = [max([longest_line(column), *(longest_line(row[i]) for row in rows)]) for i, column in enumerate(columns)]
    minimum = [max([longest_word(column), *(longest_word(row[i]) for row in rows)]) for i, column in enumerate(columns)]
    if sum(natural) <= space:
        return natural
    for name in fold:
        if sum(minimum) <= space:
            break
        i = list(columns).index(name)
        minimum[i] = max(min(minimum[i], 10), minimum[i] - (sum(minimum) - space))
    if sum(minimum) > space:
        return None
    widths, spare = list(minimum), space - sum(minimum)
    for i in sorted(range(len(widths)), key=lambda i: natural[i] - minimum[i]):  # unwrap the most columns
        grow = min(spare, natural[i] - minimum[i])
        widths[i] += grow
        spare -= grow
    return widths


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)
