"""Every defect visible in the presented chain, as warnings: validity, names, 3.13's strict checks, a missing root.

Pure functions, no sockets.  `.problem` is what a verifying client hits first;
whatever else is wrong with the chain the server presents is said here.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .._certs import Certificate
    from .issuers import Completion

__all__ = ["chain_warnings", "missing_root_warning", "names_match", "strict_warnings"]


def names_match(host: str, names: tuple[str, ...]) -> bool:
    """Does a certificate naming `names` cover `host` (exact, one-label wildcard, or IP)?"""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    for name in names:
        if ip is not None:
            try:
                if ipaddress.ip_address(name) == ip:
                    return True
            except ValueError:
                continue
            continue
        n, h = name.lower().rstrip("."), host.lower().rstrip(".")
        if n == h:
            return True
        if n.startswith("*.") and "." in h and h.split(".", 1)[1] == n[2:]:
            return True
    return False


def chain_warnings(host: str, chain: list[Certificate], problem: str | None) -> list[str]:
    """Every defect visible in the presented chain that is not already `.problem`."""
    out: list[str] = []
    if not chain:
        return out
    now = dt.datetime.now(dt.timezone.utc)
    leaf = chain[0]
    if problem != "expired" and leaf.not_after < now:
        out.append(f'the server\'s certificate "{leaf.common_name}" expired on {leaf.not_after:%Y-%m-%d}')
    elif problem != "not_yet_valid" and leaf.not_before > now:
        out.append(f'the server\'s certificate "{leaf.common_name}" is not valid until {leaf.not_before:%Y-%m-%d}')
    elif leaf.expires_soon(now):
        out.append(f'the server\'s certificate "{leaf.common_name}" expires soon, on {leaf.not_after:%Y-%m-%d}')
    if problem != "hostname_mismatch" and not names_match(host, leaf.names):
        out.append(
            f'the server\'s certificate is not valid for "{host}"; it names: {", ".join(leaf.names) or "no names"}'
        )
    for cert in chain[1:]:
        if cert.not_after < now:
            out.append(f'CA certificate "{cert.common_name}" in the chain expired on {cert.not_after:%Y-%m-%d}')
    return out


def strict_warnings(chain: list[Certificate]) -> list[str]:
    """On Python 3.10–3.12: the defects 3.13's strict checks will reject, per certificate."""
    if sys.version_info >= (3, 13):
        return []
    return [
        f'Python 3.13+ will reject this chain: "{cert.common_name}" has '
        + "; ".join(cert.strict_defects)
        + " (this Python accepts it)"
        for cert in chain
        if cert.strict_defects
    ]


def missing_root_warning(chain: list[Certificate], completion: Completion | None = None) -> list[str]:
    """The server does not send its root: say where it was found, or that it was not."""
    top = chain[-1] if chain else None
    if top is None or top.self_signed or not top.is_ca:
        return []
    root = completion.root if completion is not None else None
    if root is not None and root.source != "presented":
        return [
            f'the server does not send its root CA "{root.common_name}"; found it: {root.source} '
            "(--save writes it, for you to check and add)"
        ]
    return [
        f'the server does not send its root CA "{top.issuer_common_name}"; trusting only the intermediate '
        "works on Python 3.13+ only: ask your admin for the root certificate"
    ]
