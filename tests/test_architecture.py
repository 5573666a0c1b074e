"""The house's rules, read from the source: layers, no cycles, other libraries' privates in one place.

DEVELOPERS.md draws the house; these tests keep it standing.  Each reads the
package's AST, so a forbidden import or attribute fails here before review.
"""

from __future__ import annotations

import ast
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "sly_nb_tls"

#: The foundation every layer may use: certificates and their sources, PEM, secrets, rendering, fixes and
#: their words, bounded reads, waits and atomic writes, the admin's policy and the audit log, the errors.
FOUNDATION = {
    "_anchors", "_audit", "_bounded", "_certs", "_expiry", "_fixes", "_objects", "_pem", "_policy", "_readfile",
    "_render", "_secrets", "_sources", "_tls", "_userdir", "_words", "_writefile", "errors",
}  # fmt: skip
#: The public API: what the front-ends may call.
PUBLIC = {"__init__", "_api", "errors", "demo", "workers"}
#: The result types the front-ends may read.
RESULTS = {"trust.results", "diagnose.results", "clients.base"}
#: layer -> the layers it may import (besides itself)
ALLOWED = {
    "foundation": {"foundation"},
    "clients": {"foundation"},
    "trust": {"foundation", "clients"},
    "diagnose": {"foundation", "clients"},
    "demo": {"foundation"},
    "integrations": {"foundation", "clients", "trust"},
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
                if alias.name == "sly_nb_tls":
                    yield "__init__", node.lineno
                elif alias.name.startswith("sly_nb_tls."):
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


# -- other libraries' private attributes -------------------------------------------------------
#: module -> the private names of other libraries (and of the standard library) it may touch, and why.
#: Every name a client's rules need is data in clients/ (string constants, never attribute access);
#: trust/live.py, the live-hook module, is the one place that reads or writes them.
PRIVATE_ALLOWED = {
    "trust.live": {
        "_ssl",  # the C module under ssl: its _SSLContext is the class the hooks go on
        "_SSLContext",  # ssl's own SSLContext class, found whatever ssl.SSLContext names now
        "_create_default_https_context",  # http.client's context factory: hooked and undone
        "_create_unverified_context",  # to tell when something turned urllib's verification off
        "_getframe",  # who builds a context: names the client in `status`
    },
    # the presented chain before Python 3.13 made get_unverified_chain public
    "diagnose.probe": {"_sslobj"},
}


def our_private_names() -> set[str]:
    """Every private name the package defines itself: its functions, classes, attributes, fields."""
    names: set[str] = set()
    for path in MODULES.values():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                names.add(node.name)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                names.add(node.attr)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                names.add(node.target.id)
            elif isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("sly_nb_tls")):
                names |= {alias.asname or alias.name for alias in node.names}  # our own modules' names
    return {n for n in names if n.startswith("_")}


OURS = our_private_names()


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def foreign_private_uses(module: str) -> list[tuple[str, int, str]]:
    """(name, line, how) for every private attribute of another library `module` touches:
    ``obj._name`` and ``getattr/setattr/hasattr/delattr(obj, "_name")`` with a name we do not define."""
    found = []
    for node in ast.walk(ast.parse(MODULES[module].read_text())):
        if isinstance(node, ast.Import):
            found += [(a.name, node.lineno, "import") for a in node.names if _is_private(a.name.split(".")[-1])]
        elif isinstance(node, ast.ImportFrom) and not node.level and not (node.module or "").startswith("sly_nb_tls"):
            found += [(a.name, node.lineno, "import") for a in node.names if _is_private(a.name)]
            if _is_private((node.module or "").split(".")[-1]):
                found.append((node.module or "", node.lineno, "import"))
        elif isinstance(node, ast.Attribute) and _is_private(node.attr) and node.attr not in OURS:
            found.append((node.attr, node.lineno, "attribute"))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("getattr", "setattr", "hasattr", "delattr")
            and len(node.args) > 1
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
            and _is_private(node.args[1].value)
            and node.args[1].value not in OURS
        ):
            found.append((node.args[1].value, node.lineno, node.func.id))
    return found


