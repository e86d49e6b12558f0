"""The import graph of a package, read from its source with `ast` (nothing is imported).

    graph = import_graph(REPO_ROOT, "services.faultproxy")   # or "lab"
    assert import_cycles(graph) == []

Only imports between modules of the package count. Every import statement counts, at
module level or inside a function (a lazy import still closes a circle), except the
bodies of ``if TYPE_CHECKING:`` unless ``type_checking=True``: those never run.
"""

from __future__ import annotations

import ast
from pathlib import Path


def package_modules(root: Path, package: str) -> dict[str, Path]:
    """Every module of ``package`` (dotted name -> file), its ``__init__`` included."""
    base = root.joinpath(*package.split("."))
    if not (base / "__init__.py").is_file():
        raise ValueError(f"{base} is not a package (no __init__.py)")
    modules = {}
    for path in sorted(base.rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def import_graph(root: Path, package: str, *, type_checking: bool = False) -> dict[str, set[str]]:
    """Each module of ``package`` -> the modules of ``package`` it imports."""
    modules = package_modules(root, package)
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        here = name if is_package else name.rpartition(".")[0]
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        targets: set[str] = set()
        for node in _imports(tree, type_checking):
            targets |= _targets(node, here, modules)
        graph[name] = targets - {name}
    return graph


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import circles: each strongly connected component of more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan; packages are small enough to recurse
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
    return sorted(found)


def describe_cycles(graph: dict[str, set[str]], cycles: list[list[str]]) -> str:
    """The edges inside each circle, one per line, for an assertion message."""
    lines = []
    for component in cycles:
        members = set(component)
        lines += [f"{a} -> {b}" for a in component for b in sorted(graph[a] & members)]
        lines.append("")
    return "\n".join(lines)


def _imports(node: ast.AST, type_checking: bool) -> list[ast.Import | ast.ImportFrom]:
    found: list[ast.Import | ast.ImportFrom] = []
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Import | ast.ImportFrom):
            found.append(child)
        elif isinstance(child, ast.If) and _is_type_checking(child.test) and not type_checking:
            found += _imports(ast.Module(body=child.orelse, type_ignores=[]), type_checking)
        else:
            found += _imports(child, type_checking)
    return found


def _is_type_checking(test: ast.expr) -> bool:
    if isinstance(test, ast.Name):
        return test.id == "TYPE_CHECKING"
    return isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"


def _targets(node: ast.Import | ast.ImportFrom, here: str, modules: dict[str, Path]) -> set[str]:
    """The modules of the package an import runs: ``from a import b`` is module ``a.b``
    if there is one, else ``a``; ``import a.b.c`` is its longest prefix that is a module."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        if node.level:
            parts = here.split(".")
            parts = parts[: len(parts) - (node.level - 1)]
            base = ".".join([*parts, node.module] if node.module else parts)
        else:
            base = node.module or ""
        names = [
            f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
            for alias in node.names
        ]
    return {m for m in (_known(n, modules) for n in names) if m is not None}


def _known(target: str, modules: dict[str, Path]) -> str | None:
    """The longest prefix of ``target`` that is a module of the package, if any."""
    parts = target.split(".")
    while parts:
        name = ".".join(parts)
        if name in modules:
            return name
        parts.pop()
    return None
