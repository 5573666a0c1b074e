"""httplib2: HTTPLIB2_CA_CERTS, read once at import into ``httplib2.CA_CERTS``, else certifi."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

from .base import CaPath, CaSet, CaVariable, ClientTrust, Family, TrustView, certifi_set, importable

__all__ = ["FAMILY"]


def _base(original: Mapping[str, str | None]) -> CaSet | None:
    return certifi_set()


def _rows(view: TrustView) -> list[ClientTrust]:
    if not importable("httplib2"):
        return []
    module = sys.modules.get("httplib2")
    value = getattr(module, "CA_CERTS", None) if module else os.environ.get("HTTPLIB2_CA_CERTS")
    label = "httplib2.CA_CERTS" if module else "HTTPLIB2_CA_CERTS (read at import)"
    if value in view.ours:
        return [ClientTrust("httplib2", f"{label}: {os.path.basename(str(value))}", True)]
    if value:
        return [ClientTrust("httplib2", f"{label}: {value}", False, "pinned to a file of its own")]
    return [ClientTrust("httplib2", "certifi", False, "nothing added" if not view.ours else "unset")]


def _module() -> list[object]:
    module = sys.modules.get("httplib2")
    return [module] if module is not None and isinstance(getattr(module, "CA_CERTS", None), str) else []


FAMILY = Family(
    name="httplib2",
    order=50,
    variables=(CaVariable("HTTPLIB2_CA_CERTS", "httplib2", _base),),
    rows=_rows,
    ca_paths=(CaPath("httplib2.CA_CERTS", _module, "CA_CERTS", "HTTPLIB2_CA_CERTS"),),
)
