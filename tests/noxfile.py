"""The suite on every CPython 3.10–3.13 found on this machine: ``nox -f tests/noxfile.py``.

In [1]: !.venv/bin/nox -f tests/noxfile.py --list
* tests(python='3.10')
* tests(python='3.12') ...

Interpreters are looked up in pyenv and on PATH (tests/pythons.py); a version
that is missing is skipped with a note, never an error.  Each session installs
the package with its lean `test-core` extra (not the 860 MB SDK, not JupyterLab
or the browser driver, which the main run covers) and runs what differs between
Python versions: everything but the slow tests, plus the client matrix.  The
matrix's SDK rows show as skipped there.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nox

sys.path.insert(0, str(Path(__file__).parent))
from pythons import VERSIONS, find_interpreters

ROOT = Path(__file__).resolve().parents[1]
FOUND = find_interpreters()
nox.options.error_on_missing_interpreters = False
nox.options.reuse_existing_virtualenvs = True


@nox.session(name="tests")
@nox.parametrize("python", [FOUND.get(v, f"python{v}") for v in VERSIONS], ids=list(VERSIONS))
def tests(session: nox.Session) -> None:
    session.install("-e", f"{ROOT}[test-core]")
    session.chdir(ROOT)
    args = ["python", "-m", "pytest", "-p", "no:cacheprovider", "-m", "not slow or matrix", *session.posargs]
    session.run(*args, env={"SLY_NB_TLS_NESTED": "1"})
