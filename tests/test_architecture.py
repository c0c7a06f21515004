"""The rules of the house (ARCHITECTURE.md §2), checked on the source:

- adapters/ and mappings/ never import Flask or connector.web;
- the pipeline never imports the web layer;
- no import circle among the project's modules, counting imports inside functions too (a circle
  hidden behind a local import is still a circle); only ``if TYPE_CHECKING:`` blocks are exempt;
- the core's flows name no vendor: connector/pipeline, connector/jobs, connector/sync and
  connector/web hold no "zendesk", "twilio" or "freshdesk", comments included.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("connector", "adapters", "mappings")
VENDOR_FREE = ("connector/pipeline", "connector/jobs", "connector/sync", "connector/web")
VENDORS = re.compile(r"zendesk|twilio|freshdesk", re.IGNORECASE)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _sources() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue  # Alembic runs these; nothing imports them
            found[_module_name(path)] = path
    return found


MODULES = _sources()


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _walk(node: ast.AST) -> Iterator[ast.AST]:
    """Every node, skipping the bodies of ``if TYPE_CHECKING:`` (their ``else`` still counts)."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child):
            for other in child.orelse:
                yield other
                yield from _walk(other)
            continue
        yield child
        yield from _walk(child)


def imports_of(module: str) -> set[str]:
    """What ``module`` imports (module level and inside functions), as imported names."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(), filename=str(path))
    is_package = path.name == "__init__.py"
    names: set[str] = set()
    for node in _walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            for alias in node.names:
                # A submodule, or a name in ``prefix`` (_resolve tells which). The parent
                # package's own __init__ running first is not an edge: it is no import of ours.
                names.add(f"{prefix}.{alias.name}")
    return names


def _resolve(name: str) -> str | None:
    """The project module an imported name lives in (``connector.store.reading`` →
    ``connector.store``), None for third-party names."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def _is_web(name: str) -> bool:
    top = name.split(".")[0]
    return top in ("flask", "werkzeug") or name == "connector.web" or \
        name.startswith("connector.web.")


def graph() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for module in MODULES:
        targets = {_resolve(name) for name in imports_of(module)}
        edges[module] = {t for t in targets if t and t != module}
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for target in sorted(edges.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
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

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_the_checker_sees_local_imports_and_exempts_type_checking(tmp_path) -> None:
    source = ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import flask\n"
              "def f():\n    from connector.web import x\n")
    tree = ast.parse(source)
    seen = {n.module for n in _walk(tree) if isinstance(n, ast.ImportFrom)}
    seen |= {a.name for n in _walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert "connector.web" in seen and "flask" not in seen
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_circle() -> None:
    assert cycles(graph()) == []


@pytest.mark.parametrize("module", [m for m in MODULES if m.startswith(("adapters", "mappings"))])
def test_adapters_and_mappings_never_import_the_web(module: str) -> None:
    bad = {n for n in imports_of(module) if _is_web(n)}
    assert not bad, f"{module} imports {sorted(bad)}"


@pytest.mark.parametrize("module", [m for m in MODULES if m.startswith("connector.pipeline")])
def test_the_pipeline_never_imports_the_web(module: str) -> None:
    bad = {n for n in imports_of(module) if _is_web(n)}
    assert not bad, f"{module} imports {sorted(bad)}"


@pytest.mark.parametrize("folder", VENDOR_FREE)
def test_the_core_names_no_vendor(folder: str) -> None:
    named = [f"{path.relative_to(REPO)}:{number}: {line.strip()}"
             for path in sorted((REPO / folder).rglob("*.py"))
             for number, line in enumerate(path.read_text().splitlines(), start=1)
             if VENDORS.search(line)]
    assert not named, "\n".join(named)
