"""The root command's subcommands, each built the first time it is asked for.

Building a command means importing its module (`cli/run.py`...) and turning its function's
parameters into click options. `cachesync invalidate --help`, or a Tab after
`cachesync tail --format `, needs one command, not eleven: `LazyGroup` knows every
command's name and order up front, and imports and builds a command only when it runs, its
help is shown, or the shell completes it. `cachesync --help` and the completion of a
command's name list every command with the first paragraph of its help: that `summary` is
kept in the table (a test checks it against the command's docstring), so listing them
builds none.

Each command is built exactly as `app.command(name, epilog=module.EPILOG, cls=...)` (or
`app.add_typer(module.app)`) on the root would build it, by a one-command Typer with the
root's settings, so the help and the behaviour do not change.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass

import typer
from typer.core import TyperCommand, TyperGroup


@dataclass(frozen=True)
class LazyCommand:
    """A command of the root: its module in cachesync_cli.cli defines `command` and `EPILOG`
    (and the click class named `cls`, if any), or `app`, a Typer group (e.g. `config`)."""

    name: str
    module: str
    summary: str  # the first paragraph of its help (its docstring), as `cachesync --help` lists it
    cls: str | None = None

    def listing(self) -> TyperCommand:
        """What `cachesync --help` and completion show of it, without importing its module."""
        return TyperCommand(name=self.name, help=self.summary)

    def build(self, group: TyperGroup, pretty_exceptions_short: bool):
        """The click command, made with the settings of the root `group` it belongs to."""
        module = importlib.import_module(f"cachesync_cli.cli.{self.module}")
        holder = typer.Typer(add_completion=False, rich_markup_mode=group.rich_markup_mode,
                             pretty_exceptions_short=pretty_exceptions_short,
                             suggest_commands=group.suggest_commands)
        sub_app = getattr(module, "app", None)
        if isinstance(sub_app, typer.Typer):
            holder.add_typer(sub_app)
            return typer.main.get_command(holder).commands[self.name]
        holder.command(self.name, epilog=module.EPILOG,
                       cls=getattr(module, self.cls) if self.cls else None)(module.command)
        return typer.main.get_command(holder)


class _Commands(MutableMapping):
    """name -> click command, built on first access; iterating gives the names only."""

    def __init__(self, lazy: Mapping[str, Callable[[], object]], built: Mapping[str, object]) -> None:
        self._lazy = dict(lazy)
        self._built = dict(built)
        self._order = list(dict.fromkeys([*self._lazy, *self._built]))

    def __getitem__(self, name: str):
        if name not in self._built:
            if name not in self._lazy:
                raise KeyError(name)
            self._built[name] = self._lazy[name]()
        return self._built[name]

    def __setitem__(self, name: str, command) -> None:
        self._built[name] = command
        if name not in self._order:
            self._order.append(name)

    def __delitem__(self, name: str) -> None:
        if name not in self._order:
            raise KeyError(name)
        self._order.remove(name)
        self._lazy.pop(name, None)
        self._built.pop(name, None)

    def built(self, name: str) -> bool:
        return name in self._built

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._order))

    def __len__(self) -> int:
        return len(self._order)


def lazy_group(commands: list[LazyCommand], *, pretty_exceptions_short: bool = True) -> type[TyperGroup]:
    """The click group class of the root (`typer.Typer(cls=...)`) with these commands, in order;
    `pretty_exceptions_short` as given to that Typer."""

    class LazyGroup(TyperGroup):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            lazy = {command.name: functools.partial(command.build, self, pretty_exceptions_short)
                    for command in commands}
            self.commands = _Commands(lazy, self.commands)
            self._listings = {command.name: command.listing for command in commands}
            self._listing = False

        def list_commands(self, ctx) -> list[str]:
            return list(self.commands)  # the names, without building the commands

        def get_command(self, ctx, name: str):
            if self._listing and name in self._listings and not self.commands.built(name):
                return self._listings[name]()
            return super().get_command(ctx, name)

        @contextlib.contextmanager
        def _listing_only(self) -> Iterator[None]:
            """Within: get_command gives the listing of a command not built yet."""
            self._listing = True
            try:
                yield
            finally:
                self._listing = False

        def format_help(self, ctx, formatter) -> None:
            with self._listing_only():
                super().format_help(ctx, formatter)

        def shell_complete(self, ctx, incomplete: str):
            with self._listing_only():  # the commands' names and summaries, and the root's options
                return super().shell_complete(ctx, incomplete)

    return LazyGroup
