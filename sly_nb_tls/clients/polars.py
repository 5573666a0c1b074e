"""polars: its Rust HTTP clients (object_store, reqwest, rustls) read SSL_CERT_FILE when polars builds them.

Measured with polars 2.1 (``polars-runtime-32``) against the demo server, in this process
and in children:

- ``pl.read_csv("https://…")`` and every ``scan_*``/``read_*`` of an https://, s3://, gs://
  or az:// path go through Rust, never Python's ssl: the hooks do not reach them.  Only
  ``read_csv(use_pyarrow=True)`` and non-UTF-8 encodings fetch through urllib (hooked; read
  in polars' source, not measured).
- Each client reads SSL_CERT_FILE (and SSL_CERT_DIR) when it is built; unset, the system's
  store.  AWS_CA_BUNDLE is never read, not even for s3://.
- https://: one client per origin, kept for the life of the process, even one whose
  requests failed, and no Python API drops it: an origin read before `add` keeps its roots
  until the kernel restarts; one first read after `add` gets the extras, and keeps them
  past `reset`.  A failed read costs 9-17 s: object_store retries 10 times, whatever
  ``max_retries`` says.
- s3:// (and the other clouds): one store per bucket and storage_options, rebuilt after an
  error: the first read after `add` fails over to a new store that holds the extras.
"""

from __future__ import annotations

from .base import ClientTrust, Family, TrustView, by_variable, importable

__all__ = ["FAMILY"]


def _rows(view: TrustView) -> list[ClientTrust]:
    if not importable("polars"):
        return []
    row = by_variable("polars", view, "SSL_CERT_FILE", default="the system's store")
    if row.sees_extras:
        return [ClientTrust("polars", row.trust + " (read as it builds each client)", True,
                            "an https:// origin it read before add keeps its old client: restart the kernel "
                            "for that one")]  # fmt: skip
    return [row]


FAMILY = Family(
    name="polars",
    order=62,
    # SSL_CERT_FILE is the OpenSSL family's variable: one bundle serves every reader
    rows=_rows,
)
