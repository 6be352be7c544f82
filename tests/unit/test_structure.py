"""The layout rules of ARCHITECTURE.md, read from the source (no database): no import cycles between
modules or between the folders of ``app/``, no private name imported across modules, and the SQL
namespaces reached only through their domain's ``repo.py``."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from app.config import PROJECT_ROOT

APP = PROJECT_ROOT / "app"
TESTS = PROJECT_ROOT / "tests"
# Where a SQL namespace (``queries.<folder of sql/>``) may be named: its domain's repo, and for the two
# namespaces of the database layer itself, that layer.
OWNERS = {"db": "app.db", "migrations": "app.migrations"}


@dataclass
class Module:
    name: str
    path: Path
    tree: ast.Module
    imports: set[str] = field(default_factory=set)  # modules of the same tree this one imports


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _read(root: Path) -> dict[str, Module]:
    modules = {
        _module_name(path, root): Module(_module_name(path, root), path, ast.parse(path.read_text()))
        for path in sorted(root.rglob("*.py"))
    }
    for module in modules.values():
        for target, _ in _imported(module, modules):
            if target != module.name:
                module.imports.add(target)
    return modules


def _owner(name: str, modules: dict[str, Module]) -> str | None:
    """The module of the tree that defines ``name`` (a module, or a name inside one)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _imported(module: Module, modules: dict[str, Module]) -> Iterator[tuple[str, str | None]]:
    """(module imported, name taken from it or None) for every import statement, at any depth (lazy
    imports inside functions and ``TYPE_CHECKING`` blocks count: they are edges of the design too)."""
    package = module.name if module.path.name == "__init__.py" else module.name.rpartition(".")[0]
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if (target := _owner(alias.name, modules)) is not None:
                    yield target, None
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                if submodule in modules:
                    yield submodule, None
                elif (target := _owner(base, modules)) is not None:
                    yield target, alias.name


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


@pytest.fixture(scope="module")
def app_modules() -> dict[str, Module]:
    return _read(APP)


def test_no_import_cycle_between_modules(app_modules: dict[str, Module]) -> None:
    graph = {name: module.imports for name, module in app_modules.items()}
    cycles = _cycles(graph)
    assert not cycles, "\n".join(" <-> ".join(c) for c in cycles)


def test_no_import_cycle_between_folders(app_modules: dict[str, Module]) -> None:
    """Folders of ``app/`` (its packages, e.g. ``app.activities``): no two reach each other."""
    folders = {name for name, m in app_modules.items() if m.path.name == "__init__.py" and name != "app"}

    def folder(name: str) -> str | None:
        top = ".".join(name.split(".")[:2])
        return top if top in folders else None

    graph: dict[str, set[str]] = {f: set() for f in folders}
    for name, module in app_modules.items():
        for target in module.imports:
            source, dest = folder(name), folder(target)
            if source and dest and source != dest:
                graph[source].add(dest)
    cycles = _cycles(graph)
    assert not cycles, "\n".join(" <-> ".join(c) for c in cycles)


def test_the_cycle_checks_can_fail() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


@pytest.mark.parametrize("root", [APP, TESTS], ids=["app", "tests"])
def test_no_private_name_is_imported_from_another_module(root: Path) -> None:
    modules = _read(APP) | _read(root)
    private = [
        f"{name}: {target}.{taken}"
        for name, module in modules.items()
        if module.path.is_relative_to(root)
        for target, taken in _imported(module, modules)
        if taken is not None and taken.startswith("_") and not taken.startswith("__") and target != name
    ]
    assert not private, "\n".join(private)


def _namespaces_named(module: Module) -> set[str]:
    """The SQL namespaces ``module`` names (``queries.<ns>``), and "*" if it passes ``queries`` on."""
    named: set[str] = set()
    for node in ast.walk(module.tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "queries"
        ):
            named.add(node.attr)
        elif isinstance(node, ast.ImportFrom) and any(a.name == "queries" for a in node.names):
            named.add("*import")
    return named


def test_only_a_domains_repo_names_its_sql(app_modules: dict[str, Module]) -> None:
    """``queries.<ns>`` appears only in ``app/<ns>/repo.py`` (``db`` and ``migrations``: the database
    layer), and only repos and that layer import ``queries``, so every statement a request runs is
    reached through one typed function."""
    sql_folders = {p.name for p in (PROJECT_ROOT / "sql").iterdir() if p.is_dir()}
    wrong = []
    for name, module in app_modules.items():
        for namespace in sorted(_namespaces_named(module)):
            if namespace == "*import":
                allowed = name.endswith(".repo") or name in OWNERS.values()
            elif namespace in sql_folders:
                allowed = name == OWNERS.get(namespace, f"app.{namespace}.repo")
            else:  # aiosql's own attributes (the catalogue of statements): the database layer
                allowed = name == "app.db"
            if not allowed:
                wrong.append(f"{name}: queries.{namespace.removeprefix('*')}")
    assert not wrong, "\n".join(wrong)
