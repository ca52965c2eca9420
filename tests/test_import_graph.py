"""Data flows one way: no import circles in ``techcare`` or ``techcare_backend``.

The graph is read from the source (AST), not from ``sys.modules``: every ``import``/``from … import`` counts,
lazy ones inside functions included, because a lazy import is still a dependency; only imports under
``if TYPE_CHECKING:`` are left out (they never run), and so are imports by string (``importlib``), which the
lazy top-level ``techcare.__getattr__`` uses. ``from pkg import name`` points at ``pkg.name`` when that is a
module, else at ``pkg`` itself: a submodule importing a name from its own package's ``__init__`` (or ``import
techcare`` inside the package) is an edge to the package, and a circle when the package imports it back.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {"techcare": ROOT / "techcare", "techcare_backend": ROOT / "backend" / "techcare_backend"}


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package, folder in PACKAGES.items():
        for path in sorted(folder.rglob("*.py")):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join([package, *parts])] = path
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement, at any depth, except those under ``if TYPE_CHECKING:``."""
    found: list[ast.Import | ast.ImportFrom] = []
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))
    return found


def _targets(module: str, is_package: bool, node: ast.Import | ast.ImportFrom, known: set[str]) -> set[str]:
    def owner(name: str) -> str | None:  # the longest known module a dotted name lives in
        while name and name not in known:
            name = name.rpartition(".")[0]
        return name or None

    if isinstance(node, ast.Import):
        return {m for alias in node.names if (m := owner(alias.name))}
    if node.level:
        base_parts = module.split(".") if is_package else module.split(".")[:-1]
        base_parts = base_parts[: len(base_parts) - (node.level - 1)]
        base = ".".join(base_parts + ([node.module] if node.module else []))
    else:
        base = node.module or ""
    out = set()
    for alias in node.names:
        target = f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else owner(base)
        if target:
            out.add(target)
    return out


def import_graph() -> dict[str, dict[str, int]]:
    """module -> {imported module: first line}, for the first-party modules only."""
    modules = _modules()
    known = set(modules)
    graph: dict[str, dict[str, int]] = {}
    for module, path in modules.items():
        edges: dict[str, int] = {}
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in _imports(tree):
            for target in _targets(module, path.name == "__init__.py", node, known):
                if target != module:
                    edges[target] = min(edges.get(target, node.lineno), node.lineno)
        graph[module] = edges
    return graph


def circles(graph: dict[str, dict[str, int]]) -> list[set[str]]:
    """The strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[set[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(component)
    return found


def describe(component: set[str], graph: dict[str, dict[str, int]]) -> str:
    """One concrete loop through the component, with the line of each import: ``a:12 -> b:40 -> a``."""
    start = min(component)
    paths = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for child in sorted(graph[node]):
            if child == start:
                loop = paths[node] + [start]
                return " -> ".join(f"{a}:{graph[a][b]}" for a, b in zip(loop, loop[1:])) + f" -> {start}"
            if child in component and child not in paths:
                paths[child] = paths[node] + [child]
                queue.append(child)
    raise AssertionError(f"no loop found in {sorted(component)}")  # pragma: no cover - Tarjan guarantees one


def test_the_graph_sees_lazy_imports_and_skips_type_checking():
    source = ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from . import b\n"
              "def f():\n    from .c import thing\n    import techcare.d\n")
    tree = ast.parse(source)
    known = {"techcare.x", "techcare.x.a", "techcare.x.b", "techcare.x.c", "techcare.d"}
    targets = set()
    for node in _imports(tree):
        targets |= _targets("techcare.x.a", False, node, known)
    assert targets == {"techcare.x.c", "techcare.d"}
    loop = {"a": {"b": 3}, "b": {"c": 5}, "c": {"a": 7, "d": 1}, "d": {}}
    (component,) = circles(loop)
    assert component == {"a", "b", "c"} and describe(component, loop) == "a:3 -> b:5 -> c:7 -> a"


def test_no_import_circles():
    graph = import_graph()
    assert "techcare.diagnosis" in graph and "techcare_backend.main" in graph, sorted(graph)[:10]
    found = [describe(c, graph) + (f"\n  (all modules of this knot: {', '.join(sorted(c))})" if len(c) > 2 else "")
             for c in circles(graph)]
    assert not found, "import circles (move what both sides need to the lower module):\n" + "\n".join(found)
