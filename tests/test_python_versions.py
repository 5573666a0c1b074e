"""The whole suite (but the browser test) on every other CPython 3.10–3.13 present, through nox.

The running interpreter is covered by this very run; versions that are not
installed are skipped with a note.  Nested runs set SLY_NB_TLS_NESTED so they
do not start nox again.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from .pythons import VERSIONS, find_interpreters, this_version

pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]
ROOT = Path(__file__).resolve().parents[1]
NESTED = bool(os.environ.get("SLY_NB_TLS_NESTED"))


@pytest.mark.skipif(NESTED, reason="already inside a nox session")
@pytest.mark.parametrize("version", VERSIONS)
def test_suite_passes_on(version: str) -> None:
    if version == this_version():
        pytest.skip(f"Python {version} is the interpreter running this suite")
    if version not in find_interpreters():
        pytest.skip(f"Python {version} is not installed on this machine")
    nox = Path(sys.executable).parent / "nox"
    out = subprocess.run(
        [str(nox), "-f", str(ROOT / "tests" / "noxfile.py"), "-s", f"tests({version})"],
        capture_output=True,
        text=True,
        timeout=1800,
        env={k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"},
    )
    tail = "\n".join((out.stdout + out.stderr).splitlines()[-40:])
    print(tail)
    assert out.returncode == 0, tail
    assert " passed" in tail and " failed" not in tail
