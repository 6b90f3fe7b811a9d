"""Typer's coercion of option values, without pydantic where nothing needs converting.

Typer (0.2x) coerces every parameter's value through a pydantic `TypeAdapter`, built the
first time the parameter is processed: importing pydantic and building the adapters of a
command costs 150-250 ms. Most values need nothing: an option not given is None (Typer
returns None, or () for a repeatable one, before it uses the adapter), and a default such
as `--verbose`'s 0 or `--format`'s "pretty" already has its type. So a subcommand's
`--help` (the root's options are processed first) and every Tab of shell completion paid
for pydantic without using it.

`install()` makes a parameter build its adapter only for a value that needs it:

- None: None, or () for a repeatable option or a variadic argument, as Typer returns;
- a str, int or float for an option of exactly that type, with no parser and no bounds:
  the value itself (what the adapter returns for it);
- while the shell completes a command line (click's resilient parsing), the value as
  typed: completers see strings (`completers.py` reads --config as given), and a value
  that is wrong is not reported during completion anyway;
- anything else: Typer's own coercion, errors and messages unchanged.

It changes nothing when Typer's internals are not the ones it knows (another version).
"""

from __future__ import annotations

PLAIN_TYPES = (str, int, float)


class _OnDemand:
    """Stands in for Typer's RuntimeParam of one parameter; builds the real one when needed."""

    __slots__ = ("parameter", "build")

    def __init__(self, parameter, build) -> None:
        self.parameter = parameter
        self.build = build

    def coerce(self, value, param, ctx):
        if value is None:
            return () if param.multiple or param.nargs == -1 else None
        if ctx is not None and ctx.resilient_parsing:
            return value
        descriptor = self.parameter.type_descriptor
        info = descriptor.parameter_info
        if (descriptor.annotation in PLAIN_TYPES and type(value) is descriptor.annotation
                and descriptor.file_annotation is None and not (param.multiple or param.nargs != 1)
                and getattr(info, "parser", None) is None and getattr(info, "click_type", None) is None
                and getattr(info, "min", None) is None and getattr(info, "max", None) is None):
            return value
        return self.build(self.parameter).coerce(value, param=param, ctx=ctx)


def install() -> None:
    """Let Typer's parameters skip pydantic for values that need no converting (once)."""
    try:
        from typer.core import _TyperParameter
    except ImportError:  # a Typer without this layer
        return
    build = getattr(_TyperParameter, "get_runtime_param", None)
    if build is None or getattr(build, "on_demand", False):
        return

    def get_runtime_param(self):
        return _OnDemand(self, build)

    get_runtime_param.on_demand = True
    _TyperParameter.get_runtime_param = get_runtime_param
