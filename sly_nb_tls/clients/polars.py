"""polars: Rust HTTP clients (object_store, reqwest, rustls) that read SSL_CERT_FILE when polars builds one.

What each reads, and when (polars 2.1, against the demo server, in this process and in
children; shown by the client matrix and tests/test_native_clients.py unless marked):

- ``pl.read_csv("https://…")`` and every ``scan_*``/``read_*`` of an https:// or s3:// path go
  through Rust, never Python's ssl: the hooks do not reach them.
- Each client reads SSL_CERT_FILE or SSL_CERT_DIR when it is built, and trusts what they hold;
  with neither set, the system's store (not measured: no root in it is ours).  AWS_CA_BUNDLE
  is never read, not even for s3://.
- https://: one client per origin and storage_options, built at the first read and kept, even
  after its read failed.  So an origin read before `add` keeps its old roots until the kernel
  restarts, or until it is read with storage_options not used for it before (a new client);
  one first read after `add` keeps the extras past `reset`.  A failed read retries for seconds
  (8-25 s measured) whatever ``max_retries`` or ``retry_timeout_ms`` say: polars applies no
  retry setting to https://.
- s3:// (and the other clouds, not measured): one store per bucket and storage_options, rebuilt
  after an error, ``max_retries`` honoured: the first read after `add` of a store that failed
  before it fails over to a new store that holds the extras.

`test --clients` reads one S3 object from the server (a store of its own, no retries) rather
than an https:// URL: it fails in milliseconds with the same TLS verdict, where an https:// read
would retry past the test's deadline and leave a client for that origin behind in the kernel.
"""

from __future__ import annotations

import re
import secrets
from urllib.parse import urlsplit

from . import _rustls
from .base import Answer, Attempt, ClientTrust, Family, Request, TrustView, by_variable, importable

__all__ = ["FAMILY"]

#: the object `test --clients` asks the server for (any answer means a verified connection)
_PROBE = "s3://sly-nb-tls-test/probe.csv"


def _rows(view: TrustView) -> list[ClientTrust]:
    if not importable("polars"):
        return []
    row = by_variable("polars", view, "SSL_CERT_FILE", default="the system's store")
    if row.sees_extras:
        return [ClientTrust("polars", row.trust + " (read as it builds each client)", True,
                            "an https:// origin it read before add keeps its old client: restart the kernel "
                            "(or read it with other storage_options)")]  # fmt: skip
    return [row]


def _via_polars(request: Request, seconds: float) -> Answer:
    import polars as pl

    parts = urlsplit(request.server or request.url)
    ms = f"{max(1, int(seconds * 1000))}ms"
    options = {
        "aws_endpoint_url": f"{parts.scheme}://{parts.netloc}",
        # not a secret: no credentials of the user's go to the server
        "aws_access_key_id": "sly-nb-tls-test",
        "aws_secret_access_key": "sly-nb-tls-test",
        "aws_region": "us-east-1",
        # a store of its own each time (polars keeps stores by bucket and storage_options): it reads
        # SSL_CERT_FILE now, as a new client would, and leaves the user's stores alone
        "aws_session_token": secrets.token_hex(8),
        "max_retries": 0,
        "file_cache_ttl": 0,
        "timeout": ms,
        "connect_timeout": ms,
    }
    try:
        pl.scan_csv(_PROBE, storage_options=options).collect_schema()
    except Exception as exc:  # noqa: BLE001 - polars raises types of its own: the text says what happened
        text = str(exc)
        failed = _rustls.failure(text)
        if failed is not None:
            raise failed from None  # its message holds rustls' words; polars' own text says less
        status = re.search(r"\bstatus:? (\d{3})\b", text)
        return Answer(int(status.group(1)) if status else 0)
    return Answer(200)


FAMILY = Family(
    name="polars",
    order=62,
    # SSL_CERT_FILE is the OpenSSL family's variable: one bundle serves every reader
    rows=_rows,
    attempts=(Attempt("polars", _via_polars, module="polars", proxy="own", reads="openssl", tls_only=True),),
)
