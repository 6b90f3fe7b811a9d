"""Typer's rich help, without the two rich modules it imports but we never use.

`typer.rich_utils` (loaded for every help page and usage error) imports `rich.markdown`
(and with it markdown-it, ~70 ms) for `rich_markup_mode="markdown"`, and `rich.traceback`
(and pygments, ~45 ms) for pretty exceptions. cachesync uses `rich_markup_mode="rich"` and
has pretty exceptions off, so neither is ever used; together they are a third of
`cachesync --help`. `load()` imports `typer.rich_utils` while those two names resolve to
stand-ins that import the real class on first use, then removes the stand-ins: any later
`import rich.markdown` gets the real module. Nothing changes when they were loaded already.

`install()` does the same at the moment Typer first imports `typer.rich_utils` (a help
page, a usage error, zsh's and fish's completion with help texts), so that `--version`
and bash completion, which never need rich, do not import it at all.

Either way, Typer's help consoles leave a closed pipe to `cli.shell_endings` (exit 0).
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.machinery
import sys
import types
from collections.abc import Iterator

#: module -> the names typer.rich_utils takes from it
DEFERRED = {"rich.markdown": ("Markdown",), "rich.traceback": ("Traceback",)}
STAND_IN_DOC = "stand-in while typer.rich_utils imports"


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
    with _stand_ins():
        _quiet_on_broken_pipe(importlib.import_module("typer.rich_utils"))


def install() -> None:
    """Import typer.rich_utils cheaply when, and if, Typer first imports it."""
    if "typer.rich_utils" not in sys.modules and not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())


class _Finder:  # an importlib.abc.MetaPathFinder (not subclassed: importlib.abc costs 3 ms to import)
    """Finds typer.rich_utils as Python would, and runs it with the stand-ins in place; once."""

    def find_spec(self, fullname, path, target=None):
        if fullname != "typer.rich_utils":
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
        if spec is not None and spec.loader is not None:
            spec.loader = _WithStandIns(spec.loader)
        return spec


class _WithStandIns:  # an importlib.abc.Loader
    def __init__(self, loader) -> None:
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module) -> None:
        with _stand_ins():
            self.loader.exec_module(module)
        _quiet_on_broken_pipe(module)

    def __getattr__(self, name):  # get_source, get_filename... for tracebacks and inspect
        return getattr(self.loader, name)


def _quiet_on_broken_pipe(rich_utils: types.ModuleType) -> None:
    """Help pages on a closed pipe (`cachesync --help | head -1`) end as `cli.shell_endings`
    says (exit 0, quietly), not as rich's consoles do (exit 1)."""
    from cachesync_cli.cli.shell_endings import quiet_on_broken_pipe

    make_console = rich_utils._get_rich_console
    rich_utils._get_rich_console = lambda stderr=False: quiet_on_broken_pipe(make_console(stderr))


@contextlib.contextmanager
def _stand_ins() -> Iterator[None]:
    """While in the block, the DEFERRED modules not imported yet are stand-ins."""
    placed = []
    for module, names in DEFERRED.items():
        if module in sys.modules:
            continue
        stand_in = types.ModuleType(module, STAND_IN_DOC)
        for name in names:
            setattr(stand_in, name, _stand_in(module, name))
        sys.modules[module] = stand_in
        placed.append(module)
    try:
        yield
    finally:
        for module in placed:
            if isinstance(sys.modules.get(module), types.ModuleType) and sys.modules[module].__doc__ == STAND_IN_DOC:
                del sys.modules[module]
