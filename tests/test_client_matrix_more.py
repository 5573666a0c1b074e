"""The clients beyond the core matrix, in a real IPython process, with the CA variables unset and preset.

Each row states what it must do before ``%sly_tls add``, after it and after ``%sly_tls
reset``: the clients that can be reached are reached, the limits behave exactly as the
README documents them, and a context pinned to another CA is never touched.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from sly_nb_tls.demo import DemoServer, Response, issue

from .helpers import SYSTEM_BUNDLE, controlled_env, grpc_echo

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


@pytest.mark.parametrize("preset", [False, True], ids=["ca-vars-unset", "ca-vars-preset"])
def test_more_clients_before_add_after_add_and_after_reset(preset: bool, tmp_path: Path) -> None:
    for module in ("boto3", "grpc", "httplib2", "tornado", "websockets"):
        pytest.importorskip(module)
    if preset and not os.path.exists(SYSTEM_BUNDLE):
        pytest.skip(f"{SYSTEM_BUNDLE} is missing")
    other_ca = tmp_path / "other-ca.pem"
    other_ca.write_text(issue("Someone Else's CA", ca=True).pem)
    responses = {
        "/": Response(200, LIST_BUCKETS, {"Content-Type": "application/xml"}),
        "/hello": Response(200, b"hello"),
    }
    with DemoServer(responses=responses) as server, websocket_echo(server) as ws_url, grpc_echo(server) as target:
        env = controlled_env(preset)
        env.update(
            MATRIX_URL=server.url,
            MATRIX_ROOT=server.root_path,
            MATRIX_WS_URL=ws_url,
            MATRIX_GRPC_TARGET=target,
            MATRIX_OTHER_CA=str(other_ca),
            MATRIX_TMP=str(tmp_path),
            SLY_NB_TLS_DIR=str(tmp_path / "userdir"),
            PYTHONPATH=str(HERE.parent),
            HOME=str(tmp_path),  # no user wgetrc/npmrc/gitconfig of the machine's
            npm_config_cache=str(tmp_path / "npm-cache"),
            GRPC_VERBOSITY="NONE",
        )
        proc = subprocess.run(
            [sys.executable, "-m", "IPython", "--quick", "--no-banner", "--colors=NoColor",
             str(HERE / "client_matrix_more.ipy")],
            env=env, capture_output=True, text=True, timeout=600, cwd=tmp_path,
        )  # fmt: skip
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("MATRIX-JSON ")]
    assert lines, f"no result\nstdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}"
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
    assert set(results["before add"]) == expected_rows
    failures = {
        row: [results[p][row] for p in phases]
        for row in expected_rows
        if tuple(results[p][row] for p in phases) != EXPECTED[row]
    }
    assert not failures, failures
    # status --clients named each library, and the reset said which live clients keep the extras
    for name in ("botocore", "httplib2", "grpc", "tornado", "websockets", "websocket-client"):
        assert name in results["status_text"], name
    assert "still trust the removed certificates" in results["reset_text"]
