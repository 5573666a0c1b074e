"""uv, polars and pyarrow: their rows in `status --clients`, nothing of theirs imported by `add`,
and what their clients keep across `add` and `reset`, with real handshakes against the demo server.

Their rows before `add`, after it and after `reset`, in this process and in children, are the
client matrix's (tests/client_matrix_more.ipy); these are the rules the matrix cannot show:
which module a status row looks at, and what a client built after `add` does at `reset`.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import sly_nb_tls
from sly_nb_tls.clients.base import ClientTrust
from sly_nb_tls.demo import DemoServer, Response

from .helpers import MATRIX_CSV, controlled_env, handshake_witness, has_tool, ranged_file

ROOT = Path(__file__).resolve().parents[1]
#: package -> its row in status --clients
ROWS = {"polars": "polars", "pyarrow": "pyarrow.fs S3", "uv": "uv (child)"}


def _installed(package: str) -> bool:
    """Installed here, found without importing it (pyarrow's row depends on what is imported)."""
    return importlib.util.find_spec(package) is not None or (package == "uv" and shutil.which("uv") is not None)


def _rows() -> dict[str, ClientTrust]:
    return {row.client: row for row in sly_nb_tls.status(clients=True).clients}


@pytest.fixture(scope="module")
def csv_server() -> Iterator[DemoServer]:
    """The demo server with a CSV (https://) and the same bytes as an S3 object, both answering ranges."""
    answer = ranged_file(MATRIX_CSV)
    responses: dict[str, Response | Callable[[Any], Response]] = {
        "/data.csv": answer,
        "/matrix-bucket/data.csv": answer,
    }
    with DemoServer(responses=responses) as server:
        yield server


@pytest.mark.parametrize("package", sorted(ROWS))
def test_each_native_client_has_a_row_that_follows_add_and_reset(
    package: str, ca_env: bool, csv_server: DemoServer
) -> None:
    if not _installed(package):
        pytest.skip(f"{package} is not installed")
    client = ROWS[package]
    before = _rows()[client]
    assert before.sees_extras is False, before
    assert ("names a file of its own" if ca_env else "nothing added") in before.why, before
    sly_nb_tls.add_certs(csv_server.root_path)
    after = _rows()[client]
    assert os.path.basename(os.environ["SSL_CERT_FILE"]) in after.trust, after
    if package == "pyarrow" and "pyarrow._fs" in sys.modules:
        # its filesystems loaded in this process before: which roots it holds cannot be seen from here
        assert after.sees_extras is None and "restart the kernel" in after.why, after
    else:
        assert after.sees_extras is True, after
    sly_nb_tls.reset()
    assert _rows()[client].sees_extras is False


def _run(code: str, env: dict[str, str]) -> str:
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env,
                         timeout=120, cwd=ROOT)  # fmt: skip
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    return out.stdout


def _child_env(preset: bool, tmp_path: Path, server: DemoServer) -> dict[str, str]:
    env = controlled_env(preset)
    env.update(SLY_NB_TLS_DIR=str(tmp_path / "userdir"), MATRIX_URL=server.url, MATRIX_ROOT=server.root_path,
               XDG_STATE_HOME=str(tmp_path / "state"), PYTHONPATH=str(ROOT))  # fmt: skip
    return env


def test_add_and_status_import_none_of_them(csv_server: DemoServer, tmp_path: Path) -> None:
    """Families are discovered at every add (kernel start included): their rows look, never import."""
    code = """
        import os, sys
        import sly_nb_tls
        sly_nb_tls.add_certs(os.environ["MATRIX_ROOT"])
        rows = {r.client for r in sly_nb_tls.status(clients=True).clients}
        print("ROWS", sorted(rows & {"polars", "pyarrow.fs S3", "uv (child)"}))
        print("IMPORTED", sorted({m.split(".")[0] for m in sys.modules} & {"polars", "pyarrow", "uv", "fsspec"}))
    """
    out = _run(code, _child_env(False, tmp_path, csv_server))
    installed = sorted(row for package, row in ROWS.items() if _installed(package))
    assert f"ROWS {installed}" in out, out
    assert "IMPORTED []" in out, out


#: a child's read of the S3 object through a new pyarrow filesystem: "ok" or "cert-fail"
PYARROW_READ = """
    def read(**ca):
        import pyarrow.fs as pafs
        fs = pafs.S3FileSystem(endpoint_override=url.removeprefix("https://"), scheme="https", access_key="m",
                               secret_key="m", region="us-east-1",
                               retry_strategy=pafs.AwsStandardS3RetryStrategy(max_attempts=1), **ca)
        try:
            with fs.open_input_stream("matrix-bucket/data.csv") as f:
                return "ok" if f.read().endswith(b"hello\\n") else "?"
        except OSError as e:
            return "cert-fail" if "unable to get local issuer certificate" in str(e) else f"error: {e}"
"""

