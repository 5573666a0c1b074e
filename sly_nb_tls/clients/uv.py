"""uv (``!uv pip install``): a child process whose rustls reads SSL_CERT_FILE and SSL_CERT_DIR at its start.

What it reads, and when (uv 0.13, against a private index on the demo server; shown by the
client matrix and tests/test_native_clients.py unless marked):

- uv reads SSL_CERT_FILE and SSL_CERT_DIR when it starts, and trusts what they hold; a uv
  started after `add` gets our bundle, one running at `add` does not.  AWS_CA_BUNDLE and
  CURL_CA_BUNDLE are not read.  So it shares SSL_CERT_FILE, declared by the OpenSSL family.
- Unset, uv trusts the Mozilla roots built into it, and either variable replaces them, with or
  without ``--system-certs``/UV_SYSTEM_CERTS: after `add` it trusts OpenSSL's default file plus
  the extras in place of its Mozilla copy.  That is uv's documentation ("TLS certificates"),
  not measured here: no server on this machine has a certificate from a Mozilla root.

`test --clients` runs ``uv pip install --dry-run`` against the server as a package index: uv
cannot fetch an arbitrary URL (it asks an index for ``<index>/<project>/``, and downloads only
archives), and it words every answer of an index alike ("not found in the package registry"),
so only its connection and trust are judged.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile

from . import _rustls
from .base import Answer, Attempt, ClientTrust, Family, KnownFailure, Request, TrustView, by_variable, importable

__all__ = ["FAMILY"]

#: the project `test --clients` asks the server's "index" for (any answer means a verified connection)
_PROJECT = "sly-nb-tls-test"


def _default() -> str:
    """What uv trusts while SSL_CERT_FILE is unset."""
    if os.environ.get("SSL_CERT_DIR"):
        return f"SSL_CERT_DIR: {os.environ['SSL_CERT_DIR']} (in place of its Mozilla roots)"
    return "its built-in Mozilla roots"


def _rows(view: TrustView) -> list[ClientTrust]:
    # the `uv` package (pip install uv) runs as `python -m uv`; a standalone uv is on PATH
    if not (shutil.which("uv") or importable("uv")):
        return []
    row = by_variable("uv (child)", view, "SSL_CERT_FILE", default=_default())
    if row.sees_extras:
        return [ClientTrust(row.client, row.trust, True, "uv started from now on (in place of its Mozilla roots)")]
    return [row]


def _via_uv(request: Request, seconds: float) -> Answer:
    from uv import find_uv_bin

    index = (request.server or request.url).rstrip("/") + "/"
    # one request, no retries, within the test's time; the user's uv.toml is read, as their uv would
    env = {**os.environ, "UV_HTTP_RETRIES": "0", "UV_HTTP_TIMEOUT": str(max(1, int(seconds)))}
    with tempfile.TemporaryDirectory(prefix="sly-nb-tls-uv-") as target:
        out = subprocess.run(
            [find_uv_bin(), "pip", "install", "--dry-run", "--no-cache", "--no-deps", "--target", target,
             "--python", sys.executable, "--index-url", index, _PROJECT],
            capture_output=True, text=True, timeout=seconds, env=env,
        )  # fmt: skip
    text = out.stderr.strip()
    failed = _rustls.failure(text)
    if failed is not None:
        raise failed
    if out.returncode == 0 or "not found in the package registry" in text:
        return Answer(0)
    raise KnownFailure("http_error", f"uv exit {out.returncode}: {text.splitlines()[-1] if text else ''}"[:300])


FAMILY = Family(
    name="uv",
    order=72,
    # SSL_CERT_FILE is the OpenSSL family's variable: one bundle serves every reader
    rows=_rows,
    attempts=(Attempt("uv", _via_uv, module="uv", proxy="own", reads="openssl", tls_only=True, slow=True),),
)
