"""Behaviour that differs by Python version, checked in real interpreters of each version present.

Python 3.13 turns on VERIFY_X509_STRICT: a private CA without key identifiers
is `strict_rejected` there, while 3.10–3.12 accept it and the report warns.
Versions not installed on the machine are skipped, visibly.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from .helpers import controlled_env
from .pythons import VERSIONS, find_interpreters, make_venv

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
INTERPRETERS = find_interpreters()
SCRIPT = """
import json, sly_nb_tls
from sly_nb_tls.demo import DemoPKI, DemoServer
with DemoServer(DemoPKI.create(strict_compliant=False)) as server:
    sly_nb_tls.add_certs(server.root_path)
    r = sly_nb_tls.test_connection(server.url)
    sly_nb_tls.reset()
print(json.dumps({"problem": r.problem, "ok": r.ok, "warnings": r.warnings, "cause": r.cause}))
"""


@pytest.fixture(scope="session")
def venvs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("venvs")


@pytest.mark.skipif(bool(os.environ.get("SLY_NB_TLS_NESTED")), reason="the top-level run checks every version")
@pytest.mark.parametrize("version", VERSIONS)
def test_strict_x509_verdict_by_version(version: str, venvs: Path, tmp_path: Path) -> None:
    if version not in INTERPRETERS:
        pytest.skip(f"Python {version} is not installed on this machine")
    python = make_venv(INTERPRETERS[version], venvs / version, ["cryptography", "certifi", "python-dotenv", "requests"])
    env = controlled_env(False) | {"PYTHONPATH": str(ROOT), "SLY_NB_TLS_DIR": str(tmp_path)}
    out = subprocess.run([python, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    # both name the exact defects of the CA certificates the server sends
    defects = ("basicConstraints is not marked critical", "a CA without a Subject Key Identifier")
    if version == "3.13":
        assert result["problem"] == "strict_rejected", result
        assert all(d in result["cause"] for d in defects), result["cause"]
    else:
        assert result["ok"] is True, result
        assert any("Python 3.13+ will reject this chain" in w for w in result["warnings"]), result
        assert all(any(d in w for w in result["warnings"]) for d in defects), result["warnings"]