@pytest.mark.parametrize("module", sorted(MODULES))
def test_other_libraries_private_attributes_are_touched_only_where_allowed(module: str) -> None:
    allowed = PRIVATE_ALLOWED.get(module, set())
    assert [use for use in foreign_private_uses(module) if use[0] not in allowed] == []


def test_the_private_names_clients_hold_as_data_are_touched_only_by_the_live_hook_module() -> None:
    """A client's private attribute names are string constants in clients/; touching them
    anywhere would be an access (caught above), so here: no other layer spells them out."""
    data: set[str] = set()
    for module in (m for m in MODULES if m.startswith("clients.")):
        for node in ast.walk(ast.parse(MODULES[module].read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and _is_private(node.value):
                if node.value.isidentifier() and node.value not in OURS:
                    data.add(node.value)
    assert data, "the clients declare no private attribute names: this test would check nothing"
    for module in (m for m in MODULES if not m.startswith("clients.")):
        text = MODULES[module].read_text()
        spelled = sorted(name for name in data if f'"{name}"' in text or f"'{name}'" in text)
        assert spelled == [], f"{module} names {spelled}: that is data for a module in clients/"


def test_the_allow_list_names_only_what_is_used() -> None:
    """An entry nobody uses any more would let the next one in unnoticed."""
    for module, names in PRIVATE_ALLOWED.items():
        used = {name for name, _, _ in foreign_private_uses(module)}
        assert names <= used, f"{module}: {sorted(names - used)} allowed but not used"


# -- the tests' own house rules ----------------------------------------------------------------
TESTS = ROOT / "tests"
#: What the tests run: their modules, the IPython scripts they run in kernels, and the benchmarks.
TEST_SOURCES = sorted([*TESTS.glob("*.py"), *TESTS.glob("*.ipy"), *(ROOT / "benchmarks").glob("*.py")])


def _imports_conftest(path: Path) -> list[int]:
    """Lines of `path` that import conftest (`.ipy` files are read as text: magics are no Python)."""
    if path.suffix == ".ipy":
        lines = path.read_text().splitlines()
        return [i for i, ln in enumerate(lines, 1) if ln.lstrip().startswith(("from ", "import ")) and "conftest" in ln]
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            names = [node.module or "", *(alias.name for alias in node.names)]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        if any("conftest" in name.split(".") for name in names):
            found.append(node.lineno)
    return found


def test_no_test_imports_from_conftest() -> None:
    """Helpers live in tests/helpers.py; conftest.py holds fixtures and hooks, which pytest loads itself."""
    assert any(p.name == "helpers.py" for p in TEST_SOURCES), "tests/helpers.py is gone: this test checks nothing"
    offenders = {str(p.relative_to(ROOT)): lines for p in TEST_SOURCES if (lines := _imports_conftest(p))}
    assert offenders == {}, "import helpers from tests/helpers.py, not from conftest"


def _tests_own_files() -> list[Path]:
    """Every file of the tests' own: not those in a virtualenv nox made, in a cache, or images."""
    found = []
    for folder, subfolders, names in os.walk(TESTS):
        # pruned while walking: nox's virtualenvs hold tens of thousands of files
        subfolders[:] = [d for d in subfolders if not d.startswith(".") and d != "__pycache__"]
        found += [Path(folder) / n for n in names if not n.endswith(".png")]
    return found


def test_no_test_pokes_the_registry() -> None:
    """Tests see the trust state through the public API (`status`, `at_exit`), never the private registry."""
    private = "_REG" + "ISTRY"  # spelled in two, so that this file does not hold it
    files = _tests_own_files()
    assert Path(__file__).resolve() in files, "this test reads no test file: it checks nothing"
    offenders = [str(p.relative_to(ROOT)) for p in files if private in p.read_text(errors="replace")]
    assert offenders == []


# -- sizes -------------------------------------------------------------------------------------
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 60


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_is_over_500_lines(module: str) -> None:
    lines = len(MODULES[module].read_text().splitlines())
    assert lines <= MAX_MODULE_LINES, f"{module}: {lines} lines; split it by job"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_function_is_over_60_lines(module: str) -> None:
    long = [
        f"{node.name} ({node.end_lineno - node.lineno + 1} lines, line {node.lineno})"
        for node in ast.walk(ast.parse(MODULES[module].read_text()))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and (node.end_lineno or node.lineno) - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert long == []
