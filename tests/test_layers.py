"""The package's layers, read from its source: arrows only point down.

Every ``import workbench.X...`` (top level or inside a function; imports made only for type
checking left out) is an edge between the sub-package or module of the importer and X.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import workbench

PACKAGE = Path(workbench.__file__).parent
# what the storage layer may use: the shared foundations, never a domain package
FOUNDATIONS = {"config", "errors", "plugins", "names", "fsutil", "formatting", "storage"}


def _imports() -> dict[str, dict[str, list[str]]]:
    """importer part -> imported part -> where (file:line)."""
    edges: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE)
        if relative.parts == ("__init__.py",):
            continue  # the lazy facade of the public API sits above every part
        part = relative.parts[0].removesuffix(".py")
        tree = ast.parse(path.read_text(), str(path))
        typing_only = {
            id(node)
            for branch in ast.walk(tree)
            if isinstance(branch, ast.If) and "TYPE_CHECKING" in ast.unparse(branch.test)
            for node in ast.walk(branch)
        }
        for node in ast.walk(tree):
            if id(node) in typing_only:
                continue
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
                if node.module == "workbench":
                    names = [f"workbench.{alias.name}" for alias in node.names]
            else:
                continue
            for name in names:
                pieces = name.split(".")
                if pieces[0] == "workbench" and len(pieces) > 1 and pieces[1] != part:
                    edges[part][pieces[1]].append(f"{relative}:{node.lineno}")
    return edges


def _cycles(edges: dict[str, dict[str, list[str]]]) -> list[list[str]]:
    """The strongly connected parts with more than one member (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in edges.get(node, {}):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in list(edges):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycle_between_parts_of_the_package() -> None:
    edges = _imports()
    cycles = _cycles(edges)
    detail = [
        f"{a} -> {b}: {', '.join(edges[a][b][:3])}" for cycle in cycles for a in cycle for b in cycle if b in edges[a]
    ]
    assert not cycles, "import cycles:\n" + "\n".join(detail)


def test_the_storage_layer_imports_no_domain_package() -> None:
    used = _imports()["storage"]
    assert set(used) <= FOUNDATIONS, {name: where for name, where in used.items() if name not in FOUNDATIONS}


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b": []}, "b": {"c": []}, "c": {"a": []}, "d": {"a": []}}) == [["a", "b", "c"]]
