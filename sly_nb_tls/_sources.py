"""Read certificate sources (paths, directories, PEM text, bytes) into `Certificate`s; no side effects.

A *source* is a path (file or directory; ``~`` and ``$VARS`` expanded, relative
to the current working directory, which in a notebook is the kernel's), PEM
text, or raw bytes (PEM or DER).  Whatever the source, only certificates are
kept: a private key found next to them is reported and dropped, never copied.
All X.509 parsing is done by `cryptography`.
"""

from __future__ import annotations

import base64
import binascii
import errno
import os
import re
import stat
import sys
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs7

from ._certs import Certificate, _short, load_der_certificate
from ._fixes import command, fix
from ._pem import PEM_BEGIN, PEM_BLOCK, Source
from ._readfile import CERTIFICATE_FILE_LIMIT, NotReadable, read_regular_file
from .errors import CertificateSourceError

__all__ = ["MAX_SOURCE_BYTES", "LoadedSources", "Source", "read_sources", "resolve_path"]

MAX_SOURCE_BYTES = CERTIFICATE_FILE_LIMIT

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_KEY_LABELS = ("PRIVATE KEY",)  # RSA/EC/DSA/ENCRYPTED/OPENSSH PRIVATE KEY all end so
_CSR_LABELS = {"CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST"}
_CERT_LABELS = {"CERTIFICATE", "X509 CERTIFICATE"}
_PKCS7_LABELS = {"PKCS7", "CMS"}
_PRIVATE_KEY_WARNING = (
    "{origin} also contains a private key: it was not copied anywhere, "
    "but keep that file secret and share only the certificates"
)


@dataclass
class LoadedSources:
    """The certificates read from some sources, de-duplicated, in order."""

    certificates: list[Certificate] = field(default_factory=list)
    #: file-level warnings (e.g. "also contains a private key"), not per certificate
    warnings: list[str] = field(default_factory=list)
    #: origin label -> fingerprints it contributed (for `remove PATH`)
    origins: dict[str, list[str]] = field(default_factory=dict)


def read_sources(
    sources: Iterable[Source], *, cwd: str | None = None, as_is: bool | Collection[str] = False
) -> LoadedSources:
    """Read every source, or raise `CertificateSourceError` for the first bad one.

    All or nothing: on error, nothing is returned, so the caller changes nothing.  A root that
    strict X.509 checks reject only for its own structure is replaced by its equivalent anchor
    (`_anchors`), with a note naming both, unless `as_is` is true, or names that source (the
    machine's own store, which ``add --system`` trusts as it is).
    """
    out = LoadedSources()
    seen: set[str] = set()
    any_source = False
    for source in sources:
        any_source = True
        origin, certs, warnings = _read_one(source, cwd)
        out.warnings.extend(warnings)
        if not (as_is is True or (not isinstance(as_is, bool) and isinstance(source, str) and source in as_is)):
            certs = _equivalents(certs, out.warnings)
        fps = out.origins.setdefault(origin, [])
        for cert in certs:
            if cert.sha256 not in fps:
                fps.append(cert.sha256)
            if cert.sha256 in seen:
                continue
            seen.add(cert.sha256)
            out.certificates.append(cert)
    if not any_source:
        raise CertificateSourceError("no certificate source given: pass a file, a directory or PEM text")
    return out


def _equivalents(certs: list[Certificate], notes: list[str]) -> list[Certificate]:
    """`certs`, each root strict checks reject for its own structure replaced by its equivalent anchor."""
    from ._anchors import equivalent_anchor

    out = []
    for cert in certs:
        equivalent = equivalent_anchor(cert)
        if equivalent is not None:
            notes.append(equivalent_note(cert, equivalent))
        out.append(equivalent or cert)
    return out


def equivalent_note(original: Certificate, equivalent: Certificate) -> str:
    """The one line that says an equivalent anchor is trusted in place of a root, and why."""
    return (
        f"{original.common_name}: strict X.509 checks (Python 3.13) reject this root ("
        + "; ".join(original.strict_defects)
        + f"); trusting its equivalent anchor SHA-256 {equivalent.short_fingerprint}… in place of "
        f"{original.short_fingerprint}… (the same name, key, validity and constraints, only that corrected; "
        "--as-is keeps the original)"
    )


def resolve_path(text: str, cwd: str | None = None) -> Path:
    """Expand ``~`` and ``$VARS``; relative paths are taken from `cwd` (default: the cwd)."""
    expanded = os.path.expandvars(os.path.expanduser(text))
    path = Path(expanded)
    if not path.is_absolute():
        path = Path(cwd or os.getcwd()) / path
    return path


