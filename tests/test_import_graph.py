"""The package's imports run one way: the module graph of src/fhbench has no cycle.

Every import counts, at module level or inside a function (a function-level import is still a
run-time edge: it only moves the moment it happens), and so does every lazy registry entry
(``"fhbench.x.y:Attr"``), which :mod:`fhbench.registry` imports on first use. Imports under
``if TYPE_CHECKING:`` do not run, so they do not count.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parents[1] / "src"
REGISTRY_ENTRY = re.compile(r"^(fhbench(?:\.\w+)+):\w+$")


def module_names(root: Path = PACKAGE_ROOT) -> dict[str, Path]:
    """Dotted name → file of every module of the package."""
    names = {}
    for path in sorted((root / "fhbench").rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imported(tree: ast.AST, module: str, is_package: bool) -> set[str]:
    """Dotted names a module imports (``from a import b`` gives ``a.b`` and ``a``; the caller keeps what exists)."""
    found: set[str] = set()
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            skip.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            match = REGISTRY_ENTRY.match(node.value)
            if match:
                found.add(match.group(1))
    return found


def import_graph(root: Path = PACKAGE_ROOT) -> dict[str, set[str]]:
    """Module → package modules it imports at run time.

    Importing ``a.b.c`` also runs the ``__init__`` of ``a`` and ``a.b``; that edge counts unless
    the importer lives inside that package itself (its ``__init__`` has already started then).
    """
    modules = module_names(root)
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        edges = set()
        for target in _imported(ast.parse(path.read_text(), str(path)), name, path.name == "__init__.py"):
            parts = target.split(".")
            for i in range(1, len(parts) + 1):
                prefix = ".".join(parts[:i])
                is_ancestor_of_importer = name == prefix or name.startswith(prefix + ".")
                if prefix in modules and prefix != name and not is_ancestor_of_importer:
                    edges.add(prefix)
        graph[name] = edges
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return cycles


def test_package_imports_have_no_cycle():
    cycles = find_cycles(import_graph())
    assert not cycles, "import cycles in src/fhbench: " + "; ".join(" ↔ ".join(c) for c in cycles)


def test_the_graph_sees_function_level_imports_and_registry_entries():
    graph = import_graph()
    assert "fhbench.batched" in graph["fhbench.federation"]  # imported inside Federation.__init__
    assert "fhbench.algorithms.fedavg" in graph["fhbench.algorithms"]  # a lazy registry entry
    assert "fhbench.client_round" in graph["fhbench.batched"]
    assert "fhbench.federation" not in graph["fhbench.batched"]  # only under TYPE_CHECKING


def test_a_cycle_is_reported_by_name(tmp_path):
    pkg = tmp_path / "fhbench"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from fhbench.sub.b import thing\n")
    (pkg / "sub" / "b.py").write_text("def thing():\n    from fhbench import a\n")
    (pkg / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from fhbench import a\n")
    assert find_cycles(import_graph(tmp_path)) == [["fhbench.a", "fhbench.sub.b"]]
