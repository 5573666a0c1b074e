"""The server extension's REST endpoints: status, add, remove and reset in the running server, thin as the magic."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join
from tornado import web

from .._readfile import CERTIFICATE_FILE_LIMIT as MAX_SOURCE_BYTES
from ..errors import SlyTlsError

if TYPE_CHECKING:
    from jupyter_server.serverapp import ServerApp

__all__ = ["ROUTES", "add_routes"]

_PEM_TYPES = ("application/x-pem-file", "application/pem-certificate-chain", "text/plain")
_HEX = frozenset("0123456789abcdef")


class _SlyTlsHandler(APIHandler):  # type: ignore[misc]
    """JSON in, JSON out; a user's mistake is a 400 with one line, as the magic's UsageError is.

    The server's own rules decide who may: its authentication, XSRF for changes, and its Authorizer
    (`auth_resource`: reading is "read", every change "write"), as for its other endpoints.
    """

    auth_resource = "sly-tls"

    def _reply(self, status: int, payload: dict[str, Any]) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(payload, ensure_ascii=False))

    def _run(self, verb: Callable[[], Any]) -> None:
        try:
            result = verb()
        except SlyTlsError as exc:
            self._reply(_status_of(exc), {"message": str(exc).splitlines()[0] if str(exc) else type(exc).__name__})
            return
        self._reply(200, result.to_dict())


class StatusHandler(_SlyTlsHandler):
    @web.authenticated  # type: ignore[misc]
    @authorized  # type: ignore[misc]
    def get(self) -> None:
        from .. import _api  # at the first request, not at the server's start

        self._run(_api.status)


class CertificatesHandler(_SlyTlsHandler):
    @web.authenticated  # type: ignore[misc]
    @authorized  # type: ignore[misc]
    def post(self) -> None:
        try:
            pem = self._pem()
        except SlyTlsError as exc:
            self._reply(400, {"message": str(exc)})
            return
        from .. import _api

        # Bytes, never text: a str could be taken for a path on the server's disk.
        self._run(lambda: _api.add_certs(pem))

    def _pem(self) -> bytes:
        body = self.request.body
        if len(body) > MAX_SOURCE_BYTES:
            raise SlyTlsError(f"the body is over {MAX_SOURCE_BYTES // 1024 // 1024} MiB: no certificate file is")
        kind = self.request.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if kind == "application/json":
            try:
                pem = json.loads(body).get("pem")
            except (ValueError, AttributeError):
                pem = None
            if not isinstance(pem, str):
                raise SlyTlsError('the JSON body must be an object with "pem": the certificates as PEM text')
            data = pem.encode("utf-8")
        elif kind in _PEM_TYPES:
            data = body
        else:
            raise SlyTlsError(
                f'send PEM text (Content-Type: application/x-pem-file) or JSON {{"pem": ...}}, not {kind or "no type"}'
            )
        if b"-----BEGIN" not in data:
            raise SlyTlsError("the body holds no PEM block: send the certificates as PEM text")
        return data


class CertificateHandler(_SlyTlsHandler):
    @web.authenticated  # type: ignore[misc]
    @authorized  # type: ignore[misc]
    def delete(self, fingerprint: str) -> None:
        from .. import _api

        self._run(lambda: _api.remove(_registered(fingerprint)))


class ResetHandler(_SlyTlsHandler):
    @web.authenticated  # type: ignore[misc]
    @authorized  # type: ignore[misc]
    def post(self) -> None:
        from .. import _api

        self._run(_api.reset)


def _status_of(exc: SlyTlsError) -> int:
    """403 for what the admin's policy refuses, 404 for a certificate that is not there, else 400."""
    from ..errors import PolicyError, UnknownCertificateError

    return 403 if isinstance(exc, PolicyError) else 404 if isinstance(exc, UnknownCertificateError) else 400


def _registered(fingerprint: str) -> Any:
    """The registered certificate a SHA-256 (or a unique prefix of ≥ 8 hex digits) names: never a path."""
    from .. import _api

    digits = fingerprint.replace(":", "").lower()
    if len(digits) < 8 or not set(digits) <= _HEX:
        raise SlyTlsError(f"{fingerprint[:80]}: give the SHA-256 in hex, or a unique prefix of at least 8 digits")
    matches = [c for c in _api.status().certificates if c.sha256.startswith(digits)]
    if len(matches) != 1:
        from ..errors import UnknownCertificateError

        raise (UnknownCertificateError if not matches else SlyTlsError)(
            f"{digits}: {'no' if not matches else len(matches)} registered certificate(s) have this fingerprint"
        )
    return matches[0]


ROUTES: list[tuple[str, type[APIHandler]]] = [
    ("status", StatusHandler),
    ("certificates", CertificatesHandler),
    ("certificates/([^/]+)", CertificateHandler),
    ("reset", ResetHandler),
]


def add_routes(serverapp: ServerApp) -> None:
    """The endpoints, under the server's base URL."""
    base = serverapp.web_app.settings["base_url"]
    routes = [(url_path_join(base, "sly-tls", path), cls) for path, cls in ROUTES]
    serverapp.web_app.add_handlers(".*$", routes)  # type: ignore[no-untyped-call]
