"""The client matrix: every HTTPS client, created before the fix, in a real IPython process.

Each client must fail certificate verification against the demo server before
``%sly_tls add root.pem``, succeed after it, and — created anew after
``%sly_tls reset`` — fail again.  Run with the CA variables unset and preset.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sly_nb_tls._pem import certificate_blocks as pem_blocks
from sly_nb_tls.demo import DemoServer

from .helpers import SYSTEM_BUNDLE, controlled_env, expected_base, has_tool

pytestmark = [pytest.mark.slow, pytest.mark.matrix]
HERE = Path(__file__).parent
# Rows the matrix must contain; the SDK rows need the `sdk` extra.
CORE_ROWS = [
    "requests.get",
    "requests.Session",
    "urllib.request.urlopen",
    "http.client.HTTPSConnection",
    "urllib3.PoolManager made before",
    "urllib3.PoolManager made after",
    "httpx.get",
    "httpx.Client made before",
    "httpx.Client made after",
    "aiohttp.ClientSession made before",
    "aiohttp.ClientSession made after",
    "curl subprocess",
    "child python: requests",
    "child python: urllib",
]
SDK_ROWS = ["supervisely Api made before", "supervisely Api made after"]
#: Live contexts updated in place keep the extras after reset (OpenSSL cannot remove
#: a certificate from a context); `reset` reports them.  Every other row fails again.
KEEPS_TRUST_AFTER_RESET = {"httpx.Client made before"}


def _print_matrix(results: dict[str, dict[str, str]], title: str) -> None:
    phases = ["before add", "after add", "after reset"]
    width = max(len(r) for r in results["before add"])
    print(f"\nclient matrix ({title})")
    print(f"{'client':<{width}}  " + "  ".join(f"{p:<12}" for p in phases))
    for row in results["before add"]:
        print(f"{row:<{width}}  " + "  ".join(f"{results[p][row][:12]:<12}" for p in phases))


@pytest.mark.skipif(not has_tool("curl"), reason="curl is not installed")
@pytest.mark.parametrize("rows", ["core", "sdk"])
@pytest.mark.parametrize("preset", [False, True], ids=["ca-vars-unset", "ca-vars-preset"])
def test_every_client_fails_before_add_works_after_and_fails_again_after_reset(
    preset: bool, rows: str, tmp_path: Path
) -> None:
    if preset and not os.path.exists(SYSTEM_BUNDLE):
        pytest.skip(f"{SYSTEM_BUNDLE} is missing")
    if rows == "sdk" and importlib.util.find_spec("supervisely") is None:
        pytest.skip("the Supervisely SDK is not installed (the `sdk` extra): its rows of the matrix did not run")
    with DemoServer() as server:
        demo_root = {sha for sha, _ in pem_blocks(Path(server.root_path).read_bytes())}
        env = controlled_env(preset)
        env.update(
            MATRIX_URL=server.url,
            MATRIX_ROOT=server.root_path,
            SLY_NB_TLS_DIR=str(tmp_path / "userdir"),
            PYTHONPATH=str(HERE.parent),
            MATRIX_ROWS=rows,
        )
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "IPython",
                "--quick",
                "--no-banner",
                "--colors=NoColor",
                str(HERE / "client_matrix.ipy"),
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            cwd=tmp_path,
        )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("MATRIX-JSON ")]
    assert lines, (
        f"the IPython session printed no result\nstdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}"
    )
    results = json.loads(lines[-1].removeprefix("MATRIX-JSON "))
    _print_matrix(results, "CA variables preset" if preset else "CA variables unset")

    expected = SDK_ROWS if rows == "sdk" else CORE_ROWS
    assert sorted(results["before add"]) == sorted(expected)
    for row in expected:
        assert results["before add"][row] == "cert-fail", row
        assert results["after add"][row] == "ok", row
        after_reset = results["after reset"][row]
        if row in KEEPS_TRUST_AFTER_RESET:
            assert after_reset == "ok", row
        else:
            assert after_reset == "cert-fail", row
    if rows == "core":  # the httpx client made before add was given the extras in place
        assert "live client context(s) still trust the removed certificates" in results["reset_text"]

    # reset put the environment back exactly
    env_after = results["env_after_reset"]
    for var in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "CURL_CA_BUNDLE", "SSL_CERT_DIR", "SLY_EXTRA_CA_CERTS"):
        assert env_after[var] == env.get(var), var

    # each variable's file holds exactly its own client's previous roots plus the root: public roots
    # stay trusted, and no client gains another client's roots
    for var, held in results["files"].items():
        base = expected_base(var, env)
        if base is None:
            assert held is None or env.get(var) is not None, f"{var} should have been left alone"
            continue
        assert isinstance(held, list), (var, held)
        assert set(held) == base | demo_root, f"{var}: not exactly its readers' previous roots plus the root"
