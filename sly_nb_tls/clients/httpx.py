"""httpx: certifi, or SSL_CERT_FILE when trust_env is on and it is set (it reads no other variable)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping

from .._bounded import capped
from .base import Answer, Attempt, ClientTrust, Family, OwnRoots, Request, TrustView, importable
from .openssl import in_process_row

__all__ = ["FAMILY"]

_HOW = {True: "certifi, or SSL_CERT_FILE if it was set", False: "certifi (it reads no variables)"}
_NAME = {True: "httpx", False: "httpx trust_env=False"}


def _measured(view: TrustView, trust_env: bool) -> ClientTrust:
    """Asked, not inferred: httpx's rules differ by version and by `trust_env` (0.27 with
    trust_env=False loads certifi itself, 0.28 through create_default_context), so the row
    builds the context a new client would get and looks in it."""
    import httpx

    ctx = httpx.create_ssl_context(trust_env=trust_env)
    holds = {hashlib.sha256(der).hexdigest() for der in ctx.get_ca_certs(binary_form=True)}
    if view.extras <= holds:
        return ClientTrust(_NAME[trust_env], _HOW[trust_env] + " + the extras", True)
    return ClientTrust(_NAME[trust_env], _HOW[trust_env], False,
                       "a client made with verify=ssl.create_default_context() gets them")  # fmt: skip


def _rows(view: TrustView) -> list[ClientTrust]:
    if not importable("httpx"):
        return []
    if view.hooked:
        return [_measured(view, True), _measured(view, False)]
    return [in_process_row(_NAME[flag], _HOW[flag], view) for flag in (True, False)]


def _own_roots(original: Mapping[str, str | None]) -> tuple[str | None, str | None] | None:
    """What httpx trusted before `add` when SSL_CERT_FILE was unset: SSL_CERT_DIR, else certifi.
    None: SSL_CERT_FILE was set, and our bundle there is its base plus the extras."""
    if original.get("SSL_CERT_FILE"):
        return None
    if os.environ.get("SSL_CERT_DIR"):
        return None, os.environ["SSL_CERT_DIR"]
    import certifi

    return certifi.where(), None


def _via_httpx(request: Request, seconds: float) -> Answer:
    import httpx

    with httpx.Client(timeout=seconds, follow_redirects=False) as client:
        with client.stream(request.method, request.url, headers=dict(request.headers), content=request.body) as r:
            return Answer(r.status_code, capped(r.iter_bytes(65536)), r.reason_phrase,
                          r.headers.get("Content-Type", ""), r.headers.get("Location", ""))  # fmt: skip


FAMILY = Family(
    name="httpx",
    order=30,
    rows=_rows,
    attempts=(Attempt("httpx", _via_httpx, module="httpx", proxy="no-cidr", reads="openssl"),),
    # httpx reads SSL_CERT_FILE, which is our bundle after add (OpenSSL's roots plus the extras);
    # before, it used certifi: its contexts keep certifi (or SSL_CERT_DIR), plus the extras.
    own_roots=OwnRoots("SSL_CERT_FILE", ("httpx", "httpcore"), _own_roots),
    transports={"httpcore": "httpx"},
)
