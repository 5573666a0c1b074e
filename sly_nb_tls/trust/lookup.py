"""Which registered certificates a `remove` target names."""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING

from ..errors import CertificateSourceError, UnknownCertificateError

if TYPE_CHECKING:
    from .._certs import TrustedCertificate

__all__ = ["find_registered"]

_HEX = re.compile(r"[0-9a-f]+")


def find_registered(
    extras: dict[str, TrustedCertificate],
    origins: dict[str, set[str]],
    target: TrustedCertificate | str | os.PathLike[str],
) -> list[TrustedCertificate]:
    """The registered certificates `target` names: a certificate, a SHA-256 prefix of at least 8 hex
    digits (colons allowed), or a path (what that file contributed, or the certificates in it)."""
    from .._sources import read_sources, resolve_path

    if not isinstance(target, (str, os.PathLike)) and hasattr(target, "sha256"):
        # a Certificate, or a certificate read from an installed store (parsed on first use)
        found = _named(extras, target.sha256)
        if not found:
            raise UnknownCertificateError(f"{target.common_name} is not registered")
        return found
    assert isinstance(target, (str, os.PathLike))
    text = os.fspath(target).strip()
    hexed = text.replace(":", "").lower()
    if _HEX.fullmatch(hexed) and len(hexed) >= 8 and not os.path.exists(text):
        # An equivalent anchor is named by its own fingerprint or by that of the root it stands for.
        matches = [c for sha, c in extras.items() if sha.startswith(hexed) or _original(c).startswith(hexed)]
        if len(matches) == 1:
            return matches
        if not matches:
            raise UnknownCertificateError(
                f"{text}: no registered certificate has this fingerprint; registered: {_listing(extras)}"
            )
        raise UnknownCertificateError(
            f"{text}: matches {len(matches)} certificates; give more digits: "
            + ", ".join(c.short_fingerprint for c in matches)
        )
    if _HEX.fullmatch(hexed) and len(hexed) < 8 and not os.path.exists(text):
        raise UnknownCertificateError(
            f"{text}: a fingerprint prefix needs at least 8 hex digits; registered: {_listing(extras)}"
        )
    label = str(resolve_path(text))
    by_origin = [extras[sha] for sha, origins in origins.items() if label in origins and sha in extras]
    if by_origin:
        return by_origin
    try:
        loaded = read_sources([text], as_is=True)  # the file's own certificates, or the roots an extra stands for
    except CertificateSourceError as exc:
        raise UnknownCertificateError(f"{exc}; nothing was removed") from None
    found = list({id(e): e for c in loaded.certificates for e in _named(extras, c.sha256)}.values())
    if not found:
        raise UnknownCertificateError(
            f"{label}: none of its certificates is registered; registered: {_listing(extras)}"
        )
    return found


def _original(cert: TrustedCertificate) -> str:
    """The fingerprint of the root an equivalent anchor stands for (`_anchors`); "" for any other."""
    return str(getattr(cert, "original_sha256", ""))


def _named(extras: dict[str, TrustedCertificate], sha256: str) -> list[TrustedCertificate]:
    """The registered certificate with this fingerprint, or the equivalent anchors standing for it."""
    if sha256 in extras:
        return [extras[sha256]]
    return [c for c in extras.values() if _original(c) == sha256]


def _listing(extras: dict[str, TrustedCertificate]) -> str:
    if not extras:
        return "none"
    return ", ".join(f"{c.common_name} ({c.short_fingerprint})" for c in extras.values())
