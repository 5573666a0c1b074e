"""Trust a private CA in a running Jupyter kernel — every HTTPS client, no restart.

In [1]: %load_ext sly_nb_tls
In [2]: %sly_tls add corp-chain.crt       # requests, urllib, httpx, aiohttp, curl, the SDK
In [3]: %sly_tls status                   # what is trusted, what changed, how to undo
In [4]: %sly_tls env                      # local.env / .env / ~/supervisely.env, CAs registered
In [5]: %sly_tls test                     # step-by-step diagnosis of SERVER_ADDRESS
In [6]: %sly_tls fetch https://sly.corp --save corp-chain.crt
In [7]: %sly_tls reset                    # everything back as it was

The same operations without IPython::

    import sly_nb_tls
    sly_nb_tls.add_certs("corp-chain.crt")
    sly_nb_tls.status()
    sly_nb_tls.load_env()
    sly_nb_tls.test_connection("https://sly.corp")    # .ok, .problem, .warnings, .chain
    sly_nb_tls.fetch_chain("https://sly.corp", save="corp-chain.crt")
    sly_nb_tls.reset()

Importing this package is cheap: the heavy modules (cryptography, ssl hooks,
requests) load on first use, so ``%load_ext`` stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.3.0"


# name -> module that defines it; resolved on first attribute access (PEP 562).  The verbs
# live here; the errors in `sly_nb_tls.errors`, the demo server in `sly_nb_tls.demo`, the
# Dask and Ray helpers in `sly_nb_tls.workers`.
_LAZY = {
    "add_certs": "._api",
    "remove": "._api",
    "reset": "._api",
    "status": "._api",
    "audit": "._api",
    "policy": "._api",
    "load_env": "._api",
    "install": "._api",
    "uninstall": "._api",
    "test_connection": "._api",
    "fetch_chain": "._api",
    "panel": ".ui.panel",
    "PROBLEMS": ".diagnose.classify",
    "Certificate": "._certs",
    "SlyTlsError": ".errors",
}
__all__ = [
    "PROBLEMS",
    "Certificate",
    "SlyTlsError",
    "__version__",
    "add_certs",
    "audit",
    "fetch_chain",
    "install",
    "load_env",
    "load_ipython_extension",
    "panel",
    "policy",
    "remove",
    "reset",
    "status",
    "test_connection",
    "uninstall",
    "unload_ipython_extension",
]

if TYPE_CHECKING:
    from ._api import (
        add_certs,
        audit,
        fetch_chain,
        install,
        load_env,
        policy,
        remove,
        reset,
        status,
        test_connection,
        uninstall,
    )
    from ._certs import Certificate
    from .diagnose.classify import PROBLEMS
    from .errors import SlyTlsError
    from .ui.panel import panel


#: public submodules, imported on first use: ``sly_nb_tls.demo.DemoServer`` works after ``import sly_nb_tls``
_SUBMODULES = ("demo", "errors", "workers")


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'sly_nb_tls' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    """Jupyter server's entry point: this package is the extension (`_load_jupyter_server_extension`)."""
    return [{"module": "sly_nb_tls"}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    """At server start: what a kernel applies at start, in the server itself (its processes inherit it);
    then the REST endpoints (`ui.server`).  As light as ``%load_ext``: nothing is imported that start-up
    does not need."""
    import os

    from .trust.startup import apply_at_start
    from .ui.server import add_routes

    def warn(line: str) -> None:
        serverapp.log.warning("sly_nb_tls: %s", line)

    # live=True: the server made clients before it loaded its extensions (tornado's, an extension's).
    records = apply_at_start(report=warn, who="the server", live=True)
    applied = sum(r.added for r in records)
    if applied:
        serverapp.log.info(
            "sly_nb_tls: trusting %d extra certificate(s) in the server and every process it starts (pid %d)",
            applied,
            os.getpid(),
        )
    add_routes(serverapp)


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext sly_nb_tls``: register ``%sly_tls`` / ``%%sly_tls``."""
    from .trust.startup import apply_at_start
    from .ui.magic import SlyTlsMagics

    ipython.register_magics(SlyTlsMagics(ipython))
    apply_at_start()  # installed CAs and SLY_NB_TLS_CA_CERTS; never raises


def unload_ipython_extension(ipython: Any) -> None:
    """``%unload_ext sly_nb_tls``: undo every trust change, as ``%sly_tls reset``."""
    import sys

    trust = sys.modules.get("sly_nb_tls.trust.extras")
    if trust is not None:
        trust.reset()
    startup = sys.modules.get("sly_nb_tls.trust.startup")
    if startup is not None:
        startup.forget()