#: pyarrow, its filesystems loaded after add: the path it holds is our bundle's, which add, remove and
#: reset rewrite in place, so it follows each of them (a filesystem is made for each read)
PYARROW_AFTER_ADD = (
    """
    import os, sys, sly_nb_tls
    url = os.environ["MATRIX_URL"]
    import pyarrow  # loads no filesystem: pyarrow has read nothing yet
    print("import pyarrow loads pyarrow._fs:", "pyarrow._fs" in sys.modules)
    sly_nb_tls.add_certs(os.environ["MATRIX_ROOT"])
    import pyarrow.parquet
    print("import pyarrow.parquet loads pyarrow._fs:", "pyarrow._fs" in sys.modules)
"""
    + PYARROW_READ
    + """
    print("after add", read())
    rows = {r.client: r for r in sly_nb_tls.status(clients=True).clients}
    print("row", rows["pyarrow.fs S3"].sees_extras)
    sly_nb_tls.reset()
    print("after reset", read())
    sly_nb_tls.add_certs(os.environ["MATRIX_ROOT"])
    print("after a second add", read())
"""
)

#: pyarrow, its filesystems loaded before add: they keep the old roots, and a filesystem given the
#: bundle's path (tls_ca_file_path) reaches the server: the way out the status row names
PYARROW_BEFORE_ADD = (
    """
    import os, sly_nb_tls
    import pyarrow.fs
    url = os.environ["MATRIX_URL"]
    sly_nb_tls.add_certs(os.environ["MATRIX_ROOT"])
"""
    + PYARROW_READ
    + """
    print("default", read())
    print("tls_ca_file_path", read(tls_ca_file_path=os.environ["SSL_CERT_FILE"]))
"""
)


@pytest.mark.slow  # a child with pyarrow per mode, ~1 s each: the full run has it
@pytest.mark.parametrize("preset", [False, True], ids=["ca-vars-unset", "ca-vars-preset"])
def test_pyarrow_loaded_after_add_follows_the_bundle(preset: bool, csv_server: DemoServer, tmp_path: Path) -> None:
    if not _installed("pyarrow"):
        pytest.skip("pyarrow is not installed")
    out = _run(PYARROW_AFTER_ADD, _child_env(preset, tmp_path, csv_server))
    lines = out.splitlines()
    assert lines == ["import pyarrow loads pyarrow._fs: False", "import pyarrow.parquet loads pyarrow._fs: True",
                     "after add ok", "row None", "after reset cert-fail", "after a second add ok"], out  # fmt: skip


@pytest.mark.slow  # a child with pyarrow, ~1 s: the full run has it
def test_pyarrow_loaded_before_add_reaches_the_server_given_the_bundle_path(
    csv_server: DemoServer, tmp_path: Path
) -> None:
    if not _installed("pyarrow"):
        pytest.skip("pyarrow is not installed")
    out = _run(PYARROW_BEFORE_ADD, _child_env(False, tmp_path, csv_server))
    assert out.splitlines() == ["default cert-fail", "tls_ca_file_path ok"], out


#: polars, an https:// origin first read after add: its client keeps the extras past reset, as a
#: requests session made after add does; other storage_options for the same origin build another client,
#: which reads SSL_CERT_FILE as it is then (the file cache is off: every read goes to the server)
POLARS_PAST_RESET = """
    import os, sys, sly_nb_tls
    import polars as pl
    url = os.environ["MATRIX_URL"] + "/data.csv"
    sly_nb_tls.add_certs(os.environ["MATRIX_ROOT"])
    print("after add", pl.read_csv(url, storage_options={"file_cache_ttl": 0})["b"][0], flush=True)
    sly_nb_tls.reset()
    print("SSL_CERT_FILE", os.environ.get("SSL_CERT_FILE"), flush=True)
    print("after reset", pl.read_csv(url, storage_options={"file_cache_ttl": 0})["b"][0], flush=True)
    pl.read_csv(url, storage_options={"file_cache_ttl": 0, "max_retries": 3})  # a new client: it fails
"""