def _read_one(source: Source, cwd: str | None) -> tuple[str, list[Certificate], list[str]]:
    if isinstance(source, bytes):
        certs, warnings = _parse_bytes(source, "<bytes>")
        return "<bytes>", certs, warnings
    if isinstance(source, os.PathLike):
        source = os.fspath(source)
    if not isinstance(source, str):
        raise TypeError(f"a certificate source must be a path, PEM text or bytes, not {type(source).__name__}")
    if "-----BEGIN" in source:
        certs, warnings = _parse_bytes(source.encode("utf-8"), "<PEM text>")
        return "<PEM text>", certs, warnings
    stripped = source.strip()
    if not stripped:
        raise CertificateSourceError("an empty path was given")
    if _URL.match(stripped):
        raise CertificateSourceError(
            f"{stripped}: this is a URL, not a file; to get the chain a server presents: "
            + fix(
                command("fetch", stripped, save="chain.crt"),
                ", check the fingerprint, then ",
                command("add", "chain.crt"),
            ).render()
        )
    path = resolve_path(stripped, cwd)
    label = str(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        hint = ""
        if "$" in os.path.expandvars(stripped):
            hint = " (an environment variable in it is not set)"
        raise CertificateSourceError(f"{label}: no such file or directory{hint}") from None
    except PermissionError:
        raise CertificateSourceError(f"{label}: permission denied") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise CertificateSourceError(f"{label}: a symbolic link loop") from None
        raise CertificateSourceError(f"{label}: cannot be read ({exc.strerror})") from None
    if stat.S_ISDIR(st.st_mode):
        certs, warnings = _read_directory(path)
        return label, certs, warnings
    data = _read_limited(path)
    certs, warnings = _parse_bytes(data, label)
    return label, certs, warnings


def _read_limited(path: Path) -> bytes:
    try:
        return read_regular_file(path, MAX_SOURCE_BYTES)
    except NotReadable as exc:
        raise CertificateSourceError(f"{path}: {exc.reason}") from None


def _read_directory(path: Path) -> tuple[list[Certificate], list[str]]:
    certs: list[Certificate] = []
    warnings: list[str] = []
    skipped = 0
    try:
        entries = sorted(os.scandir(path), key=lambda e: e.name)
    except PermissionError:
        raise CertificateSourceError(f"{path}: permission denied") from None
    for entry in entries:
        if entry.name.startswith("."):
            continue
        try:
            st = os.stat(entry.path)
        except OSError:
            skipped += 1
            continue
        if not stat.S_ISREG(st.st_mode):
            continue
        try:
            data = _read_limited(Path(entry.path))
            found, notes = _parse_bytes(data, entry.path)
        except CertificateSourceError:
            skipped += 1  # a directory of certs often holds README, keys, CRLs...
            continue
        certs.extend(found)
        warnings.extend(notes)
    if not certs:
        raise CertificateSourceError(f"{path}: a directory with no certificate files in it")
    if skipped:
        warnings.append(f"{path}: {skipped} file(s) in it hold no certificate and were skipped")
    return certs, warnings


def _parse_bytes(data: bytes, origin: str) -> tuple[list[Certificate], list[str]]:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if not data.strip():
        raise CertificateSourceError(f"{origin}: the file is empty")
    if b"-----BEGIN" in data:
        return _parse_pem(data.decode("latin-1").replace("\r\n", "\n").replace("\r", "\n"), origin)
    return _parse_der(data, origin)


def _parse_pem(text: str, origin: str) -> tuple[list[Certificate], list[str]]:
    certs: list[x509.Certificate] = []
    found_key = found_csr = found_crl = False
    blocks = list(PEM_BLOCK.finditer(text))
    begins = PEM_BEGIN.findall(text)
    if len(begins) != len(blocks):
        matched = {m.start() for m in blocks}
        for n, m in enumerate(PEM_BEGIN.finditer(text), 1):
            if m.start() not in matched:
                raise CertificateSourceError(
                    f"{origin}: PEM block #{n} ({m.group(1)}) is truncated: it has no matching END line"
                )
    for n, match in enumerate(blocks, 1):
        label, body = match.group(1), match.group(2)
        if label.endswith(_KEY_LABELS):
            found_key = True
        elif label in _CSR_LABELS:
            found_csr = True
        elif label == "X509 CRL":
            found_crl = True
        elif label in _CERT_LABELS or label == "TRUSTED CERTIFICATE":
            der = _b64(body, origin, n, label)
            if label == "TRUSTED CERTIFICATE":
                der = _first_der_element(der)  # OpenSSL appends trust settings after the cert
            try:
                certs.append(load_der_certificate(der))
            except ValueError as exc:
                raise CertificateSourceError(f"{origin}: PEM block #{n} ({label}) is corrupt: {_short(exc)}") from None
        elif label in _PKCS7_LABELS:
            try:
                certs.extend(pkcs7.load_pem_pkcs7_certificates(match.group(0).encode("ascii")))
            except ValueError as exc:
                raise CertificateSourceError(f"{origin}: PKCS#7 block #{n} is corrupt: {_short(exc)}") from None
    return _finish(certs, origin, found_key=found_key, found_csr=found_csr, found_crl=found_crl)


def _parse_der(data: bytes, origin: str) -> tuple[list[Certificate], list[str]]:
    raw: list[x509.Certificate] = []
    try:
        raw = [load_der_certificate(data)]
    except ValueError:
        try:
            raw = pkcs7.load_der_pkcs7_certificates(data)
        except ValueError:
            pass
    if raw:
        return _finish(raw, origin)
    if _looks_like_pkcs12(data):
        raise CertificateSourceError(
            f"{origin}: this is a PKCS#12 (.p12/.pfx) archive, which usually holds a private key; "
            f"export only the CA certificates: openssl pkcs12 -in {_quote(origin)} -cacerts -nokeys -out chain.crt"
        )
    try:
        serialization.load_der_private_key(data, password=None)
        is_key = True
    except TypeError:  # "password was not given but private key is encrypted"
        is_key = True
    except (ValueError, UnsupportedAlgorithm):
        is_key = False
    if is_key:
        return _finish([], origin, found_key=True)
    try:
        x509.load_der_x509_csr(data)
        is_csr = True
    except ValueError:
        is_csr = False
    if is_csr:  # _finish raises a ValueError subclass, so not inside the try
        return _finish([], origin, found_csr=True)
    if _is_text(data):
        raise CertificateSourceError(
            f"{origin}: no certificate in it: no '-----BEGIN CERTIFICATE-----' block and not DER"
        )
    raise CertificateSourceError(f"{origin}: not a certificate: unrecognised binary data")


def _finish(
    raw: Sequence[x509.Certificate],
    origin: str,
    *,
    found_key: bool = False,
    found_csr: bool = False,
    found_crl: bool = False,
) -> tuple[list[Certificate], list[str]]:
    if not raw:
        if found_key:
            raise CertificateSourceError(
                f"{origin}: this is a private key — never share it; give the CA certificate (chain) instead"
            )
        if found_csr:
            raise CertificateSourceError(
                f"{origin}: this is a certificate signing request (CSR), not a certificate; "
                "ask your admin for the CA certificate chain"
            )
        if found_crl:
            raise CertificateSourceError(f"{origin}: this is a certificate revocation list, not a certificate")
        raise CertificateSourceError(f"{origin}: no certificate in it")
    warnings = [_PRIVATE_KEY_WARNING.format(origin=origin)] if found_key else []
    return [Certificate.from_x509(c, origin) for c in raw], warnings


def _b64(body: str, origin: str, n: int, label: str) -> bytes:
    # Encapsulated headers (RFC 1421 "Proc-Type:") never occur in certificates.
    try:
        return base64.b64decode("".join(body.split()), validate=True)
    except (binascii.Error, ValueError):
        raise CertificateSourceError(f"{origin}: PEM block #{n} ({label}) has a broken base64 body") from None


def _first_der_element(der: bytes) -> bytes:
    if len(der) < 2 or der[0] != 0x30:
        return der
    length = der[1]
    if length < 0x80:
        return der[: 2 + length]
    n = length & 0x7F
    return der[: 2 + n + int.from_bytes(der[2 : 2 + n], "big")]


# PFX ::= SEQUENCE { version INTEGER (3), authSafe ContentInfo(pkcs7-data) ... }
_PKCS7_DATA_OID = bytes.fromhex("06092a864886f70d010701")


def _looks_like_pkcs12(data: bytes) -> bool:
    return data[:1] == b"\x30" and b"\x02\x01\x03" in data[:12] and _PKCS7_DATA_OID in data[:40]


def _is_text(data: bytes) -> bool:
    try:
        data[:4096].decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _quote(path: str) -> str:
    if sys.platform != "win32" and re.fullmatch(r"[\w./~-]+", path):
        return path
    return '"' + path.replace('"', '\\"') + '"'
