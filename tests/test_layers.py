"""The layers of cachesync_cli, and a walk of every import that keeps them (docs/architecture.md).

Every `import` and `from ... import` of the package is read with `ast`, at module level and
inside functions alike (a deferred import is still a dependency). A module may import from
its own layer or a lower one, never from a higher one; within a layer, and within a package,
imports must not go round in a cycle (a cycle is two layers pretending to be one).

`LAYERS` is the one place the order is written: highest first, each layer the packages and
top-level modules (units) it holds. A new package or top-level module must be placed here.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

PACKAGE = "cachesync_cli"
ROOT = Path(__file__).resolve().parent.parent / PACKAGE

#: Highest first. "" is the package's own __init__ (its version).
LAYERS: tuple[tuple[str, ...], ...] = (
    ("cli", "__main__"),
    ("bridge", "doctor", "cleanup", "bench", "demo"),
    ("local", "publisher", "peers", "observed", "invalidations"),
    ("config",),
    ("entries",),
    ("transport",),
    ("wire",),
    ("errors", "logs", ""),
)
LAYER_OF = {unit: depth for depth, units in enumerate(LAYERS) for unit in units}


def unit_of(module: str) -> str:
    """cachesync_cli.bridge.incoming -> bridge; cachesync_cli.publisher -> publisher; cachesync_cli -> ""."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def package_sources(root: Path = ROOT) -> dict[str, str]:
    """Module name -> source text, for every .py file of the package."""
    sources = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts.pop()
        name = ".".join(parts)
        sources[name + (".__init__" if is_package else "")] = path.read_text(encoding="utf-8")
    return sources


def imports(module: str, source: str) -> Iterable[tuple[str, int]]:
    """(imported module, line) for every import of the package in `source`, wherever it stands.

    `module` ends in `.__init__` for a package's own file (so relative imports resolve)."""
    package = module.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == PACKAGE:
                    yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != PACKAGE:
                continue
            for alias in node.names:
                # `from cachesync_cli import errors` and `from cachesync_cli.cli import output` name modules
                yield (f"{target}.{alias.name}" if target.count(".") < 2 else target), node.lineno


def _module(name: str) -> str:
    return name.removesuffix(".__init__")


def layer_violations(sources: Mapping[str, str]) -> list[str]:
    """Each import of a higher layer's module, and each unit no layer holds."""
    problems = []
    for module, source in sources.items():
        importer = unit_of(_module(module))
        if importer not in LAYER_OF:
            problems.append(f"{_module(module)}: {importer!r} is in no layer; place it in LAYERS")
            continue
        for target, line in dict.fromkeys(imports(module, source)):
            imported = unit_of(target)
            if imported in LAYER_OF and LAYER_OF[imported] < LAYER_OF[importer]:
                problems.append(f"{_module(module)}:{line} imports {target}: {imported or PACKAGE} is in a "
                                f"higher layer than {importer}")
    return problems


def _cycles(edges: Mapping[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one node (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in edges.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def import_cycles(sources: Mapping[str, str]) -> list[str]:
    """Units of one layer that import each other, and modules of one unit that do."""
    known = {_module(m) for m in sources}
    unit_edges: dict[str, set[str]] = {}
    module_edges: dict[str, set[str]] = {}
    for module, source in sources.items():
        name = _module(module)
        for target, _ in imports(module, source):
            if unit_of(target) != unit_of(name):
                if LAYER_OF.get(unit_of(target)) == LAYER_OF.get(unit_of(name)):
                    unit_edges.setdefault(unit_of(name), set()).add(unit_of(target))
                continue
            while target not in known and target.count(".") > 1:  # `from pkg.mod import Class` -> pkg.mod
                target = target.rsplit(".", 1)[0]
            if target in known and target != name:
                module_edges.setdefault(name, set()).add(target)
    return ([f"units of one layer import each other: {' <-> '.join(g)}" for g in _cycles(unit_edges)]
            + [f"modules import each other: {' <-> '.join(g)}" for g in _cycles(module_edges)])


def test_every_import_keeps_to_the_layers():
    assert layer_violations(package_sources()) == []


def test_no_import_cycles_within_a_layer_or_a_package():
    assert import_cycles(package_sources()) == []


def test_every_layer_holds_something_that_exists():
    units = {unit_of(_module(m)) for m in package_sources()}
    assert set(LAYER_OF) - units == set()


# The imports issue 18 found, as they were written: each must be caught.
REACHING_UP = {
    "doctor imports cli": {
        f"{PACKAGE}.doctor.context": "def load_config(self):\n    from cachesync_cli.cli.common import load\n",
    },
    "local imports cleanup": {
        f"{PACKAGE}.local.registry": "from cachesync_cli.cleanup.cron import cron_expression\n",
    },
    "config imports local inside a function": {
        f"{PACKAGE}.config.loader": "def read_config_file(path):\n"
                                    "    from cachesync_cli.local.registry import validate_entry\n",
    },
    "config imports local, relative": {
        f"{PACKAGE}.config.loader": "def read_config_file(path):\n    from ..local.registry import validate_entry\n",
    },
}


@pytest.mark.parametrize("case", list(REACHING_UP))
def test_an_import_of_a_higher_layer_is_caught(case):
    problems = layer_violations(REACHING_UP[case])
    assert len(problems) == 1 and "higher layer" in problems[0], problems


def test_modules_importing_each_other_are_caught():
    bench = {
        f"{PACKAGE}.bench.clusters": "def write_config():\n    from cachesync_cli.bench.scenario import db_url\n",
        f"{PACKAGE}.bench.scenario": "from cachesync_cli.bench.clusters import BenchCluster\n",
    }
    assert import_cycles(bench) == [f"modules import each other: {PACKAGE}.bench.clusters <-> {PACKAGE}.bench.scenario"]


def test_units_of_one_layer_importing_each_other_are_caught():
    sources = {
        f"{PACKAGE}.bridge.bridge": "from cachesync_cli.cleanup.scheduler import bridge_scheduler\n",
        f"{PACKAGE}.cleanup.scheduler": "def f():\n    import cachesync_cli.bridge.stats\n",
    }
    assert import_cycles(sources) == ["units of one layer import each other: bridge <-> cleanup"]


def test_a_unit_in_no_layer_is_caught():
    assert layer_violations({f"{PACKAGE}.utils": ""}) == [f"{PACKAGE}.utils: 'utils' is in no layer; place it in LAYERS"]


def test_a_lower_layer_and_the_same_layer_are_allowed():
    sources = {
        f"{PACKAGE}.cli.run": "from cachesync_cli.bridge.bridge import Bridge\nfrom cachesync_cli import __version__\n",
        f"{PACKAGE}.bridge.bridge": "from cachesync_cli.cleanup.scheduler import bridge_scheduler\n",
        f"{PACKAGE}.local.base": "from ..errors import ConfigError\nfrom . import key_template\n",
    }
    assert layer_violations(sources) == [] and import_cycles(sources) == []
