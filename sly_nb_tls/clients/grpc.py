"""gRPC: GRPC_DEFAULT_SSL_ROOTS_FILE_PATH, read once per process, else its bundled roots."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping
from pathlib import Path

from .base import CaSet, CaVariable, ClientTrust, Family, RootsDefault, TrustView, importable

__all__ = ["FAMILY"]

_VARIABLE = "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH"


def _base(original: Mapping[str, str | None]) -> CaSet | None:
    try:
        spec = importlib.util.find_spec("grpc")
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.origin:
        return None  # no gRPC here, nor in this kernel's children
    roots = Path(spec.origin).parent / "_cython" / "_credentials" / "roots.pem"
    return CaSet.of_files("gRPC's bundled roots", str(roots)) if roots.is_file() else None


def _rows(view: TrustView) -> list[ClientTrust]:
    if not importable("grpc"):
        return []
    value = os.environ.get(_VARIABLE)
    if value in view.ours:
        return [
            ClientTrust(
                "grpc",
                f"{_VARIABLE}: {os.path.basename(value or '')}",
                True,
                "in children; here, every ssl_channel_credentials() without roots gets them "
                "(channels made before add keep their roots: recreate them)",
            )
        ]
    return [ClientTrust("grpc", value or "gRPC's bundled roots", False, "nothing added" if not view.ours else "")]


#: gRPC reads its default roots once per process, at the first secure channel; a call made without
#: roots through the module (Google Cloud clients, Databricks and Spark Connect do) gets the bundle.
_CREDENTIALS = RootsDefault(
    "grpc.ssl_channel_credentials", "grpc", "ssl_channel_credentials", "root_certificates", 0, _VARIABLE
)

FAMILY = Family(
    name="grpc",
    order=60,
    variables=(CaVariable(_VARIABLE, "gRPC", _base),),
    rows=_rows,
    roots_defaults=(_CREDENTIALS,),
)