@pytest.mark.slow  # polars reads, ~1 s: the full run has it
def test_a_polars_client_is_kept_per_origin_and_storage_options(tmp_path: Path) -> None:
    """Built after add, it keeps the extras past reset; other storage_options get a new client."""
    if not _installed("polars"):
        pytest.skip("polars is not installed")
    log, served = tmp_path / "handshakes.log", []
    with DemoServer() as server, handshake_witness(server, log, requests=served) as origin:
        env = _child_env(False, tmp_path, server)
        env["MATRIX_URL"] = origin
        with subprocess.Popen([sys.executable, "-c", textwrap.dedent(POLARS_PAST_RESET)], env=env, cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as child:  # fmt: skip
            # the third read fails, and polars retries it for 8-25 s: its first rejected handshake is the verdict
            deadline = time.monotonic() + 60
            while child.poll() is None and time.monotonic() < deadline and "ALERT" not in log.read_text():
                time.sleep(0.05)
            child.kill()
            out, err = child.communicate()
    assert "after add hello" in out and "SSL_CERT_FILE None" in out and "after reset hello" in out, out + err
    # the read after reset reached the server (two GETs), through the client built after add: no handshake
    # was refused until the third read, whose client is new
    assert len([r for r in served if r.startswith("GET")]) >= 2, served
    outcomes = log.read_text().split()
    assert "TLSV1_ALERT_UNKNOWN_CA" in outcomes, outcomes
    assert set(outcomes[: outcomes.index("TLSV1_ALERT_UNKNOWN_CA")]) == {"ok"}, outcomes


def _clients(report: Any) -> dict[str, str]:
    """The native clients' rows of `test --clients` (and the child JVM's): name -> "ok" or the problem."""
    return {c.client: c.problem or "ok" for c in report.clients if c.client in (*ATTEMPTS.values(), JAVA)}


#: package -> its row in `test --clients`
ATTEMPTS = {"polars": "polars", "pyarrow": "pyarrow.fs S3", "uv": "uv"}
#: the child JVM's row (clients/java.py): a client with a TLS stack of its own too, checked along
JAVA = "java (child JVM)"


@pytest.mark.slow  # uv and pyarrow children in each of three checks, ~6 s: the full run has it
def test_test_clients_has_each_native_client_and_follows_add_and_reset(ca_env: bool, demo_server: DemoServer) -> None:
    installed = {row for package, row in ATTEMPTS.items() if importlib.util.find_spec(package) is not None}
    installed |= {JAVA} if shutil.which("java") else set()
    if not installed:
        pytest.skip("none of uv, polars, pyarrow, java is installed")
    loaded = "pyarrow._fs" in sys.modules
    results = []
    for step in ("before add", "after add", "after reset"):
        if step == "after add":
            sly_nb_tls.add_certs(demo_server.root_path)
        elif step == "after reset":
            sly_nb_tls.reset()
        report = sly_nb_tls.test_connection(demo_server.url, clients=True, timeout=20)
        results.append(_clients(report))
        if step == "before add" and JAVA in installed:  # the JVM's own words, not only its code
            assert "PKIX path building failed" in next(c.detail for c in report.clients if c.client == JAVA)
    assert results == [dict.fromkeys(installed, "untrusted_root"), dict.fromkeys(installed, "ok"),
                       dict.fromkeys(installed, "untrusted_root")]  # fmt: skip
    # pyarrow's attempt ran in a child: loading pyarrow.fs here would have fixed this process's roots
    assert ("pyarrow._fs" in sys.modules) == loaded


#: a child's `test --clients` rows for the native clients, as JSON
CHILD_TEST = """
    import json, os, sly_nb_tls
    report = sly_nb_tls.test_connection(os.environ["MATRIX_URL"], clients=True, timeout=20)
    print(json.dumps({c.client: c.problem or "ok" for c in report.clients}))
"""


@pytest.mark.slow  # three children, about 1 s each: -m 'not slow' stays under a minute
@pytest.mark.parametrize("variable", ["AWS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_DIR"])
def test_none_reads_aws_or_curl_ca_bundle_and_each_reads_ssl_cert_dir(
    variable: str, demo_server: DemoServer, tmp_path: Path
) -> None:
    """The only variable set names the demo root: none trusts it through AWS_CA_BUNDLE or CURL_CA_BUNDLE (pyarrow's
    S3 runs on curl), each through SSL_CERT_DIR."""
    installed = {row for package, row in ATTEMPTS.items() if importlib.util.find_spec(package) is not None}
    if not installed:
        pytest.skip("none of uv, polars, pyarrow is installed")
    env = _child_env(False, tmp_path, demo_server)
    if variable == "SSL_CERT_DIR":
        if not has_tool("openssl"):
            pytest.skip("openssl is not on PATH (OpenSSL looks certificates up by subject hash)")
        certs = tmp_path / "certs"
        certs.mkdir()
        shutil.copy(demo_server.root_path, certs / "root.pem")
        subprocess.run(["openssl", "rehash", str(certs)], check=True, capture_output=True)
        env["SSL_CERT_DIR"] = str(certs)
    else:
        env[variable] = demo_server.root_path
    rows = json.loads(_run(CHILD_TEST, env).strip().splitlines()[-1])
    expected = "ok" if variable == "SSL_CERT_DIR" else "untrusted_root"
    assert {row: rows.get(row) for row in installed} == dict.fromkeys(installed, expected), rows
