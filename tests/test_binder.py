"""binder/ works as mybinder.org (repo2docker) uses it: requirements, then postBuild, then the notebooks.

The notebooks need no outside network at run time: everything they touch is
the demo server on 127.0.0.1.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from .helpers import controlled_env

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]
ROOT = Path(__file__).resolve().parents[1]
EXECUTE = """
import sys, nbformat
from nbclient import NotebookClient
for name in ("quickstart", "panel"):
    nb = nbformat.read(f"notebooks/{name}.ipynb", as_version=4)
    NotebookClient(nb, timeout=120, resources={"metadata": {"path": sys.argv[1]}}).execute()
    text = str([c.get("outputs", []) for c in nb.cells])
    assert "untrusted_root" in text, name
    print(name, "ok")
"""


@pytest.mark.skipif(bool(os.environ.get("SLY_NB_TLS_NESTED")), reason="inside a nested run")
def test_binder_environment_runs_both_notebooks(tmp_path: Path) -> None:
    clone = tmp_path / "repo"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    venv = tmp_path / "binder-env"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    env = controlled_env(False) | {
        "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}",
        "SLY_NB_TLS_DIR": str(tmp_path / "userdir"),
        "JUPYTER_DATA_DIR": str(tmp_path / "jupyter-data"),
        "IPYTHONDIR": str(tmp_path / "ipython"),
    }
    env.pop("VIRTUAL_ENV", None)
    steps = [
        ["python", "-m", "pip", "install", "-q", "-r", "binder/requirements.txt"],
        ["bash", "binder/postBuild"],
        ["python", "-c", EXECUTE, str(tmp_path)],
    ]
    for step in steps:
        out = subprocess.run(step, cwd=clone, env=env, capture_output=True, text=True, timeout=1500)
        assert out.returncode == 0, f"{step}:\n{out.stdout[-2000:]}\n{out.stderr[-3000:]}"
    assert "quickstart ok" in out.stdout and "panel ok" in out.stdout
