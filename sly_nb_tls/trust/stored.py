"""Certificates read from an installed store without parsing X.509 (kernel start-up).

`install` checked every certificate with cryptography when it wrote the store;
at start-up only the DER is needed (the bundles, the hooks), and importing
cryptography is half of what start-up would cost.  Each DER is still checked by
OpenSSL itself (a damaged file is skipped, never handed to the hooks).  The
X.509 fields (names, dates, warnings) are parsed on first use, when `status`
shows them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import ssl
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .._pem import certificate_ders, pem_encode
from .._readfile import CERTIFICATE_FILE_LIMIT, NotReadable, read_regular_file

if TYPE_CHECKING:
    from .._certs import Certificate

__all__ = ["StoredCertificate", "StoredSources", "read_stored"]


class StoredCertificate:
    """A certificate known by its DER: `sha256`, `der`, `pem`, `source` at once, the X.509 fields on
    first use.  A `_certs.TrustedCertificate`, as a parsed `Certificate` is."""

    warnings: tuple[str, ...] = ()  # shown by `install` when the store was written

    def __init__(self, der: bytes, source: str) -> None:
        self.der = der
        self.source = source
        self.sha256 = hashlib.sha256(der).hexdigest()
        self._parsed: Certificate | None = None

    @property
    def parsed(self) -> Certificate:
        """The certificate parsed by cryptography (once, when a field below is first read)."""
        if self._parsed is None:
            from .._certs import Certificate, load_der_certificate

            self._parsed = Certificate.from_x509(load_der_certificate(self.der), self.source)
        return self._parsed

    @property
    def pem(self) -> str:
        return pem_encode(self.der)

    @property
    def common_name(self) -> str:
        return self.parsed.common_name

    @property
    def kind(self) -> str:
        return self.parsed.kind

    @property
    def not_after(self) -> dt.datetime:
        return self.parsed.not_after

    @property
    def fingerprint(self) -> str:
        return self.parsed.fingerprint

    @property
    def short_fingerprint(self) -> str:
        return self.parsed.short_fingerprint

    def summary_row(self) -> list[str]:
        return self.parsed.summary_row()

    def __eq__(self, other: object) -> bool:
        return getattr(other, "sha256", None) == self.sha256

    def __hash__(self) -> int:
        return hash(self.sha256)


@dataclass
class StoredSources:
    """What `read_stored` found: shaped like `_sources.LoadedSources`, plus what it had to skip."""

    certificates: list[StoredCertificate] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    origins: dict[str, list[str]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def read_stored(paths: list[str]) -> StoredSources:
    """The certificates of store files; a file that cannot be read or used is named in `problems`."""
    out = StoredSources()
    seen: set[str] = set()
    checker = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    for path in paths:
        try:
            # An admin's store may hold anything: a FIFO would block the kernel's start for good.
            ders = certificate_ders(read_regular_file(path, CERTIFICATE_FILE_LIMIT))
        except NotReadable as exc:
            out.problems.append(f"{path}: {exc.reason}")
            continue
        if not ders:
            out.problems.append(f"{path}: no certificate in it")
            continue
        for der in ders:
            try:
                checker.load_verify_locations(cadata=der)  # OpenSSL's own check that it is a certificate
            except (ssl.SSLError, ValueError) as exc:
                out.problems.append(f"{path}: not a usable certificate ({exc})")
                continue
            cert = StoredCertificate(der, os.path.realpath(path))
            out.origins.setdefault(cert.source, []).append(cert.sha256)
            if cert.sha256 not in seen:
                seen.add(cert.sha256)
                out.certificates.append(cert)
    return out
