"""The package's shape: public surface, import discipline, and the README/CI contract."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import sly_nb_tls

ROOT = Path(__file__).resolve().parents[1]
#: The front-ends; every other module is the core.
FRONT_ENDS = {"_magic", "_panel", "__init__"}
CORE = sorted(p.stem for p in (ROOT / "sly_nb_tls").glob("*.py") if p.stem not in FRONT_ENDS)
#: Private attributes of other libraries: allowed in _live.py only, so an upgrade breaks in one place.
OTHERS_PRIVATE = ("_SSL_CONTEXT_VERIFIED", "_make_ssl_context", "_preloaded_ssl_context", "_transport", "_pool",
                  "_ssl_context", "_mounts", "_opener")  # fmt: skip


def test_public_names_resolve_and_match_all() -> None:
    lazy = set(sly_nb_tls._LAZY)
    assert set(sly_nb_tls.__all__) == lazy | {"load_ipython_extension", "unload_ipython_extension", "__version__"}
    for name in sly_nb_tls.__all__:
        if name == "dask_plugin" and importlib.util.find_spec("distributed") is None:
            continue  # its module subclasses distributed's WorkerPlugin: only with Dask installed
        assert getattr(sly_nb_tls, name) is not None
    with pytest.raises(AttributeError):
        sly_nb_tls.no_such_name  # noqa: B018


@pytest.mark.parametrize("module", CORE)
def test_core_never_imports_ipython_or_ipywidgets(module: str) -> None:
    if module == "_dask" and importlib.util.find_spec("distributed") is None:
        pytest.skip("distributed is not installed (the `test` extra has it)")
    code = (
        f"import sys, sly_nb_tls.{module}\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('IPython', 'ipywidgets', 'ipykernel'))\n"
        "print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_core_has_every_module_but_the_front_ends() -> None:
    assert {"_live", "_probe", "_classify", "_secrets", "_bundle", "_trust", "__main__"} <= set(CORE)


@pytest.mark.parametrize("module", [m for m in CORE if m != "_live"] + sorted(FRONT_ENDS))
def test_private_attributes_of_other_libraries_are_used_in_live_only(module: str) -> None:
    text = (ROOT / "sly_nb_tls" / f"{module}.py").read_text()
    used = [name for name in OTHERS_PRIVATE if re.search(rf"\b{name}\b", text)]
    assert used == [], f"{module}.py reaches into {used}; that belongs in _live.py"


def test_module_docstrings_say_their_job() -> None:
    """Public modules open with an In [1]: session; a private one says its job in its first line."""
    for path in sorted((ROOT / "sly_nb_tls").glob("*.py")):
        text = path.read_text()
        doc = re.match(r'\s*(?:#.*\n)*\s*"""(.*?)"""', text, re.S)
        assert doc, f"{path.name} has no module docstring"
        if not path.name.startswith("_") or path.name in ("__init__.py", "__main__.py"):
            assert "In [1]:" in doc.group(1), f"{path.name}: the docstring should open with an In [1]: session"
            continue
        first = doc.group(1).strip().splitlines()[0]
        assert first.endswith(".") and len(first) <= 120, f"{path.name}: the first line should say its job"


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```(?:bash|sh)\n(.*?)\n```", text, re.S)[:2]


def test_readme_starts_with_two_setup_commands_and_ci_runs_the_second() -> None:
    text = (ROOT / "README.md").read_text()
    first_block = text.index("```")
    assert text[:first_block].count("\n") <= 4, "the set-up commands must be at the very top"
    demo, tests = _readme_commands()
    assert "sly_nb_tls demo" in demo
    assert "pytest" in tests
    ci = (ROOT / ".ci" / "run").read_text()
    assert tests.strip() in ci.splitlines(), ".ci/run must run the README's test command verbatim"


def test_a_users_test_module_importing_test_connection_collects_no_test_of_ours(tmp_path: Path) -> None:
    import subprocess
    import sys

    (tmp_path / "test_mine.py").write_text("from sly_nb_tls import test_connection\n\ndef test_mine():\n    pass\n")
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=", "--collect-only",
         str(tmp_path / "test_mine.py")],
        capture_output=True, text=True, cwd=tmp_path, timeout=120,
        env={k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"},  # a nested run's paths are not here
    )  # fmt: skip
    assert "1 test collected" in out.stdout, out.stdout + out.stderr
