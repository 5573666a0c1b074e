"""The merged CA bundle: base roots + extra certificates, written atomically.

In [1]: from sly_nb_tls._bundle import BaseRoots, write_pem_file, user_dir
In [2]: base = BaseRoots.collect({"SSL_CERT_FILE": "/etc/ssl/certs/ca-certificates.crt"})
In [3]: len(base.blocks), base.files
Out[3]: (146, ['/…/certifi/cacert.pem', '/usr/lib/ssl/cert.pem', '/etc/ssl/certs/ca-certificates.crt'])

Why a merged file at all: every variable that Python clients read
(``REQUESTS_CA_BUNDLE``, ``SSL_CERT_FILE``, ``CURL_CA_BUNDLE``) *replaces*
trust; pointing one at the private root alone would drop every public root.

The base keeps everything already trusted: certifi's roots, OpenSSL's default
CA file, and whatever file the CA variables pointed at before we touched them.
Certificates are de-duplicated by SHA-256 of their DER without parsing them
(base64 decode only), which keeps re-writing the bundle cheap.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
import stat
import tempfile
from collections.abc import Iterable, Mapping, Set
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["DIR_ENV", "BaseRoots", "pem_blocks", "user_dir", "write_pem_file"]

#: Tests and unusual setups can point the per-user directory elsewhere.
DIR_ENV = "SLY_NB_TLS_DIR"

_CERT_BLOCK = re.compile(rb"-----BEGIN CERTIFICATE-----\s*\n(.*?)\n?-----END CERTIFICATE-----", re.DOTALL)
_MAX_BASE_FILE = 64 * 1024 * 1024


def user_dir() -> Path:
    """The per-user directory for bundle files, created 0700 and checked.

    Never the shared temp directory: another user could pre-create a file
    there and have us trust their CA.
    """
    configured = os.environ.get(DIR_ENV)
    if configured:
        path = Path(configured)
    elif os.name == "nt":
        path = Path(os.environ.get("LOCALAPPDATA") or Path.home()) / "sly-nb-tls"
    else:
        cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        path = Path(cache) / "sly-nb-tls"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if os.name != "nt":
        st = os.lstat(path)
        if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
            raise PermissionError(f"{path} is not a plain directory; refusing to write trust files there")
        if st.st_uid != os.getuid():
            raise PermissionError(f"{path} belongs to another user; refusing to write trust files there")
        if stat.S_IMODE(st.st_mode) != 0o700:
            os.chmod(path, 0o700)
    return path


def pem_blocks(data: bytes) -> list[tuple[str, bytes]]:
    """Every CERTIFICATE block as (sha256 of DER, normalised PEM block)."""
    out = []
    for match in _CERT_BLOCK.finditer(data.replace(b"\r\n", b"\n")):
        body = b"".join(match.group(1).split())
        try:
            der = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            continue  # a broken block in a system bundle is not ours to fix
        out.append((hashlib.sha256(der).hexdigest(), _pem(body)))
    return out


def _pem(b64body: bytes) -> bytes:
    lines = [b64body[i : i + 64] for i in range(0, len(b64body), 64)]
    return b"-----BEGIN CERTIFICATE-----\n" + b"\n".join(lines) + b"\n-----END CERTIFICATE-----\n"


@dataclass
class BaseRoots:
    """What was trusted before any change, as de-duplicated PEM blocks."""

    files: list[str] = field(default_factory=list)
    blocks: dict[str, bytes] = field(default_factory=dict)

    @classmethod
    def collect(cls, original_env: Mapping[str, str | None]) -> BaseRoots:
        import ssl

        candidates: list[str] = []
        try:
            import certifi

            candidates.append(certifi.where())
        except ImportError:  # pragma: no cover - certifi is a dependency
            pass
        paths = ssl.get_default_verify_paths()
        candidates.append(paths.openssl_cafile)
        candidates.extend(v for v in original_env.values() if v)
        base = cls()
        for candidate in candidates:
            base.add_path(candidate)
        return base

    def add_path(self, candidate: str, exclude: Set[str] = frozenset()) -> bool:
        """Fold a file (or a directory of PEM files) into the base; False if unreadable.

        Certificates whose fingerprint is in `exclude` are left out: a bundle that
        someone built from ours holds our extras, and those must stay removable.
        """
        path = os.path.realpath(candidate)
        if path in self.files:
            return True
        if os.path.isdir(path):
            names = [os.path.join(path, n) for n in sorted(os.listdir(path))]
            files = [n for n in names if os.path.isfile(n)]
        elif os.path.isfile(path):
            files = [path]
        else:
            return False
        for name in files:
            try:
                if os.path.getsize(name) > _MAX_BASE_FILE:
                    continue
                with open(name, "rb") as fh:
                    data = fh.read()
            except OSError:
                continue
            for sha, block in pem_blocks(data):
                if sha not in exclude:
                    self.blocks.setdefault(sha, block)
        self.files.append(path)
        return True

    def merged_with(self, extras: Iterable[tuple[str, bytes]]) -> bytes:
        blocks = dict(self.blocks)
        for sha, block in extras:
            blocks.setdefault(sha, block)
        return b"".join(blocks.values())


def write_pem_file(path: Path, data: bytes) -> None:
    """Atomically replace `path` with `data` (0644): readers see old or new, never half.

    The temporary file is created in the same directory (so `os.replace` is a
    rename on one filesystem), flushed and fsynced before the rename.
    """
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".pem", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
