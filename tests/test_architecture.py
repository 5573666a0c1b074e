"""The house's rules, read from the source: layers, no cycles, other libraries' privates in one place.

DEVELOPERS.md draws the house; these tests keep it standing.  Each reads the
package's AST, so a forbidden import or attribute fails here before review.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "sly_nb_tls"

#: The foundation every layer may use: certificates, PEM, secrets, rendering, bounded reads and waits.
FOUNDATION = {"_certs", "_pem", "_secrets", "_render", "_readfile", "_objects", "_bounded", "errors"}
#: The public API: what the front-ends may call.
PUBLIC = {"__init__", "errors", "demo", "workers"}
#: The result types the front-ends may read.
RESULTS = {"trust.results", "diagnose.results", "clients.base"}
#: layer -> the layers it may import (besides itself)
ALLOWED = {
    "foundation": {"foundation"},
    "clients": {"foundation"},
    "trust": {"foundation", "clients"},
    "diagnose": {"foundation", "clients"},
    "demo": {"foundation"},
    "integrations": {"foundation", "trust"},
    "ui": {"foundation", "public", "results"},
    "top": {"foundation", "clients", "trust", "diagnose", "demo", "integrations", "ui", "public", "results", "top"},
}


def module_name(path: Path) -> str:
    """`sly_nb_tls/trust/live.py` -> "trust.live"; a package is named by its folder."""
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def layer_of(module: str) -> str:
    head = module.split(".", 1)[0]
    if module in FOUNDATION:
        return "foundation"
    if head in ("clients", "trust", "diagnose", "ui", "integrations", "demo"):
        return head
    return "top"  # __init__, __main__, _api, workers: the glue that names the public API


def _resolve(module: str, node: ast.ImportFrom) -> list[str]:
    """The package modules an ``from … import …`` names."""
    if node.level == 0:
        if not (node.module or "").startswith("sly_nb_tls"):
            return []
        base = (node.module or "").split(".")[1:]
    else:
        here = module.split(".") if MODULES[module].name == "__init__.py" else module.split(".")[:-1]
        if module == "__init__":
            here = []
        base = here[: len(here) - (node.level - 1)] + ((node.module or "").split(".") if node.module else [])
    out = []
    for alias in node.names:
        candidate = ".".join([*base, alias.name])
        out.append(candidate if candidate in MODULES else ".".join(base) or "__init__")
    return out


def imports(module: str, *, type_only: bool = False) -> Iterator[tuple[str, int]]:
    """(imported package module, line) for every import in `module`, lazy ones included.

    Imports under ``if TYPE_CHECKING:`` run never, so they are left out unless `type_only`.
    """
    tree = ast.parse(MODULES[module].read_text())
    skip: set[int] = set()
    if not type_only:
        for node in ast.walk(tree):
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                skip |= {id(n) for n in ast.walk(node)}
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.ImportFrom):
            for target in _resolve(module, node):
                if target in MODULES:
                    yield target, node.lineno
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("sly_nb_tls."):
                    target = alias.name.split(".", 1)[1]
                    if target in MODULES:
                        yield target, node.lineno


def kinds_of(module: str) -> set[str]:
    kinds = {layer_of(module)}
    if module in PUBLIC:
        kinds.add("public")
    if module in RESULTS:
        kinds.add("results")
    return kinds


def violations(module: str) -> list[str]:
    allowed = ALLOWED[layer_of(module)] | {layer_of(module)}
    return [
        f"{module}:{line} imports {target} ({'/'.join(sorted(kinds_of(target)))})"
        for target, line in imports(module, type_only=True)
        if not kinds_of(target) & allowed
    ]


@pytest.mark.parametrize("module", sorted(MODULES))
def test_each_module_imports_only_what_its_layer_may(module: str) -> None:
    assert violations(module) == []


def cycles() -> list[list[str]]:
    """Every import cycle among the package's modules (lazy imports count: a cycle dodged is a cycle)."""
    graph = {m: sorted({t for t, _ in imports(m)} - {m}) for m in MODULES}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for m in graph:
        if m not in index:
            visit(m)
    return found


def test_no_import_cycles() -> None:
    # __init__ imports nothing at module level but names every verb lazily; modules that
    # import the public API (`import sly_nb_tls`) from a function are front-ends, never below it.
    assert cycles() == []
