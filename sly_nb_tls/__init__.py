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

__version__ = "0.1.0"


# name -> module that defines it; resolved on first attribute access (PEP 562)
_LAZY = {
    "add_certs": ".trust.extras",
    "remove": ".trust.extras",
    "status": ".trust.extras",
    "reset": ".trust.extras",
    "load_env": ".trust.envfile",
    "test_connection": ".diagnose.connection",
    "fetch_chain": ".diagnose.connection",
    "panel": ".ui.panel",
    "install": ".trust.install",
    "dask_plugin": ".integrations.dask",
    "ray_runtime_env": ".integrations.ray",
    "uninstall": ".trust.install",
    "PROBLEMS": ".diagnose.classify",
    "Certificate": "._certs",
    "DemoServer": ".demo",
    "SlyTlsError": ".errors",
    "CertificateSourceError": ".errors",
    "UnknownCertificateError": ".errors",
    "EnvFileError": ".errors",
    "UrlError": ".errors",
    "FetchError": ".errors",
    "StorageError": ".errors",
}
__all__ = [
    "PROBLEMS",
    "Certificate",
    "CertificateSourceError",
    "DemoServer",
    "EnvFileError",
    "FetchError",
    "SlyTlsError",
    "StorageError",
    "UnknownCertificateError",
    "UrlError",
    "__version__",
    "add_certs",
    "dask_plugin",
    "fetch_chain",
    "install",
    "load_env",
    "load_ipython_extension",
    "panel",
    "ray_runtime_env",
    "remove",
    "reset",
    "status",
    "test_connection",
    "uninstall",
    "unload_ipython_extension",
]

if TYPE_CHECKING:
    from ._certs import Certificate
    from .demo import DemoServer
    from .diagnose.classify import PROBLEMS
    from .diagnose.connection import fetch_chain, test_connection
    from .errors import (
        CertificateSourceError,
        EnvFileError,
        FetchError,
        SlyTlsError,
        StorageError,
        UnknownCertificateError,
        UrlError,
    )
    from .integrations.dask import dask_plugin
    from .integrations.ray import ray_runtime_env
    from .trust.envfile import load_env
    from .trust.extras import add_certs, remove, reset, status
    from .trust.install import install, uninstall
    from .ui.panel import panel


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'sly_nb_tls' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


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
