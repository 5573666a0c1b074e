"""This machine's trust stores: OpenSSL's file and directory, certifi, conda's, the keychain, Windows'."""

from __future__ import annotations

import os
import re
import ssl
import subprocess
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from .._pem import certificate_ders

__all__ = ["HASHED_NAME", "keychain_certificates", "store_sources", "system_store_files", "windows_certificates"]

#: the names OpenSSL gives the files of a hashed directory (c_rehash): 8 hex digits, a dot, a number
HASHED_NAME = re.compile(r"^[0-9a-f]{8}\.r?\d+$")


def keychain_certificates(run: Callable[..., Any] = subprocess.run) -> list[tuple[bytes, str]]:
    """macOS: every certificate in the keychains, as (DER, "keychain"). Unit-tested with recorded output."""
    out: list[tuple[bytes, str]] = []
    keychains = ["/Library/Keychains/System.keychain",
                 "/System/Library/Keychains/SystemRootCertificates.keychain"]  # fmt: skip
    for args in (["security", "find-certificate", "-a", "-p"], *(["security", "find-certificate", "-a", "-p", k]
                                                                 for k in keychains)):  # fmt: skip
        try:
            done = run(args, capture_output=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            continue
        out += [(der, "keychain") for der in certificate_ders(done.stdout or b"")]
    return out


def windows_certificates(
    enum: Callable[[str], Iterable[tuple[bytes, str, Any]]] | None = None,
) -> list[tuple[bytes, str]]:
    """Windows: the ROOT and CA system stores, as (DER, "windows:ROOT" or "windows:CA")."""
    enum = enum or getattr(ssl, "enum_certificates", None)
    if enum is None:
        return []
    out = []
    for store in ("ROOT", "CA"):
        try:
            items = list(enum(store))
        except OSError:
            continue
        out += [(der, f"windows:{store}") for der, encoding, _trust in items if encoding == "x509_asn"]
    return out


def store_sources(before: Iterable[str] = (), ours: Iterable[str] = ()) -> list[tuple[str, str]]:
    """(path, source label) of every certificate file and hashed directory on this machine to search.

    `before`: files the CA variables named before `add` (our own bundle hides them after).
    `ours`: the files sly_nb_tls wrote, which ``SSL_CERT_FILE`` may name now: not a store.
    """
    paths = ssl.get_default_verify_paths()
    out: list[tuple[str, str]] = []
    seen: set[str] = {os.path.realpath(p) for p in ours}

    def add(path: str | None, label: str) -> None:
        if path and os.path.exists(path) and os.path.realpath(path) not in seen:
            seen.add(os.path.realpath(path))
            out.append((path, label))

    for candidate in (paths.cafile, paths.openssl_cafile):
        add(candidate, f"file:{candidate}")
    for candidate in (paths.capath, paths.openssl_capath):
        if candidate and os.path.isdir(candidate):
            add(candidate, f"dir:{candidate}")
    try:
        import certifi

        add(certifi.where(), "certifi")
    except ImportError:  # pragma: no cover - certifi is a dependency
        pass
    for candidate in before:
        add(candidate, f"file:{candidate}")
    conda = os.environ.get("CONDA_PREFIX")
    if conda:
        add(os.path.join(conda, "ssl", "cacert.pem"), f"file:{os.path.join(conda, 'ssl', 'cacert.pem')}")
    return out


def system_store_files(ours: Iterable[str] = ()) -> list[str]:
    """The system trust store as files `add --system` can register: OpenSSL's default file
    and the hashed files of its directory (``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` honoured,
    except where ``SSL_CERT_FILE`` names `ours`, the bundle sly_nb_tls wrote)."""
    paths = ssl.get_default_verify_paths()
    skip = {os.path.realpath(p) for p in ours}
    files: list[str] = []
    for candidate in dict.fromkeys((paths.cafile, paths.openssl_cafile)):
        if candidate and os.path.isfile(candidate) and os.path.realpath(candidate) not in skip:
            files.append(candidate)
            break
    for directory in dict.fromkeys((paths.capath, paths.openssl_capath)):
        if directory and os.path.isdir(directory):
            files += [str(Path(directory) / n) for n in sorted(os.listdir(directory)) if HASHED_NAME.match(n)]
            break
    return files
