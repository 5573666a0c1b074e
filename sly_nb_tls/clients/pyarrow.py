"""pyarrow's S3 filesystem (C++: the AWS SDK over curl and OpenSSL): the SSL_CERT_FILE path, read once per process.

What it reads, and when (pyarrow 26, against the demo server playing S3, in this process and
in children; shown by the client matrix and tests/test_native_clients.py unless marked):

- The path SSL_CERT_FILE names is read once, when ``pyarrow._fs`` loads (``import pyarrow.fs``
  or ``pyarrow.parquet``; a plain ``import pyarrow`` does not load it), and kept for the life
  of the process; a later SSL_CERT_FILE is never read.  SSL_CERT_DIR is honoured too; with
  neither set, the system's CA file (not measured: no root in it is ours).  AWS_CA_BUNDLE and
  CURL_CA_BUNDLE are never read.  The file itself is read at each new connection.
- So a kernel that loaded pyarrow.fs before `add` keeps its roots until it restarts, or until a
  filesystem is made with ``tls_ca_file_path=os.environ["SSL_CERT_FILE"]``; one that loads it
  after `add` holds our bundle's path and follows every later add, remove and reset, which
  rewrite that file in place.  Children started after `add` get the extras.
- pyarrow has no HTTPS filesystem of its own: https:// goes through fsspec (aiohttp, Python's
  ssl: the hooks reach it).  GCS and Azure are not measured.

`test --clients` asks the server for one S3 object's information (any answer means a verified
connection): in this process when pyarrow.fs is loaded here, else in a child, since loading it
here would fix the kernel's roots for its life.
"""

from __future__ import annotations

import json
import re
import socket
import ssl
import subprocess
import sys
from urllib.parse import urlsplit

from .base import Answer, Attempt, ClientTrust, Family, KnownFailure, Request, TrustView, by_variable, importable

__all__ = ["FAMILY", "probe"]

_CLIENT = "pyarrow.fs S3"
#: the module whose load makes pyarrow read SSL_CERT_FILE (pyarrow.fs, .parquet, .dataset import it)
_LOADS_ROOTS = "pyarrow._fs"
_PROBE = "sly-nb-tls-test/probe.csv"
#: what a child runs: `probe` on the endpoint, its outcome as one JSON line
_CHILD = "import json, sys; from sly_nb_tls.clients.pyarrow import probe; print(json.dumps(probe(*sys.argv[1:])))"


def _rows(view: TrustView) -> list[ClientTrust]:
    if not importable("pyarrow"):
        return []
    row = by_variable(_CLIENT, view, "SSL_CERT_FILE", default="the system's CA file")
    if not row.sees_extras:
        return [row]
    if _LOADS_ROOTS in sys.modules:
        # Which path pyarrow holds is not visible from Python: ours if it loaded after add.
        why = (
            "it reads it once: loaded before add, it keeps its roots (restart the kernel, or pass "
            "S3FileSystem(tls_ca_file_path=os.environ['SSL_CERT_FILE'])); children get them"
        )
        return [ClientTrust(_CLIENT, "SSL_CERT_FILE as it was when pyarrow.fs loaded here", None, why)]
    return [ClientTrust(_CLIENT, row.trust, True, "read once, when pyarrow.fs first loads (here or in a child)")]


def probe(scheme: str, endpoint: str, seconds: str) -> dict[str, object]:
    """One HeadObject on `endpoint` as pyarrow's S3 filesystem: {"status": n} (0: not told) or {"error": text}."""
    import pyarrow.fs as pafs  # type: ignore[import-untyped]  # pyarrow ships no type information

    timeout = float(seconds)
    fs = pafs.S3FileSystem(
        endpoint_override=endpoint, scheme=scheme, access_key="sly-nb-tls-test", secret_key="sly-nb-tls-test",
        region="us-east-1", connect_timeout=timeout, request_timeout=timeout,
        retry_strategy=pafs.AwsStandardS3RetryStrategy(max_attempts=1),
    )  # fmt: skip
    try:
        info = fs.get_file_info(_PROBE)
    except OSError as exc:
        return {"error": str(exc)}
    return {"status": 404 if info.type == pafs.FileType.NotFound else 200}


#: curl's exit codes (man curl) in the AWS SDK's message -> the exception Python would raise
_CURL = {6: socket.gaierror, 7: ConnectionRefusedError, 28: TimeoutError, 35: ssl.SSLError}


def _outcome(result: dict[str, object]) -> Answer:
    error = str(result.get("error", ""))
    if not error:
        return Answer(int(str(result.get("status", 0))))
    verify = re.search(r"verify result: (.*?) \((\d+)\)", error)
    if verify:
        failed = ssl.SSLCertVerificationError(1, f"certificate verify failed: {verify.group(1)}")
        failed.verify_code, failed.verify_message = int(verify.group(2)), verify.group(1)
        raise failed
    curl = re.search(r"curlCode: (\d+)", error)
    if curl and int(curl.group(1)) in _CURL:
        raise _CURL[int(curl.group(1))](error[-300:])
    if "NETWORK_CONNECTION" in error:
        raise KnownFailure("http_error", error[-300:])
    status = re.search(r"HTTP response code:? (\d{3})", error)
    return Answer(int(status.group(1)) if status else 0)  # the server answered, with an S3 error


def _via_pyarrow(request: Request, seconds: float) -> Answer:
    parts = urlsplit(request.server or request.url)
    args = (parts.scheme, parts.netloc, f"{seconds:.3f}")
    if _LOADS_ROOTS in sys.modules:
        return _outcome(probe(*args))  # the roots this kernel's pyarrow holds
    try:
        out = subprocess.run([sys.executable, "-c", _CHILD, *args], capture_output=True, text=True, timeout=seconds)
    except subprocess.TimeoutExpired:
        raise KnownFailure("timeout", "pyarrow in a child process did not answer in time") from None
    lines = out.stdout.strip().splitlines()
    if out.returncode != 0 or not lines:
        raise KnownFailure("http_error", f"pyarrow in a child process: {out.stderr.strip()[-300:]}")
    return _outcome(json.loads(lines[-1]))


FAMILY = Family(
    name="pyarrow",
    order=64,
    # SSL_CERT_FILE is the OpenSSL family's variable: one bundle serves every reader
    rows=_rows,
    attempts=(Attempt("pyarrow.fs S3", _via_pyarrow, module="pyarrow", proxy="own", reads="openssl", tls_only=True),),
)
