"""The `Certificate` value object: one X.509 certificate, parsed once by `cryptography`, shown as text and HTML.

Its fields are read once, when it is made (`Certificate.from_x509`), and its
warnings (expiry, a leaf where a CA is expected, what Python 3.13's strict
checks reject) are worked out then.  `TrustedCertificate` is what the rest of
the package may read of one; `_sources` makes them from what users give.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtensionOID, NameOID

from ._expiry import EXPIRY_WARNING_DAYS, expires_within, expiry_warning
from ._pem import pem_encode
from ._render import Rendered, html_table, text_table, visible

__all__ = [
    "EXPIRY_WARNING_DAYS",
    "Certificate",
    "NameConstraints",
    "TrustedCertificate",
    "expires_within",
    "expiry_warning",
    "load_der_certificate",
    "readable_extensions",
    "strict_x509_defects",
]


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def readable_extensions(cert: x509.Certificate) -> tuple[x509.Extensions, str]:
    """(the certificate's extensions, "" ) — or (none, why) where cryptography cannot read them.

    OpenSSL loads and serves certificates that cryptography refuses to parse (a SAN with an
    x400Address, a duplicated extension); such a certificate is still shown and trusted, with
    its extensions left unread and a warning, never a traceback.
    """
    try:
        return cert.extensions, ""
    except (ValueError, x509.UnsupportedGeneralNameType, x509.DuplicateExtension) as exc:
        return x509.Extensions([]), f"its extensions cannot be read ({type(exc).__name__}: {_short(exc)})"


@dataclass(frozen=True)
class NameConstraints:
    """A CA's nameConstraints: where it may vouch (`permitted`) and where it may not (`excluded`)."""

    permitted: tuple[str, ...] = ()
    excluded: tuple[str, ...] = ()

    def __str__(self) -> str:
        parts = [f"only {', '.join(self.permitted)}"] if self.permitted else []
        parts += [f"never {', '.join(self.excluded)}"] if self.excluded else []
        return "; ".join(parts) or "an empty nameConstraints extension"


def strict_x509_defects(cert: x509.Certificate) -> list[str]:
    """What Python 3.13's ``VERIFY_X509_STRICT`` (OpenSSL's RFC 5280 checks) rejects.

    Mirrors OpenSSL 3's ``check_extensions`` for the defects private CAs
    actually have; the connection test confirms it with a real handshake.
    """
    defects: list[str] = []
    exts, unreadable = readable_extensions(cert)
    if unreadable:
        return defects

    def has(oid: x509.ObjectIdentifier) -> x509.Extension[x509.ExtensionType] | None:
        try:
            return exts.get_extension_for_oid(oid)
        except x509.ExtensionNotFound:
            return None

    bc = has(ExtensionOID.BASIC_CONSTRAINTS)
    is_ca = bool(bc and isinstance(bc.value, x509.BasicConstraints) and bc.value.ca)
    self_issued = cert.issuer == cert.subject
    if is_ca and bc is not None and not bc.critical:
        defects.append("basicConstraints is not marked critical")
    if is_ca and has(ExtensionOID.KEY_USAGE) is None:
        defects.append("a CA without a keyUsage extension")
    if is_ca and has(ExtensionOID.SUBJECT_KEY_IDENTIFIER) is None:
        defects.append("a CA without a Subject Key Identifier")
    if not self_issued and has(ExtensionOID.AUTHORITY_KEY_IDENTIFIER) is None:
        defects.append("no Authority Key Identifier")
    return defects


#: each strict defect an equivalent anchor corrects (`_anchors`), said as its correction
_CORRECTED = {
    "basicConstraints is not marked critical": "basicConstraints made critical",
    "a CA without a keyUsage extension": "keyUsage added",
    "a CA without a Subject Key Identifier": "SKI added",
}


@dataclass(frozen=True, eq=False, repr=False)
class Certificate(Rendered):
    """One X.509 certificate, with what a user needs to judge it.

    Equal (and hashed) by SHA-256 fingerprint of the DER encoding.
    """

    subject: str
    issuer: str
    common_name: str
    issuer_common_name: str
    not_before: dt.datetime
    not_after: dt.datetime
    sha256: str
    is_ca: bool
    self_signed: bool
    names: tuple[str, ...]
    der: bytes = field(repr=False)
    source: str = ""
    warnings: tuple[str, ...] = ()
    strict_defects: tuple[str, ...] = ()
    #: SHA-256 of the SubjectPublicKeyInfo: the key, whoever certified it
    spki_sha256: str = ""
    #: Subject and Authority Key Identifiers (hex), where present
    ski: str = ""
    aki: str = ""
    #: Authority Information Access: where the issuer's certificate may be fetched
    ca_issuers: tuple[str, ...] = ()
    #: nameConstraints: the names this CA may vouch for, and those it may not (None: no such extension)
    name_constraints: NameConstraints | None = None
    #: the key identifier computed from the key itself (RFC 5280 method 1), whatever the SKI claims
    key_identifier: str = ""
    #: an equivalent anchor (`_anchors`): the SHA-256 of the root it stands for, and the strict defects it corrects
    original_sha256: str = ""
    original_defects: tuple[str, ...] = ()

    @classmethod
    def from_x509(cls, cert: x509.Certificate, source: str = "") -> Certificate:
        with _quiet_about_old_certificates():
            return cls._from_x509(cert, source)

    @classmethod
    def _from_x509(cls, cert: x509.Certificate, source: str) -> Certificate:
        der = cert.public_bytes(serialization.Encoding.DER)
        extensions, unreadable = readable_extensions(cert)
        try:
            bc = extensions.get_extension_for_class(x509.BasicConstraints).value
            is_ca = bc.ca
        except x509.ExtensionNotFound:
            # OpenSSL treats a self-signed v1 certificate (no extensions) as a CA.
            is_ca = cert.version == x509.Version.v1 and cert.subject == cert.issuer
        self_signed = False
        if cert.subject == cert.issuer:
            try:
                cert.verify_directly_issued_by(cert)
                self_signed = True
            except Exception:  # noqa: BLE001 - any failure means "not self-signed"
                self_signed = False
        try:
            san = extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            names = tuple(
                [str(n) for n in san.get_values_for_type(x509.DNSName)]
                + [str(n) for n in san.get_values_for_type(x509.IPAddress)]
            )
        except x509.ExtensionNotFound:
            names = ()
        except ValueError:
            names = ()
        defects = tuple(strict_x509_defects(cert))
        obj = cls(
            subject=cert.subject.rfc4514_string(),
            issuer=cert.issuer.rfc4514_string(),
            common_name=_common_name(cert.subject),
            issuer_common_name=_common_name(cert.issuer),
            not_before=cert.not_valid_before_utc,
            not_after=cert.not_valid_after_utc,
            sha256=hashlib.sha256(der).hexdigest(),
            is_ca=is_ca,
            self_signed=self_signed,
            names=names,
            der=der,
            source=source,
            strict_defects=defects,
            spki_sha256=_spki_sha256(cert),
            ski=_extension_hex(extensions, x509.SubjectKeyIdentifier, "digest"),
            aki=_extension_hex(extensions, x509.AuthorityKeyIdentifier, "key_identifier"),
            ca_issuers=_ca_issuers(extensions),
            name_constraints=_name_constraints(extensions),
            key_identifier=_key_identifier(cert),
        )
        unread = [f"{visible(obj.common_name)}: {unreadable}"] if unreadable else []
        object.__setattr__(obj, "warnings", tuple(unread + obj._own_warnings()))
        return obj

    # -- derived views -------------------------------------------------
    @property
    def pem(self) -> str:
        return pem_encode(self.der)

    @property
    def fingerprint(self) -> str:
        """SHA-256 as colon-separated upper-case pairs, as browsers and openssl show it."""
        return ":".join(self.sha256[i : i + 2] for i in range(0, 64, 2)).upper()

    @property
    def short_fingerprint(self) -> str:
        return self.fingerprint[:23]

    @property
    def kind(self) -> str:
        if self.is_ca:
            return "root CA" if self.self_signed else "intermediate CA"
        return "self-signed leaf" if self.self_signed else "leaf"

    @property
    def vouches_for(self) -> str:
        """Which sites this certificate can vouch for once trusted: its nameConstraints, or any."""
        if not self.is_ca:
            return "only this one server"
        if self.name_constraints is None:
            return "may vouch for any site"
        return str(self.name_constraints)

    def expires_soon(self, now: dt.datetime | None = None, days: int = EXPIRY_WARNING_DAYS) -> bool:
        """Valid now, but not for another `days` days: the one expiry-warning rule."""
        return expires_within(self.not_after, days, now) and self.not_before <= (now or _utcnow())

    def _own_warnings(self) -> list[str]:
        now = _utcnow()
        out: list[str] = []
        name = visible(self.common_name)
        if self.not_after < now:
            out.append(f"{name}: expired on {self.not_after:%Y-%m-%d}")
        elif self.not_before > now:
            out.append(f"{name}: not valid until {self.not_before:%Y-%m-%d}")
        if not self.is_ca:
            out.append(
                f"{name}: not a CA certificate; it is trusted only as this exact server "
                "certificate, and stops working when the server's certificate is renewed"
            )
        if self.strict_defects:
            out.append(f"{name}: Python 3.13+ strict X.509 checks reject it (" + "; ".join(self.strict_defects) + ")")
        return out

    # -- equality by fingerprint ---------------------------------------
    def __eq__(self, other: object) -> bool:
        return isinstance(other, Certificate) and other.sha256 == self.sha256

    def __hash__(self) -> int:
        return hash(self.sha256)

    # -- rendering ------------------------------------------------------
    @property
    def equivalent_of(self) -> dict[str, object] | None:
        """An equivalent anchor's original: its SHA-256 and what was corrected (`_anchors`); None for any other."""
        if not self.original_sha256:
            return None
        return {"sha256": self.original_sha256, "corrected": list(self.original_defects)}

    @property
    def corrections(self) -> str:
        """What an equivalent anchor corrected in its original, in a few words ("" for any other)."""
        return ", ".join(_CORRECTED.get(d, d) for d in self.original_defects)

    def summary_row(self) -> list[str]:
        kind = self.kind
        if self.original_sha256:
            kind += f", equivalent of {_colons(self.original_sha256)[:23]}… ({self.corrections})"
        return [
            self.common_name,
            kind,
            f"{self.not_after:%Y-%m-%d}",
            self.short_fingerprint,
            self.vouches_for,
        ]

    def __str__(self) -> str:
        lines = [text_table(["field", "value"], self._fields())]
        lines += [f"  ! {w}" for w in self.warnings]
        return "\n".join(lines)

    def _fields(self) -> list[tuple[str, str]]:
        rows = [
            ("subject", self.subject),
            ("issuer", self.issuer),
            ("kind", self.kind),
            ("valid", f"{self.not_before:%Y-%m-%d} → {self.not_after:%Y-%m-%d}"),
            ("SHA-256", self.fingerprint),
            ("name constraints", self.vouches_for),
        ]
        if self.names:
            rows.append(("names", ", ".join(self.names)))
        if self.source:
            rows.append(("from", self.source))
        if self.original_sha256:
            rows.append(("equivalent of", f"{_colons(self.original_sha256)} (the same root; {self.corrections})"))
        return rows

    def _repr_html_(self) -> str:
        return html_table(["field", "value"], self._fields(), warnings=self.warnings)

    def _summary(self) -> str:
        return f"{self.common_name} ({self.kind}, SHA-256 {self.short_fingerprint}…)"


class TrustedCertificate(Protocol):
    """What the registry, the results and the panel read of a trusted certificate.

    Both a parsed `Certificate` and `trust.stored.StoredCertificate` (read at kernel start
    without parsing, parsed on first use) are one.
    """

    @property
    def sha256(self) -> str: ...
    @property
    def der(self) -> bytes: ...
    @property
    def pem(self) -> str: ...
    @property
    def source(self) -> str: ...
    @property
    def common_name(self) -> str: ...
    @property
    def subject(self) -> str: ...
    @property
    def issuer(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def vouches_for(self) -> str: ...
    @property
    def name_constraints(self) -> NameConstraints | None: ...
    @property
    def not_after(self) -> dt.datetime: ...
    @property
    def fingerprint(self) -> str: ...
    @property
    def short_fingerprint(self) -> str: ...
    @property
    def warnings(self) -> tuple[str, ...]: ...
    def summary_row(self) -> list[str]: ...


@contextlib.contextmanager
def _quiet_about_old_certificates() -> Iterator[None]:
    """`cryptography` warns (lazily, on first use) about old roots it will stop accepting one day, such as
    negative serials in system stores: whether to trust them is the user's call, and the warning is noise."""
    from cryptography.utils import CryptographyDeprecationWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        yield


def load_der_certificate(der: bytes) -> x509.Certificate:
    with _quiet_about_old_certificates():
        return x509.load_der_x509_certificate(der)


def _extension_hex(extensions: x509.Extensions, kind: type[x509.ExtensionType], field_name: str) -> str:
    try:
        value = getattr(extensions.get_extension_for_class(kind).value, field_name)
    except (x509.ExtensionNotFound, ValueError):
        return ""
    return value.hex() if isinstance(value, bytes) else ""


def _ca_issuers(extensions: x509.Extensions) -> tuple[str, ...]:
    try:
        aia = extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    except (x509.ExtensionNotFound, ValueError):
        return ()
    return tuple(
        str(d.access_location.value)
        for d in aia
        if d.access_method == AuthorityInformationAccessOID.CA_ISSUERS
        and isinstance(d.access_location, x509.UniformResourceIdentifier)
    )


_GENERAL_NAME_KINDS: dict[type, str] = {
    x509.DNSName: "DNS",
    x509.IPAddress: "IP",
    x509.RFC822Name: "email",
    x509.UniformResourceIdentifier: "URI",
    x509.DirectoryName: "dirName",
}


def _shown_name(name: x509.GeneralName) -> str:
    value = name.value
    return value.rfc4514_string() if isinstance(value, x509.Name) else str(value)


def _name_constraints(extensions: x509.Extensions) -> NameConstraints | None:
    try:
        value = extensions.get_extension_for_class(x509.NameConstraints).value
    except (x509.ExtensionNotFound, ValueError):
        return None

    def names(subtrees: Iterable[x509.GeneralName] | None) -> tuple[str, ...]:
        return tuple(f"{_GENERAL_NAME_KINDS.get(type(n), type(n).__name__)}:{_shown_name(n)}" for n in subtrees or ())

    return NameConstraints(names(value.permitted_subtrees), names(value.excluded_subtrees))


def _key_identifier(cert: x509.Certificate) -> str:
    try:
        return x509.SubjectKeyIdentifier.from_public_key(cert.public_key()).digest.hex()
    except (ValueError, TypeError, UnsupportedAlgorithm):  # a key type cryptography does not know
        return ""


def _spki_sha256(cert: x509.Certificate) -> str:
    try:
        spki = cert.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    except (ValueError, UnsupportedAlgorithm):  # a key type cryptography does not know
        return ""
    return hashlib.sha256(spki).hexdigest()


def _common_name(name: x509.Name) -> str:
    attrs = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    if attrs:
        value = attrs[0].value
        return value if isinstance(value, str) else value.decode("utf-8", "replace")
    return name.rfc4514_string() or "(empty name)"


def _colons(sha256: str) -> str:
    return ":".join(sha256[i : i + 2] for i in range(0, 64, 2)).upper()


def _short(exc: Exception) -> str:
    return str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
