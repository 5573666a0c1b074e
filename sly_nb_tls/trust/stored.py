"""Certificates read from an installed store without parsing X.509 (kernel start-up).

`install` checked every certificate with cryptography when it wrote the store;
at start-up only the DER is needed (the bundles, the hooks), and importing
cryptography is half of what start-up would cost.  Each DER is still checked by
OpenSSL itself (a damaged file is skipped, never handed to the hooks).  The
X.509 fields (names, dates, warnings) are parsed on first use, when `status`
shows them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import os
import re
import ssl
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .._pem import certificate_ders, pem_encode
from .._readfile import CERTIFICATE_FILE_LIMIT, NotReadable, read_regular_file

if TYPE_CHECKING:
    from .._certs import Certificate, NameConstraints, TrustedCertificate

__all__ = ["StoredCertificate", "StoredSources", "read_stored", "stored_text"]

#: the line `install` writes above an equivalent anchor's PEM block: which root it stands for (the DER
#: cannot say: its signature is the original's), read back at start without parsing anything
_EQUIVALENT = re.compile(rb"^# sly_nb_tls: equivalent of ([0-9a-f]{64})((?: [\w-]+)*)$", re.M)


def stored_text(cert: TrustedCertificate) -> str:
    """What `install` writes for `cert`: its PEM, after a line naming the root it stands for, if any."""
    original = getattr(cert, "original_sha256", "")
    if not original:
        return cert.pem
    defects = " ".join(_DEFECT_WORDS[d] for d in getattr(cert, "original_defects", ()) if d in _DEFECT_WORDS)
    return f"# sly_nb_tls: equivalent of {original} {defects}".rstrip() + "\n" + cert.pem


#: the strict defects an equivalent corrects, as one word each on the stored line
_DEFECT_WORDS = {
    "basicConstraints is not marked critical": "basic-constraints-not-critical",
    "a CA without a keyUsage extension": "no-key-usage",
    "a CA without a Subject Key Identifier": "no-subject-key-identifier",
}


class StoredCertificate:
    """A certificate known by its DER: `sha256`, `der`, `pem`, `source` at once, the X.509 fields on
    first use.  A `_certs.TrustedCertificate`, as a parsed `Certificate` is."""

    warnings: tuple[str, ...] = ()  # shown by `install` when the store was written

    def __init__(self, der: bytes, source: str) -> None:
        self.der = der
        self.source = source
        self.sha256 = hashlib.sha256(der).hexdigest()
        self._parsed: Certificate | None = None
        #: the root this one is the equivalent anchor of (`install` wrote it above the PEM block)
        self.original_sha256 = ""
        self.original_defects: tuple[str, ...] = ()
        #: what OpenSSL decoded of a CA certificate (`ssl.SSLContext.get_ca_certs`): the start-up's
        #: expiry check and audit line need no parsing then; None for a leaf
        self.decoded: dict[str, object] | None = None

    @property
    def parsed(self) -> Certificate:
        """The certificate parsed by cryptography (once, when a field below is first read)."""
        if self._parsed is None:
            from .._certs import Certificate, load_der_certificate

            parsed = Certificate.from_x509(load_der_certificate(self.der), self.source)
            if self.original_sha256:
                # Its signature is the original's: only what `install` wrote says it is a root.
                parsed = dataclasses.replace(
                    parsed,
                    self_signed=True,
                    original_sha256=self.original_sha256,
                    original_defects=self.original_defects,
                )
            self._parsed = parsed
        return self._parsed

    @property
    def pem(self) -> str:
        return pem_encode(self.der)

    @property
    def common_name(self) -> str:
        return self.parsed.common_name

    @property
    def subject(self) -> str:
        if self._parsed is None and self.decoded is not None:
            return _rfc4514(self.decoded["subject"])
        return self.parsed.subject

    @property
    def issuer(self) -> str:
        if self._parsed is None and self.decoded is not None:
            return _rfc4514(self.decoded["issuer"])
        return self.parsed.issuer

    @property
    def kind(self) -> str:
        if self._parsed is None and self.decoded is not None:
            # A CA (OpenSSL says so); self-issued is as close to "root" as the names tell.
            return "root CA" if self.decoded["subject"] == self.decoded["issuer"] else "intermediate CA"
        return self.parsed.kind

    @property
    def not_after(self) -> dt.datetime:
        if self._parsed is None and self.decoded is not None:
            seconds = ssl.cert_time_to_seconds(str(self.decoded["notAfter"]))
            return dt.datetime.fromtimestamp(seconds, dt.timezone.utc)
        return self.parsed.not_after

    @property
    def fingerprint(self) -> str:
        return self.parsed.fingerprint

    @property
    def vouches_for(self) -> str:
        return self.parsed.vouches_for

    @property
    def equivalent_of(self) -> dict[str, object] | None:
        return self.parsed.equivalent_of if self.original_sha256 else None

    @property
    def name_constraints(self) -> NameConstraints | None:
        return self.parsed.name_constraints

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
            data = read_regular_file(path, CERTIFICATE_FILE_LIMIT)
            ders = certificate_ders(data)
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
            marked = _EQUIVALENT.search(data) if len(ders) == 1 else None
            if marked:
                cert.original_sha256 = marked.group(1).decode()
                words = marked.group(2).decode().split()
                cert.original_defects = tuple(d for d, w in _DEFECT_WORDS.items() if w in words)
            out.origins.setdefault(cert.source, []).append(cert.sha256)
            if cert.sha256 not in seen:
                seen.add(cert.sha256)
                out.certificates.append(cert)
    decoded = dict(zip(checker.get_ca_certs(binary_form=True), checker.get_ca_certs(), strict=True))
    for cert in out.certificates:
        cert.decoded = decoded.get(cert.der)  # type: ignore[assignment]
    return out


#: OpenSSL's long attribute names, as RFC 4514 (and so `Certificate.subject`) writes them
_SHORT_NAMES = {
    "commonName": "CN",
    "countryName": "C",
    "localityName": "L",
    "stateOrProvinceName": "ST",
    "organizationName": "O",
    "organizationalUnitName": "OU",
    "streetAddress": "STREET",
    "domainComponent": "DC",
    "userId": "UID",
}


def _rfc4514(name: object) -> str:
    """A name as `ssl` decodes it (RDNs of (attribute, value) pairs), written as RFC 4514 does: last RDN first."""
    rdns = name if isinstance(name, tuple) else ()
    parts = []
    for rdn in reversed(rdns):
        parts.append("+".join(f"{_SHORT_NAMES.get(k, k)}={_escaped(str(v))}" for k, v in rdn))
    return ",".join(parts)


def _escaped(value: str) -> str:
    out = "".join("\\" + c if c in ',+"\\<>;' else c for c in value)
    if out.startswith(("#", " ")):
        out = "\\" + out
    return out[:-1] + "\\ " if out.endswith(" ") else out
