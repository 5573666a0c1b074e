"""The clients beyond the core matrix, in a real IPython process, with the CA variables unset and preset.

Each row states what it must do before ``%sly_tls add``, after it and after ``%sly_tls
reset``: the clients that can be reached are reached, the limits behave exactly as the
README documents them, and a context pinned to another CA is never touched.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest

from sly_nb_tls.demo import DemoServer, Response, issue

from .helpers import (
    CA_VARIABLES,
    MATRIX_CSV,
    SYSTEM_BUNDLE,
    controlled_env,
    grpc_echo,
    handshake_witness,
    private_index,
    ranged_file,
)

pytestmark = pytest.mark.slow
HERE = Path(__file__).parent
CF, OK = "cert-fail", "ok"
#: row -> (before add, after add, after reset)
EXPECTED = {
    # live objects made before add: repointed or given the extras in place
    "boto3 client made before": (CF, OK, OK),  # its shared context took the extras; reset says so
    "boto3 client made after": (CF, OK, CF),
    "urllib3 ssl_context= made before": (CF, OK, OK),  # a default-store context, updated in place
    "asyncio ssl= context made before": (CF, OK, OK),
    "websockets, context made before": (CF, OK, OK),
    "websockets, default context": (CF, OK, CF),
    "websocket-client": (CF, OK, CF),  # its variable (preset mode) repointed and put back; else the hooks
    "httplib2.Http": (CF, OK, CF),  # httplib2.CA_CERTS repointed, and put back
    "tornado AsyncHTTPClient": (CF, OK, CF),  # its cached context dropped at add and at reset
    "httpx2 client made before": (CF, OK, OK),
    "httpx2 client made after": (CF, OK, CF),
    # never widened: a context pinned to another CA is left alone
    "a context pinned to another CA": (CF, CF, CF),
    # children read the variables at start
    "child python: grpc": (CF, OK, CF),
    "child python: httplib2": (CF, OK, CF),
    "pool made now": (CF, OK, CF),
    "git ls-remote": (CF, OK, CF),
    "node https.get": (CF, OK, CF),
    "node fetch()": (CF, OK, CF),
    "npm ping": (CF, OK, CF),
    "wget": (CF, OK, CF),
    "pip download": (CF, OK, CF),
    # gRPC read its process-wide roots before add; ssl_channel_credentials() without roots is wrapped
    "grpc in process (roots read before add)": (CF, OK, CF),
    # the native clients (Rust: uv, polars; C++: pyarrow) read SSL_CERT_FILE, never Python's ssl
    "uv pip install, private index": (CF, OK, CF),  # a child: SSL_CERT_FILE (and SSL_CERT_DIR) at start
    "child python: polars https": (CF, OK, CF),
    "child python: pyarrow.fs S3": (CF, OK, CF),
    # its client for an origin (and storage_options) is built at the first read; these are judged on the wire
    "polars https, origin new in each phase": (CF, OK, CF),
    "polars s3://, store made now": (CF, OK, CF),  # new storage_options: a new store
    # an S3 store is rebuilt after an error: the rebuilt one read SSL_CERT_FILE after add, and keeps it past reset
    "polars s3://, store made before add": (CF, OK, OK),
    "fsspec https (aiohttp), made before add": (CF, OK, CF),  # aiohttp's default context, swapped and back
    # the limits: roots read once, before add
    "polars https, origin read before add": (CF, CF, CF),  # one client per origin, kept even after its read failed
    "pyarrow.fs S3, loaded before add": (CF, CF, CF),  # SSL_CERT_FILE read once, when pyarrow.fs loaded
    # the documented limits: processes that existed before add
    "pool worker started before add": (CF, CF, CF),
    "forkserver started before add": (CF, CF, CF),
    "subprocess with env copied before add": (CF, CF, CF),
}
LIST_BUCKETS = (
    b'<?xml version="1.0" encoding="UTF-8"?><ListAllMyBucketsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
    b"<Owner><ID>matrix</ID><DisplayName>matrix</DisplayName></Owner><Buckets><Bucket><Name>matrix-bucket</Name>"
    b"<CreationDate>2026-01-01T00:00:00.000Z</CreationDate></Bucket></Buckets></ListAllMyBucketsResult>"
)


@contextmanager
def websocket_echo(server: DemoServer) -> Iterator[str]:
    from websockets.sync.server import serve

    def echo(ws: object) -> None:
        for message in ws:  # type: ignore[attr-defined]
            ws.send(message)  # type: ignore[attr-defined]

    # A generous opening handshake: on a loaded machine the default 10 s closed connections early.
    with serve(echo, "127.0.0.1", 0, ssl=server._context, open_timeout=60) as ws_server:
        thread = threading.Thread(target=ws_server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"wss://127.0.0.1:{ws_server.socket.getsockname()[1]}"
        finally:
            ws_server.shutdown()


#: the native clients' rows, and what must be installed for each to be in the matrix
NATIVE = {"polars": ("polars https, origin read before add", "polars https, origin new in each phase",
                     "child python: polars https", "polars s3://, store made before add",
                     "polars s3://, store made now"),
          "pyarrow": ("pyarrow.fs S3, loaded before add", "child python: pyarrow.fs S3"),
          "fsspec": ("fsspec https (aiohttp), made before add",),
          "uv": ("uv pip install, private index",)}  # fmt: skip


#: polars' https:// origins, each on a server that logs its handshakes (helpers.handshake_witness): four read
#: before add (the two whose reads end first are read again later), and a new origin per phase for a read
#: here and one in a child
POLARS_ORIGINS = (
    *(f"read before add {n}" for n in range(4)),
    *(f"{who} {n}" for who in ("new", "child") for n in range(3)),
)


def _servers(stack: ExitStack, work: Path) -> dict[str, str]:
    """One mode's loopback servers (each mode its own, as when the modes ran one after the other)."""
    responses: dict[str, Response | Callable[[Any], Response]] = {
        "/": Response(200, LIST_BUCKETS, {"Content-Type": "application/xml"}),
        "/hello": Response(200, b"hello"),
        # the native clients: a CSV over https:// and as an S3 object, and a private package index
        "/data.csv": ranged_file(MATRIX_CSV),
        "/matrix-bucket/data.csv": ranged_file(MATRIX_CSV),
        **private_index(),
    }
    server = stack.enter_context(DemoServer(responses=responses))
    witness = {}
    for i, origin in enumerate(POLARS_ORIGINS):
        log = work / f"handshakes-{i}.log"
        witness[origin] = [stack.enter_context(handshake_witness(server, log)), str(log)]
    return {
        "MATRIX_URL": server.url,
        "MATRIX_ROOT": server.root_path,
        "MATRIX_WS_URL": stack.enter_context(websocket_echo(server)),
        "MATRIX_GRPC_TARGET": stack.enter_context(grpc_echo(server)),
        "MATRIX_WITNESS": json.dumps(witness),
    }


