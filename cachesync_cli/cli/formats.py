"""One output convention: every command that prints results takes `--format` (the values that
fit it), keeps its older flag (`--json`) as a hidden alias, and `tail` and `status` take a
`--template` of one line per record.

A template is Python `str.format` syntax restricted to a documented set of plain field names:
`{origin}`, `{seq:>6}`, `{keys!r}`. Attribute access, indexing, positional fields and nested
fields are refused, so a template can only place the values offered, never reach into objects.
`\\n`, `\\t` and `\\\\` in the template stand for a newline, a tab and a backslash.
"""

from __future__ import annotations

import json
import re
import string
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Optional

import typer

from cachesync_cli.cli import completers
from cachesync_cli.errors import UsageError

_ESCAPES = {"n": "\n", "t": "\t", "\\": "\\"}


def format_options(allowed: Sequence[str], help: str, *, panel: str, alias_of: str = "json") -> tuple[Any, Any]:
    """A command's `--format` option (one of `allowed`, completed) and its hidden `--json` alias
    (for `--format alias_of`), as two types for the command's parameters:

        FormatOption, JsonOption = formats.format_options(FORMATS, "table (default) or json.", panel=PANEL)
        def command(fmt: FormatOption = None, as_json: JsonOption = False): ...
            fmt = formats.choose(fmt, FORMATS, alias=("--json", as_json, "json"))
    """
    fmt = Annotated[Optional[str], typer.Option("--format", metavar="FORMAT", help=help, rich_help_panel=panel,
                                                autocompletion=completers.choices(*allowed))]
    as_json = Annotated[bool, typer.Option("--json", hidden=True, help=f"Alias of --format {alias_of}.",
                                           rich_help_panel=panel)]
    return fmt, as_json


def choose(fmt: str | None, allowed: Sequence[str], *, alias: tuple[str, bool, str] | None = None,
           template: str | None = None) -> str:
    """The format asked for: `fmt`, else the alias flag's format when given (`("--json", True,
    "json")`), else "template" with --template, else the first of `allowed` (the default)."""
    if fmt is not None and fmt not in allowed:
        raise UsageError(f"--format {fmt!r}: must be one of {', '.join(allowed)}")
    if alias is not None and alias[1]:
        flag, _, value = alias
        if fmt is not None and fmt != value:
            raise UsageError(f"{flag} means --format {value}: give one of them, not --format {fmt} too")
        fmt = value
    if template is not None:
        if fmt is not None:
            raise UsageError(f"--template prints one line per record: leave out --format {fmt}")
        return "template"
    return fmt or allowed[0]


class Template:
    """A checked `--template`; `render(values)` gives one line (with its newline)."""

    def __init__(self, text: str, fields: Mapping[str, str], *, option: str = "--template") -> None:
        self.fields = fields
        self.option = option
        self._parts: list[tuple[str, str | None, str, str | None]] = []
        try:
            parsed = list(string.Formatter().parse(text))
        except ValueError as exc:
            raise UsageError(f"{option} {text!r}: {exc}", hint=self._hint("write a field as {name}, "
                                                                             "a brace as {{ or }}")) from None
        for literal, name, spec, conversion in parsed:
            if name is not None:
                self._check(name, spec, conversion)
            self._parts.append((_unescape(literal), name, spec or "", conversion))
        if not any(name for _, name, _, _ in self._parts):
            raise UsageError(f"{option} {text!r} names no field", hint=self._hint("e.g. '{origin} {seq}'"))
        self._newline = not (self._parts and self._parts[-1][1] is None and self._parts[-1][0].endswith("\n"))

    def _check(self, name: str, spec: str, conversion: str | None) -> None:
        if name not in self.fields:
            shown = "{}" if name == "" else "{" + name + "}"
            raise UsageError(f"{self.option}: unknown field {shown}", hint=self._hint())
        if "{" in spec:
            raise UsageError(f"{self.option}: nested fields are not supported in {{{name}:{spec}}}")
        if conversion not in (None, "s", "r"):
            raise UsageError(f"{self.option}: {{{name}!{conversion}}}: the conversion must be !s or !r")

    def _hint(self, first: str = "") -> str:
        names = "valid fields: " + ", ".join(self.fields)
        return f"{first}; {names}" if first else names

    def render(self, values: Mapping[str, object]) -> str:
        out = []
        for literal, name, spec, conversion in self._parts:
            out.append(literal)
            if name is None:
                continue
            value = _plain(values.get(name))
            if conversion == "r":
                value = repr(value)
            try:
                out.append(format(value, spec))
            except (ValueError, TypeError) as exc:
                raise UsageError(f"{self.option}: {{{name}:{spec}}} cannot format {value!r}: {exc}") from None
        return "".join(out) + ("\n" if self._newline else "")


def _plain(value: object) -> object:
    """Values as a line shows them: None empty, lists comma-separated, objects as JSON."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(str(_plain(v)) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    return value


def _unescape(text: str) -> str:
    return re.sub(r"\\([nt\\])", lambda m: _ESCAPES[m.group(1)], text)


def describe(fields: Mapping[str, str]) -> str:
    """The fields for an epilog or a docs page: `name` what it is, one a line."""
    width = max(map(len, fields))
    return "\n".join(f"  {name:<{width}}  {text}" for name, text in fields.items())
