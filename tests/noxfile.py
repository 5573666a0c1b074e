"""The suite on every CPython 3.10–3.13 found on this machine: ``nox -f tests/noxfile.py``.

In [1]: !.venv/bin/nox -f tests/noxfile.py --list
* tests(python='3.10')
* tests(python='3.12') ...

Interpreters are looked up in pyenv and on PATH (tests/pythons.py); a version
that is missing is skipped with a note, never an error.  Each session installs
the package with its lean `test-core` extra (not the 860 MB SDK, not JupyterLab
or the browser driver, which the main run covers) and runs what differs between
Python versions (`VERSION_SENSITIVE`): their quick tests, plus the client matrix.  The
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
#: What can differ between Python versions: ssl and its hooks (3.12's urllib opener, 3.13's
#: strict flags), the clients and their matrix, X.509 and URL parsing, tokenize (config
#: encodings), the secrets' regexes, IPython's magics.  Packaging, lint, notebooks, the CLI's
#: wording and env files are checked once, by the main run (which also runs these).
VERSION_SENSITIVE = [
    f"tests/{name}.py"
    for name in ("test_trust", "test_every_client", "test_client_matrix", "test_client_matrix_more", "test_certs",
                 "test_diagnose", "test_complete", "test_hardening", "test_hardening_v3", "test_install_hardening",
                 "test_secrets", "test_bad_input", "test_magic", "test_proxy", "test_model",
                 "test_equivalent_anchors")
]  # fmt: skip
nox.options.error_on_missing_interpreters = False
nox.options.reuse_existing_virtualenvs = True


@nox.session(name="tests")
@nox.parametrize("python", [FOUND.get(v, f"python{v}") for v in VERSIONS], ids=list(VERSIONS))
def tests(session: nox.Session) -> None:
    session.install("-e", f"{ROOT}[test-core]")
    session.chdir(ROOT)
    args = ["python", "-m", "pytest", "-p", "no:cacheprovider", "-m", "not slow or matrix", *session.posargs]
    if not session.posargs:
        args += VERSION_SENSITIVE
    session.run(*args, env={"SLY_NB_TLS_NESTED": "1"})
