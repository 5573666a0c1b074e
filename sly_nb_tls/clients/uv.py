"""uv (``!uv pip install``): a child process whose rustls reads SSL_CERT_FILE and SSL_CERT_DIR at start.

Measured with uv 0.13 against a private index on the demo server: unset, uv trusts the
Mozilla roots built into its binary (``--system-certs``/UV_SYSTEM_CERTS: the platform's
store).  Either variable set replaces those roots with what the files hold (uv's
``Certificates::from_env``: "the environment override remains authoritative"), with or
without UV_SYSTEM_CERTS.  It reads neither again: a uv started after `add` gets the
bundle, one running at `add` does not.  It reads no variable of its own, so it shares
SSL_CERT_FILE (declared by the OpenSSL family): after `add` uv trusts OpenSSL's
default file plus the extras in place of its Mozilla copy.
"""

from __future__ import annotations

import os
import shutil

from .base import ClientTrust, Family, TrustView, by_variable, importable

__all__ = ["FAMILY"]


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


FAMILY = Family(
    name="uv",
    order=72,
    # SSL_CERT_FILE is the OpenSSL family's variable: one bundle serves every reader
    rows=_rows,
)
