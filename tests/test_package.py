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
#: Every module but the front-ends (ui/, the package's __init__ which loads the magic): the core.
CORE = sorted(
    ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
    for p in (ROOT / "sly_nb_tls").rglob("*.py")
    if "ui" not in p.relative_to(ROOT / "sly_nb_tls").parts[:1] and p != ROOT / "sly_nb_tls" / "__init__.py"
)


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
    if module == "sly_nb_tls.integrations.dask" and importlib.util.find_spec("distributed") is None:
        pytest.skip("distributed is not installed (the `test` extra has it)")
    code = (
        f"import sys, {module}\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('IPython', 'ipywidgets', 'ipykernel'))\n"
        "print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_core_has_every_module_but_the_front_ends() -> None:
    assert {"sly_nb_tls.trust.live", "sly_nb_tls.diagnose.probe", "sly_nb_tls._secrets", "sly_nb_tls.__main__"} <= set(
        CORE
    )
    assert not any(".ui" in m for m in CORE)


def test_module_docstrings_say_their_job() -> None:
    """Public modules open with an In [1]: session; a private one says its job in its first line."""
    public = {"__init__.py", "__main__.py", "errors.py", "workers.py", "demo/__init__.py"}
    for path in sorted((ROOT / "sly_nb_tls").rglob("*.py")):
        name = path.relative_to(ROOT / "sly_nb_tls").as_posix()
        text = path.read_text()
        doc = re.match(r'\s*(?:#.*\n)*\s*"""(.*?)"""', text, re.S)
        assert doc, f"{name} has no module docstring"
        if name in public:
            assert "In [1]:" in doc.group(1), f"{name}: the docstring should open with an In [1]: session"
            continue
        first = doc.group(1).strip().splitlines()[0]
        assert first.endswith(".") and len(first) <= 120, f"{name}: the first line should say its job"
        assert "In [1]:" not in doc.group(1), f"{name}: sessions belong in public docstrings and the README"


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
