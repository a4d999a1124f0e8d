"""Imports point one way (docs/ARCHITECTURE.md): ``api, maps, data -> grid/db -> grid``.

Every module of grid, api, maps and data is parsed (ast, no import is executed); each ``import``
and ``from ... import``, at module level or inside a function, is an arrow. The test fails on
- an arrow against the layers: ``grid/`` (pure) imports nothing of ``grid.db``, ``api``, ``maps``,
  ``data``; ``grid/db`` nothing of ``api``, ``maps``, ``data``; ``maps`` and ``data`` nothing of ``api``;
- a cycle between modules (strongly connected components of the module graph, Tarjan), with the
  modules of the cycle named;
- a private name imported across modules (``from x import _y``).
Imports under ``if TYPE_CHECKING:`` count for the layers and private names, not for cycles (they
never run).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("grid", "api", "maps", "data")
# what each layer may not import (a prefix matches the package and everything in it)
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "grid": ("grid.db", "api", "maps", "data"),
    "grid.db": ("api", "maps", "data"),
    "maps": ("api",),
    "data": ("api",),
    "api": (),
}


@dataclass(frozen=True)
class Arrow:
    source: str  # importing module
    target: str  # imported module (resolved to a module of the tree when it is one)
    names: tuple[str, ...]  # names of a ``from`` import
    line: int
    type_only: bool  # under ``if TYPE_CHECKING:``

    def where(self) -> str:
        return f"{self.source}:{self.line}"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    out: dict[str, Path] = {}
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            out[_module_name(path)] = path
    return out


MODULES = _modules()


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _resolve(name: str) -> str:
    """The longest prefix of a dotted name that is a module of the tree (else the name itself)."""
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        cand = ".".join(parts[:i])
        if cand in MODULES:
            return cand
    return name


def _arrows(module: str, path: Path) -> list[Arrow]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_pkg = path.name == "__init__.py"
    out: list[Arrow] = []

    def visit(node: ast.AST, type_only: bool) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.body:
                visit(child, True)
            for child in node.orelse:
                visit(child, type_only)
            return
        if isinstance(node, ast.Import):
            for alias in node.names:
                out.append(Arrow(module, _resolve(alias.name), (), node.lineno, type_only))
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from the package of this module
                base = module.split(".") if is_pkg else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            names = tuple(a.name for a in node.names)
            for name in names:
                # ``from pkg import mod`` is an arrow to the module pkg.mod when there is one
                sub = f"{target}.{name}"
                resolved = sub if sub in MODULES else _resolve(target)
                out.append(Arrow(module, resolved, (name,), node.lineno, type_only))
        for child in ast.iter_child_nodes(node):
            visit(child, type_only)

    visit(tree, False)
    return out


ARROWS = [a for mod, path in MODULES.items() for a in _arrows(mod, path)]


def _layer(module: str) -> str | None:
    if module == "grid.db" or module.startswith("grid.db."):
        return "grid.db"
    top = module.split(".")[0]
    return top if top in FORBIDDEN else None


def _within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def layer_violations(arrows: list[Arrow]) -> list[str]:
    out = []
    for a in arrows:
        layer = _layer(a.source)
        if layer is None:
            continue
        for banned in FORBIDDEN[layer]:
            if _within(a.target, banned):
                out.append(f"{a.where()}: {layer} imports {a.target} (layer {banned})")
    return out


def private_imports(arrows: list[Arrow]) -> list[str]:
    out = []
    for a in arrows:
        for name in a.names:
            if name.startswith("_") and not name.startswith("__") and a.target in MODULES:
                out.append(f"{a.where()}: from {a.target} import {name}")
    return out


def cycles(arrows: list[Arrow]) -> list[list[str]]:
    """The strongly connected components of more than one module (or a module importing itself)."""
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for a in arrows:
        if not a.type_only and a.target in MODULES and a.target != a.source:
            graph[a.source].add(a.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    # iterative Tarjan (the module graph is deep enough to make recursion a worry)
    for root in sorted(graph):
        if root in index:
            continue
        work: list[tuple[str, list[str]]] = [(root, sorted(graph[root]))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, todo = work[-1]
            if todo:
                nxt = todo.pop()
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, sorted(graph[nxt])))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    m = stack.pop()
                    on_stack.discard(m)
                    comp.append(m)
                    if m == node:
                        break
                if len(comp) > 1:
                    found.append(sorted(comp))
    return found


def _cycle_path(comp: list[str], arrows: list[Arrow]) -> str:
    """One closed path through a component, with the line of each arrow (what to cut)."""
    members = set(comp)
    edges: dict[str, list[Arrow]] = {}
    for a in arrows:
        if not a.type_only and a.source in members and a.target in members and a.target != a.source:
            edges.setdefault(a.source, []).append(a)
    start = comp[0]
    # breadth-first from start back to start
    prev: dict[str, Arrow] = {}
    frontier = [start]
    seen = {start}
    while frontier:
        nxt_frontier = []
        for m in frontier:
            for a in edges.get(m, []):
                if a.target == start:
                    path = [a]
                    cur = m
                    while cur != start:
                        path.append(prev[cur])
                        cur = prev[cur].source
                    return " -> ".join(f"{x.source} ({x.where()})" for x in reversed(path)) + f" -> {start}"
                if a.target not in seen:
                    seen.add(a.target)
                    prev[a.target] = a
                    nxt_frontier.append(a.target)
        frontier = nxt_frontier
    return " <-> ".join(comp)


# ---- the checks themselves work (a wrong parser would pass any tree) ---------------------------------


def test_the_parser_sees_top_level_function_local_and_relative_imports(tmp_path: Path) -> None:
    src = (
        "import os\n"
        "from grid.db import store\n"
        "from . import store as s2\n"
        "from .jurisdiction import _generation\n"
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from maps.pages import unit_page\n"
        "def f():\n"
        "    from data.routing import build_routing\n"
    )
    path = tmp_path / "mod.py"
    path.write_text(src, encoding="utf-8")
    got = {(a.target, a.names, a.type_only) for a in _arrows("grid.db.mod", path)}
    assert ("os", (), False) in got
    assert ("grid.db.store", ("store",), False) in got
    assert ("grid.db.store", ("store",), False) in got  # relative, from the package
    assert ("grid.db.jurisdiction", ("_generation",), False) in got
    assert ("maps.pages", ("unit_page",), True) in got
    assert ("data.routing", ("build_routing",), False) in got


def test_the_checks_catch_a_wrong_arrow_a_cycle_and_a_private_name() -> None:
    bad = [
        Arrow("grid.routing", "grid.db.store", ("units_at",), 1, False),
        Arrow("grid.db.mapdata", "maps.aggregate", ("suppress_small",), 2, False),
        Arrow("data.sample", "api.cli", ("app",), 3, False),
        Arrow("grid.db.insights", "grid.db.mapdata", ("_descendants",), 4, False),
        Arrow("grid.db.mapdata", "grid.db.insights", ("cell_households",), 5, False),
    ]
    layers = layer_violations(bad)
    assert len(layers) == 3
    assert any("grid.routing:1" in v and "grid.db" in v for v in layers)
    assert any("grid.db.mapdata:2" in v and "maps" in v for v in layers)
    assert any("data.sample:3" in v and "api" in v for v in layers)
    assert private_imports(bad) == ["grid.db.insights:4: from grid.db.mapdata import _descendants"]
    assert ["grid.db.insights", "grid.db.mapdata"] in cycles(bad)
    # allowed arrows are not reported
    ok = [
        Arrow("api.cli", "grid.db.store", (), 1, False),
        Arrow("maps.pages", "grid.levels", (), 2, False),
        Arrow("data.sample", "grid.db.engine", (), 3, False),
    ]
    assert layer_violations(ok) == [] and cycles(ok) == []
    # a cycle only through TYPE_CHECKING never runs
    typed = [Arrow("grid.a", "grid.b", (), 1, False), Arrow("grid.b", "grid.a", (), 2, True)]
    assert cycles(typed) == []


# ---- the tree ----------------------------------------------------------------------------------------


def test_the_tree_has_modules_and_arrows() -> None:
    assert {"grid.db.mapdata", "grid.routing", "api.cli", "maps.aggregate", "data.sample"} <= set(MODULES)
    assert len(MODULES) > 50
    assert any(a.source.startswith("grid.db.") and a.target == "grid.db.jurisdiction" for a in ARROWS)


def test_imports_point_one_way() -> None:
    violations = layer_violations(ARROWS)
    assert not violations, "imports against api, maps, data -> grid/db -> grid:\n" + "\n".join(violations)


def test_no_import_cycles() -> None:
    found = cycles(ARROWS)
    assert not found, "import cycles:\n" + "\n".join(_cycle_path(c, ARROWS) for c in found)


def test_no_private_names_across_modules() -> None:
    found = "\n".join(private_imports(ARROWS))
    assert not found, f"private names imported across modules (make them public or move them):\n{found}"


@pytest.mark.parametrize("package", PACKAGES)
def test_every_package_is_read(package: str) -> None:
    assert any(m == package or m.startswith(package + ".") for m in MODULES)
