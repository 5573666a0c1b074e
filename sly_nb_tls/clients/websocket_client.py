"""websocket-client (``import websocket``): WEBSOCKET_CLIENT_CA_BUNDLE replaces its roots; unset, OpenSSL's defaults.

Read at every connection (``websocket._http._ssl_socket``): a file there becomes the
context's only CA file; unset, the context loads OpenSSL's default paths, which the
ssl hooks give the extras.  So only a preset variable needs a bundle, and the
preset file is its base.  jupyter_server uses this client for kernel gateways.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from .base import CaSet, CaVariable, ClientTrust, Family, TrustView, by_variable, importable
from .openssl import in_process_row

__all__ = ["FAMILY"]

_VARIABLE = "WEBSOCKET_CLIENT_CA_BUNDLE"


def _base(original: Mapping[str, str | None]) -> CaSet | None:
    return None  # unset: its readers load OpenSSL's defaults, which the hooks reach; nothing to point


def _rows(view: TrustView) -> list[ClientTrust]:
    if not importable("websocket"):
        return []
    if os.environ.get(_VARIABLE):
        return [by_variable("websocket-client", view, _VARIABLE, default="")]
    return [in_process_row("websocket-client", "default context (OpenSSL's paths, SSL_CERT_FILE)", view)]


FAMILY = Family(
    name="websocket-client",
    order=25,
    variables=(CaVariable(_VARIABLE, "websocket-client", _base),),
    rows=_rows,
)