def _run_both_modes(tmp: Path, modes: list[bool]) -> dict[bool, tuple[str, str]]:
    """Both modes side by side, in a real IPython each: the reads polars makes before add take 7-23 s."""
    other_ca = tmp / "other-ca.pem"
    other_ca.write_text(issue("Someone Else's CA", ca=True).pem)
    with ExitStack() as stack:
        procs = {}
        for preset in modes:
            work = tmp / ("preset" if preset else "unset")
            work.mkdir()
            env = controlled_env(preset)
            env.update(
                _servers(stack, work),
                MATRIX_OTHER_CA=str(other_ca),
                MATRIX_TMP=str(work),
                SLY_NB_TLS_DIR=str(work / "userdir"),
                PYTHONPATH=str(HERE.parent),
                HOME=str(work),  # no user wgetrc/npmrc/gitconfig of the machine's
                npm_config_cache=str(work / "npm-cache"),
                GRPC_VERBOSITY="NONE",
                # A polars read left retrying (judged on the wire) holds one of its pool's threads, one per core
                # by default: later reads would queue behind it.  The pool's size has no part in what it trusts.
                POLARS_MAX_THREADS="16",
            )
            # files, not pipes: two processes writing pipes read one after the other could fill one and stall
            out = stack.enter_context((work / "stdout").open("w"))
            err = stack.enter_context((work / "stderr").open("w"))
            procs[preset] = subprocess.Popen(
                [sys.executable, "-m", "IPython", "--quick", "--no-banner", "--colors=NoColor",
                 str(HERE / "client_matrix_more.ipy")],
                env=env, stdout=out, stderr=err, text=True, cwd=work,
            )  # fmt: skip
        for proc in procs.values():
            try:
                proc.wait(600)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    return {preset: ((tmp / d / "stdout").read_text(), (tmp / d / "stderr").read_text())
            for preset, d in ((m, "preset" if m else "unset") for m in modes)}  # fmt: skip


