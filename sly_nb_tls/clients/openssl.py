"""OpenSSL's default paths: urllib, urllib3, aiohttp, websockets, tornado, httpx2 (SSL_CERT_FILE)."""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from typing import Any

from .._bounded import MAX_BODY, capped
from .base import (
    Answer,
    Attempt,
    CachedContext,
    CachedOpener,
    CaSet,
    CaVariable,
    ClientTrust,
    Family,
    Request,
    SharedContext,
    TrustView,
    importable,
    openssl_set,
)

__all__ = ["FAMILY"]

_DEFAULT_PATHS = "default context (OpenSSL's paths, SSL_CERT_FILE)"
#: module to look for -> (row name, how it builds its contexts)
_IN_PROCESS = (
    ("urllib.request", "urllib", _DEFAULT_PATHS),
    ("urllib3", "urllib3", _DEFAULT_PATHS),
    ("httpx2", "httpx2", "SSL_CERT_FILE, else OpenSSL's file"),
    ("aiohttp", "aiohttp", "shared default context (swapped)"),
    ("websockets", "websockets", "a default context per connection"),
    ("tornado", "tornado", "cached default context (rebuilt)"),
)


def in_process_row(client: str, how: str, view: TrustView) -> ClientTrust:
    """The row of a client whose contexts come from the ssl module's defaults (the hooks reach them)."""
    if client == "urllib" and view.urllib_unverified:
        return ClientTrust(client, how, False, "verification is turned off for urllib in this kernel")
    if not view.hooked:
        return ClientTrust(client, how, False, "nothing added")
    return ClientTrust(client, how + " + the extras (hook)", True)


def _rows(view: TrustView) -> list[ClientTrust]:
    return [in_process_row(client, how, view) for module, client, how in _IN_PROCESS if importable(module)]


def _base(original: Mapping[str, str | None]) -> CaSet | None:
    return openssl_set()


def _tornado_context() -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)  # what tornado.netutil builds
    if hasattr(ssl, "OP_NO_COMPRESSION"):
        ctx.options |= ssl.OP_NO_COMPRESSION
    return ctx


def _default_stores() -> list[str]:
    paths = ssl.get_default_verify_paths()
    return [p for p in (paths.openssl_cafile, paths.openssl_capath, os.environ.get("SSL_CERT_DIR")) if p]


# -- attempts --------------------------------------------------------------------------------
def _via_urllib(request: Request, seconds: float) -> Answer:
    import urllib.error
    import urllib.request

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        """urllib's redirect handler copies every header (the token too) to wherever a 3xx points.
        Given in place of it, this one declines, and urllib raises the 3xx as an HTTPError."""

        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    req = urllib.request.Request(request.url, data=request.body, headers=dict(request.headers), method=request.method)
    # urlopen's own handlers (proxies from the environment, the default context), minus redirects
    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(req, timeout=seconds) as r:
            return Answer(r.status, r.read(MAX_BODY), r.reason, r.headers.get("Content-Type", ""))
    except urllib.error.HTTPError as e:  # an answer, not a failure to connect
        return Answer(e.code, e.read(MAX_BODY), str(e.reason), e.headers.get("Content-Type", ""),
                      e.headers.get("Location", ""))  # fmt: skip


def _via_urllib3(request: Request, seconds: float) -> Answer:
    import urllib3

    with urllib3.PoolManager(retries=False, timeout=seconds) as pool:
        r = pool.request(request.method, request.url, headers=dict(request.headers), body=request.body,
                         redirect=False, preload_content=False)  # fmt: skip
        try:
            return Answer(r.status, capped(r.stream(65536)), r.reason or "", r.headers.get("Content-Type", ""),
                          r.headers.get("Location", ""))  # fmt: skip
        finally:
            r.release_conn()


def _via_aiohttp(request: Request, seconds: float) -> Answer:
    import asyncio

    import aiohttp

    async def go() -> Answer:
        timeout = aiohttp.ClientTimeout(total=seconds)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            async with session.request(request.method, request.url, headers=dict(request.headers), data=request.body,
                                       allow_redirects=False) as r:  # fmt: skip
                # read(n) returns what has arrived, up to n: a body in several chunks needs the loop
                body = bytearray()
                async for chunk in r.content.iter_chunked(65536):
                    body += chunk
                    if len(body) >= MAX_BODY:
                        break
                return Answer(r.status, bytes(body[:MAX_BODY]), r.reason or "", r.headers.get("Content-Type", ""),
                              r.headers.get("Location", ""))  # fmt: skip

    # Each attempt runs in a thread of its own, where no event loop runs yet (a notebook's
    # kernel runs one in its main thread).
    return asyncio.run(go())


FAMILY = Family(
    name="openssl",
    order=20,
    variables=(CaVariable("SSL_CERT_FILE", "OpenSSL: urllib, aiohttp, httpx, …", _base, in_process=True),),
    rows=_rows,
    attempts=(
        Attempt("urllib.request", _via_urllib, reads="openssl"),
        Attempt(
            "urllib3",
            _via_urllib3,
            module="urllib3",
            proxy="none",
            reads="openssl",
            ignores_proxy_because="urllib3 reads no proxy variables (ProxyManager does)",
        ),
        Attempt(
            "aiohttp",
            _via_aiohttp,
            module="aiohttp",
            proxy="none",
            reads="openssl",
            ignores_proxy_because="aiohttp reads no proxy variables without trust_env=True",
        ),
    ),
    shared_contexts=(
        SharedContext(
            "aiohttp default context",
            "aiohttp.connector",
            "_SSL_CONTEXT_VERIFIED",
            ssl.create_default_context,
            builder=("_make_ssl_context", (True,)),
        ),
        # tornado before 6.5 builds its client context at import (6.5 caches it: below)
        SharedContext("tornado default context", "tornado.netutil", "_client_ssl_defaults", _tornado_context),
    ),
    cached_contexts=(CachedContext("tornado cached context", "tornado.netutil", "_client_ssl_defaults"),),
    cached_opener=CachedOpener("urllib.request", "_opener", "_context", "_check_hostname"),
    transports={"httpcore2": "httpx2"},
    default_stores=_default_stores,
    default_sets=lambda: [openssl_set()],
)
