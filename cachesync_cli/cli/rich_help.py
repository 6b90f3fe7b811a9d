"""Typer's rich help, without the two rich modules it imports but we never use.

`typer.rich_utils` (loaded for every help page and usage error) imports `rich.markdown`
(and with it markdown-it, ~70 ms) for `rich_markup_mode="markdown"`, and `rich.traceback`
(and pygments, ~45 ms) for pretty exceptions. cachesync uses `rich_markup_mode="rich"` and
has pretty exceptions off, so neither is ever used; together they are a third of
`cachesync --help`. `load()` imports `typer.rich_utils` while those two names resolve to
stand-ins that import the real class on first use, then removes the stand-ins: any later
`import rich.markdown` gets the real module. Nothing changes when they were loaded already.
"""

from __future__ import annotations

import importlib
import sys
import types

#: module -> the names typer.rich_utils takes from it
DEFERRED = {"rich.markdown": ("Markdown",), "rich.traceback": ("Traceback",)}


def _stand_in(module: str, name: str) -> type:
    def real():
        return getattr(importlib.import_module(module), name)

    class StandIn:
        def __new__(cls, *args, **kwargs):
            return real()(*args, **kwargs)

    StandIn.__name__ = StandIn.__qualname__ = name
    StandIn.__module__ = module
    return StandIn


def load() -> None:
    """Import typer.rich_utils cheaply (a no-op when it is imported already)."""
    if "typer.rich_utils" in sys.modules:
        return
    placed = []
    for module, names in DEFERRED.items():
        if module in sys.modules:
            continue
        stand_in = types.ModuleType(module, "stand-in while typer.rich_utils imports")
        for name in names:
            setattr(stand_in, name, _stand_in(module, name))
        sys.modules[module] = stand_in
        placed.append(module)
    try:
        importlib.import_module("typer.rich_utils")
    finally:
        for module in placed:
            if isinstance(sys.modules.get(module), types.ModuleType) and \
                    sys.modules[module].__doc__ == "stand-in while typer.rich_utils imports":
                del sys.modules[module]
