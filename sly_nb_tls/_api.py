"""The public verbs in one module, and the one place the two halves meet: diagnose asks what trust knows.

`sly_nb_tls` resolves its verbs here on first use, and the front-ends (`ui/`)
call them here, never in the halves.
"""

from __future__ import annotations

from .diagnose.connection import fetch_chain, test_connection
from .diagnose.issuers import KnownFiles, tell_known_files
from .trust.envfile import load_env
from .trust.extras import add_certs, files_named_before_add, files_written, remove, reset, status
from .trust.install import install, uninstall

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
    """What the trust half knows of the CA files here: those the variables named before `add`, ours."""
    return KnownFiles(before=tuple(files_named_before_add()), ours=tuple(files_written()))


tell_known_files(_known_files)


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
