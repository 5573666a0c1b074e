"""The public verbs in one module: the trust half's, and the diagnosis told what the trust half knows.

`sly_nb_tls` resolves its verbs here on first use, and the front-ends (`ui/`)
call them here, never in the halves.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .trust.envfile import load_env
from .trust.extras import add_certs, remove, reset, status
from .trust.install import install, uninstall

if TYPE_CHECKING:
    from .diagnose.issuers import KnownFiles
    from .diagnose.results import ChainReport, ConnectionReport

__all__ = [
    "add_certs",
    "fetch_chain",
    "install",
    "load_env",
    "proxy_for",
    "remove",
    "reset",
    "status",
    "test_connection",
    "uninstall",
]


def _known_files() -> KnownFiles:
    from .diagnose.issuers import KnownFiles
    from .trust.extras import files_named_before_add, files_written

    return KnownFiles(before=tuple(files_named_before_add()), ours=tuple(files_written()))


def test_connection(
    url: str | None = None,
    token: str | None = None,
    timeout: float = 10.0,
    *,
    proxy: str | None = None,
    clients: bool = False,
    send_token: bool = False,
) -> ConnectionReport:
    """Check the connection to a (Supervisely) server step by step.

    `url` defaults to SERVER_ADDRESS.  `token` defaults to API_TOKEN, which is sent
    only to the host and port of SERVER_ADDRESS (or anywhere, with ``send_token=True``):
    elsewhere the API step is skipped, and a warning says why.  The connection
    goes through the proxy requests would use for `url` (HTTPS_PROXY,
    ALL_PROXY, NO_PROXY); `proxy` overrides that ("" means direct).
    ``clients=True`` also sends one request with each HTTPS client importable
    here, each with its own trust and proxy rules (`.clients`).  Raises
    `UrlError` for a URL it cannot test (and `SlyTlsError` for a timeout that
    is not a positive number); every other outcome is in the returned report.
    """
    from .diagnose import connection

    return connection.test_connection(
        url, token, timeout, proxy=proxy, clients=clients, send_token=send_token, known=_known_files()
    )


# pytest collects any top-level name starting with "test" from a user's test module, and
# `from sly_nb_tls import test_connection` there would make it run this as a test.
test_connection.__test__ = False  # type: ignore[attr-defined]


def fetch_chain(
    url: str | None = None,
    save: str | None = None,
    timeout: float = 10.0,
    overwrite: bool = False,
    *,
    proxy: str | None = None,
) -> ChainReport:
    """The certificates the clients here see for the server, exactly as sent; saved as PEM if `save`.

    Goes through the same proxy as `test_connection` (`proxy` overrides it,
    "" means direct), so behind a TLS-inspecting proxy this is the proxy's
    chain.  Uses a verifying handshake and reads the chain even when
    verification fails: verification is never switched off, and no data is
    exchanged.  Saving writes `trust_candidates(chain)` (the root CA it sends,
    or else its CA certificates, or else its leaf) and never overwrites a
    different file unless `overwrite`.
    """
    from .diagnose import connection

    return connection.fetch_chain(url, save, timeout, overwrite, proxy=proxy, known=_known_files())


def proxy_for(url: str | None = None) -> str | None:
    """The proxy requests (and so `test_connection`) would use for `url` (default SERVER_ADDRESS),
    credentials masked; None when it would connect directly.  Without a usable URL: the proxy
    for a server NO_PROXY does not name."""
    from .diagnose.proxy import choose_route
    from .diagnose.target import Target
    from .errors import SlyTlsError

    try:
        target = Target.parse(url).text
    except SlyTlsError:
        target = "https://server.invalid"  # RFC 2606: never resolves, and nothing connects to it here
    try:
        route = choose_route(target)
    except SlyTlsError:  # a proxy variable that is no usable URL
        return None
    return route.proxy.shown if route.proxy else None
