"""The suite on every CPython 3.10–3.13 found on this machine: ``nox -f tests/noxfile.py``.

In [1]: !.venv/bin/nox -f tests/noxfile.py --list
* tests(python='3.10')
* tests(python='3.12') ...

Interpreters are looked up in pyenv and on PATH (tests/pythons.py); a version
that is missing is skipped with a note, never an error.  Each session installs
the package with its test extra (not the 860 MB SDK, which the main run covers)
and runs everything but the real-browser test.
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
    session.install("-e", f"{ROOT}[test]")
    session.chdir(ROOT)
    args = ["python", "-m", "pytest", "-p", "no:cacheprovider", "-m", "not browser", *session.posargs]
    session.run(*args, env={"SLY_NB_TLS_NESTED": "1"})
