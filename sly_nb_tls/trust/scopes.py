"""Where each install scope lives: the IPython configuration directories (no heavy imports)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from .._words import SCOPES
from ..errors import StorageError

__all__ = ["SCOPES", "STORE", "installed_stores", "scope_dir"]

#: the folder, inside a scope's directory, that holds the installed CAs
STORE = "sly_nb_tls"


def scope_dir(scope: str) -> Path:
    """The IPython configuration directory of a scope."""
    if scope == "user":
        return Path(os.environ.get("IPYTHONDIR") or Path.home() / ".ipython").expanduser() / "profile_default"
    if scope == "env":
        return Path(sys.prefix) / "etc" / "ipython"
    if scope == "system":
        if os.name == "nt":
            return Path(os.environ.get("PROGRAMDATA", r"C:\ProgramData")) / "ipython"
        return Path("/etc/ipython")
    raise StorageError(f"unknown scope {scope!r}: use one of {', '.join(SCOPES)}")


def installed_stores() -> list[tuple[str, Path]]:
    """(scope, store directory) of each scope whose store holds certificates, in the order applied."""
    out = []
    for scope in SCOPES:
        store = scope_dir(scope) / STORE
        if store.is_dir() and any(store.glob("*.pem")):
            out.append((scope, store))
    return out