@pytest.fixture(scope="module")
def matrix_output(tmp_path_factory: pytest.TempPathFactory) -> dict[bool, tuple[str, str]]:
    # Looked up, not imported: this runs before conftest's _clean_state, and httplib2 (for one) would
    # read the machine's HTTPLIB2_CA_CERTS at import, for every later test in this process.
    for module in ("boto3", "grpc", "httplib2", "tornado", "websockets"):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed")
    modes = [False] + ([True] if os.path.exists(SYSTEM_BUNDLE) else [])
    with pytest.MonkeyPatch.context() as env:
        for var in CA_VARIABLES:  # the servers here (gRPC's among them) start as under any test
            env.delenv(var, raising=False)
        return _run_both_modes(tmp_path_factory.mktemp("matrix-more"), modes)


@pytest.mark.parametrize("preset", [False, True], ids=["ca-vars-unset", "ca-vars-preset"])
def test_more_clients_before_add_after_add_and_after_reset(
    preset: bool, matrix_output: dict[bool, tuple[str, str]]
) -> None:
    if preset not in matrix_output:
        pytest.skip(f"{SYSTEM_BUNDLE} is missing")
    stdout, stderr = matrix_output[preset]
    lines = [ln for ln in stdout.splitlines() if ln.startswith("MATRIX-JSON ")]
    assert lines, f"no result\nstdout:\n{stdout[-3000:]}\nstderr:\n{stderr[-3000:]}"
    results = json.loads(lines[-1].removeprefix("MATRIX-JSON "))
    phases = ("before add", "after add", "after reset")
    print(f"\nmore clients ({'CA variables preset' if preset else 'CA variables unset'})")
    for row in results["before add"]:
        print(f"  {row:<42}" + "  ".join(f"{results[p][row][:60]:<12}" for p in phases))

    expected_rows = {r for r in EXPECTED if r in results["before add"]}
    missing_tools = {"git ls-remote": "git", "node https.get": "node", "node fetch()": "node", "npm ping": "npm",
                     "wget": "wget"}  # fmt: skip
    for row, tool in missing_tools.items():
        if shutil.which(tool):
            assert row in expected_rows, row
    for package, native_rows in NATIVE.items():
        if importlib.util.find_spec(package) is not None:
            assert set(native_rows) <= expected_rows, package
    assert set(results["before add"]) == expected_rows
    failures = {
        row: [results[p][row] for p in phases]
        for row in expected_rows
        if tuple(results[p][row] for p in phases) != EXPECTED[row]
    }
    assert not failures, failures
    # the second origin polars read before add (the after-reset cell reads it) failed there as the first did
    if importlib.util.find_spec("polars") is not None:
        assert results["polars, second origin read before add"] == CF
        # it asked for no retries (max_retries 0, retry_timeout_ms 100): polars retried as it always does
        assert "max_retries: 10" in results["polars, error of a read before add"]
    # status --clients named each library, and the reset said which live clients keep the extras
    named = ["botocore", "httplib2", "grpc", "tornado", "websockets"]
    named += [row for package, row in (("websocket", "websocket-client"), ("polars", "polars"),
                                       ("pyarrow", "pyarrow.fs S3"), ("uv", "uv (child)"))
              if importlib.util.find_spec(package) is not None]  # fmt: skip
    for name in named:
        assert name in results["status_text"], name
    assert "still trust the removed certificates" in results["reset_text"]
