"""Which trust each HTTPS library here will use right now (`status --clients`).

A library is listed when it is importable here (children: when its tool is
on PATH).  The answer comes from the same facts the library reads: its
variable, its module attribute, the ssl hooks.  Nothing is imported to find
out, so listing costs no import of botocore, grpc or tornado.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import ssl
import sys
from collections.abc import Callable

from .results import ClientTrust

__all__ = ["client_trust"]


def _importable(name: str) -> bool:
    if name in sys.modules:
        return True
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def client_trust(ours: set[str], hooked: bool, pinned: int, extras: frozenset[str] = frozenset()) -> list[ClientTrust]:
    """One row per HTTPS library importable here (or tool on PATH).

    `ours`: the files our variables name; `hooked`: new default contexts get the
    extras; `pinned`: live contexts left alone because they trust a CA set of their own;
    `extras`: the fingerprints registered now.
    """
    env = os.environ

    def by_variable(client: str, *variables: str, default: str) -> ClientTrust:
        for var in variables:
            value = env.get(var)
            if value:
                shown = f"{var}: {os.path.basename(value) if value in ours else value}"
                if value in ours:
                    return ClientTrust(client, shown, True)
                return ClientTrust(client, shown, False, "names a file of its own")
        return ClientTrust(client, default, False, "nothing added" if not ours else f"{variables[0]} is unset")

    def in_process(client: str, how: str) -> ClientTrust:
        if ssl._create_default_https_context is getattr(ssl, "_create_unverified_context", None) and client == "urllib":
            return ClientTrust(client, how, False, "verification is turned off for urllib in this kernel")
        if not hooked:
            return ClientTrust(client, how, False, "nothing added")
        return ClientTrust(client, how + " + the extras (hook)", True)

    rows: list[tuple[str, Callable[[], ClientTrust]]] = [
        ("requests", lambda: by_variable("requests", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", default="certifi")),
        ("urllib.request", lambda: in_process("urllib", "default context (OpenSSL's paths, SSL_CERT_FILE)")),
        ("urllib3", lambda: in_process("urllib3", "default context (OpenSSL's paths, SSL_CERT_FILE)")),
        ("httpx", lambda: _httpx(extras, trust_env=True) if hooked else in_process("httpx", _HTTPX_HOW[True])),
        ("httpx", lambda: _httpx(extras, trust_env=False) if hooked else in_process(*_HTTPX_ROW_FALSE)),
        ("httpx2", lambda: in_process("httpx2", "SSL_CERT_FILE, else OpenSSL's file")),
        ("aiohttp", lambda: in_process("aiohttp", "shared default context (swapped)")),
        ("websockets", lambda: in_process("websockets", "a default context per connection")),
        ("tornado", lambda: in_process("tornado", "cached default context (rebuilt)")),
        ("botocore", _botocore(env, ours)),
        ("httplib2", _httplib2(env, ours)),
        ("grpc", _grpc(env, ours)),
        ("supervisely", lambda: by_variable("supervisely SDK", "REQUESTS_CA_BUNDLE", default="certifi")),
    ]
    out = [make() for module, make in rows if _importable(module)]
    for tool, variables, default in (
        ("curl", ("CURL_CA_BUNDLE",), "its built-in CA file"),
        ("git", ("GIT_SSL_CAINFO",), "its configured or built-in CA file"),
        ("node", ("NODE_EXTRA_CA_CERTS",), "its built-in roots"),
        ("npm", ("npm_config_cafile", "NODE_EXTRA_CA_CERTS"), "node's roots"),
        ("wget", ("WGETRC",), "the system's roots"),
    ):
        if shutil.which(tool):
            row = by_variable(f"{tool} (child)", *variables, default=default)
            out.append(row)
    if pinned:
        out.append(
            ClientTrust("live contexts", f"{pinned} pinned to a CA set of their own", False, "pinned: left alone")
        )
    return out


_HTTPX_HOW = {True: "certifi, or SSL_CERT_FILE if it was set", False: "certifi (it reads no variables)"}
_HTTPX_ROW_FALSE = ("httpx trust_env=False", _HTTPX_HOW[False])


def _httpx(extras: frozenset[str], *, trust_env: bool) -> ClientTrust:
    """Asked, not inferred: httpx's rules differ by version and by `trust_env` (0.27 with
    trust_env=False loads certifi itself, 0.28 through create_default_context), so the row
    builds the context a new client would get and looks in it."""
    import httpx

    name = "httpx" if trust_env else _HTTPX_ROW_FALSE[0]
    how = _HTTPX_HOW[trust_env]
    ctx = httpx.create_ssl_context(trust_env=trust_env)
    holds = {hashlib.sha256(der).hexdigest() for der in ctx.get_ca_certs(binary_form=True)}
    if extras <= holds:
        return ClientTrust(name, how + " + the extras", True)
    return ClientTrust(name, how, False, "a client made with verify=ssl.create_default_context() gets them")


def _botocore(env: os._Environ[str], ours: set[str]) -> Callable[[], ClientTrust]:
    def row() -> ClientTrust:
        value = env.get("AWS_CA_BUNDLE") or env.get("REQUESTS_CA_BUNDLE")
        if value in ours:
            return ClientTrust("botocore", f"AWS_CA_BUNDLE: {os.path.basename(value or '')}", True,
                               "sessions made before add were repointed")  # fmt: skip
        if value:
            return ClientTrust("botocore", f"AWS_CA_BUNDLE: {value}", False, "names a file of its own")
        return ClientTrust("botocore", "certifi", False, "nothing added" if not ours else "AWS_CA_BUNDLE is unset")

    return row


def _httplib2(env: os._Environ[str], ours: set[str]) -> Callable[[], ClientTrust]:
    def row() -> ClientTrust:
        module = sys.modules.get("httplib2")
        value = getattr(module, "CA_CERTS", None) if module else env.get("HTTPLIB2_CA_CERTS")
        label = "httplib2.CA_CERTS" if module else "HTTPLIB2_CA_CERTS (read at import)"
        if value in ours:
            return ClientTrust("httplib2", f"{label}: {os.path.basename(str(value))}", True)
        if value:
            return ClientTrust("httplib2", f"{label}: {value}", False, "pinned to a file of its own")
        return ClientTrust("httplib2", "certifi", False, "nothing added" if not ours else "unset")

    return row


def _grpc(env: os._Environ[str], ours: set[str]) -> Callable[[], ClientTrust]:
    def row() -> ClientTrust:
        value = env.get("GRPC_DEFAULT_SSL_ROOTS_FILE_PATH")
        if value in ours:
            return ClientTrust(
                "grpc",
                f"GRPC_DEFAULT_SSL_ROOTS_FILE_PATH: {os.path.basename(value or '')}",
                True,
                "in children, and here if no secure channel was opened before add (gRPC reads it once)",
            )
        return ClientTrust("grpc", value or "gRPC's bundled roots", False, "nothing added" if not ours else "")

    return row
