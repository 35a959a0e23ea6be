"""The house rule, checked on every module: imports go one way (common < graph_store, selector < overlay <
adapters < api), lazy ones included; other packages import a package's public names (its `__init__` or a
subpackage's), never its private modules; and no package's modules import each other in a circle."""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx
import pytest

ROOT = Path(__file__).resolve().parents[1]
RANK = {"common": 0, "graph_store": 1, "selector": 1, "overlay": 2, "adapters": 3, "api": 4}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_package(name: str) -> bool:
    return (ROOT / Path(*name.split(".")) / "__init__.py").exists()


def _is_module(name: str) -> bool:
    return _is_package(name) or (ROOT / Path(*name.split("."))).with_suffix(".py").exists()


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module) of every import in a file, in functions too; `from pkg import sub` names
    the submodule when `sub` is one."""
    me = _module_name(path)
    here = me if path.name == "__init__.py" else me.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here.split(".")[: len(here.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            subs = [f"{target}.{a.name}" for a in node.names if _is_module(f"{target}.{a.name}")]
            found += [(node.lineno, s) for s in subs] or [(node.lineno, target)]
    return [(line, name) for line, name in found if name.split(".")[0] in RANK]


FILES = sorted(p for pkg in RANK for p in (ROOT / pkg).rglob("*.py"))


def test_every_package_is_walked() -> None:
    assert {p.relative_to(ROOT).parts[0] for p in FILES} == set(RANK)


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_go_one_way_through_public_names(path: Path) -> None:
    me = path.relative_to(ROOT).parts[0]
    for line, name in _imports(path):
        other = name.split(".")[0]
        if other == me:
            continue
        where = f"{path.relative_to(ROOT)}:{line} imports {name}"
        assert RANK[other] < RANK[me], f"{where}: {other} sits above or beside {me}"
        assert _is_package(name), f"{where}: a private module; import the package's public names"


@pytest.mark.parametrize("package", list(RANK))
def test_no_circular_imports_inside_a_package(package: str) -> None:
    graph = nx.DiGraph()
    for path in (ROOT / package).rglob("*.py"):
        me = _module_name(path)
        if path.name == "__init__.py":
            continue  # a package's __init__ re-exports its modules; modules reach it only for those names
        for _, name in _imports(path):
            if name.split(".")[0] == package and not _is_package(name) and name != me:
                graph.add_edge(me, name)
    cycles = list(nx.simple_cycles(graph))
    assert not cycles, f"import circles in {package}: {cycles}"


def test_the_rule_catches_an_upward_import(tmp_path: Path) -> None:
    bad = ROOT / "graph_store" / "_probe_upward.py"
    bad.write_text("def f():\n    from overlay import Runtime\n", encoding="utf-8")
    try:
        with pytest.raises(AssertionError, match="sits above"):
            test_imports_go_one_way_through_public_names(bad)
    finally:
        bad.unlink()
