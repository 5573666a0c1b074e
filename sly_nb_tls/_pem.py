"""PEM text: the one block pattern and the one encoder, without parsing X.509.

Bundles are read and re-written on every `add`, so this stays cheap: base64
only, no `cryptography` (which `_certs` uses for everything else).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
from typing import Union

__all__ = ["PEM_BEGIN", "PEM_BLOCK", "certificate_blocks", "certificate_ders", "pem_encode"]

#: One whole PEM block; group 1 is the label, group 2 the base64 body.
PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----\s*\n(.*?)\n?-----END \1-----", re.DOTALL)
PEM_BEGIN = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----")
_CERTIFICATE = "CERTIFICATE"
#: What a certificate source may be: a path (file or directory), PEM text, or bytes (PEM or DER).
Source = Union[str, "os.PathLike[str]", bytes]


def pem_encode(der: bytes) -> str:
    """A CERTIFICATE block in the canonical form: 64-character lines, trailing newline."""
    body = base64.b64encode(der).decode("ascii")
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return f"-----BEGIN {_CERTIFICATE}-----\n" + "\n".join(lines) + f"\n-----END {_CERTIFICATE}-----\n"


def certificate_ders(data: bytes) -> list[bytes]:
    """The DER of every CERTIFICATE block in `data` (broken blocks skipped).

    Split on the markers rather than matched with `PEM_BLOCK`: four times faster on a
    system bundle, and kernel start-up reads two of them.
    """
    out = []
    begin, end = f"-----BEGIN {_CERTIFICATE}-----", f"-----END {_CERTIFICATE}-----"
    for chunk in data.decode("latin-1").split(begin)[1:]:
        body, found, _ = chunk.partition(end)
        if not found:
            continue
        try:
            out.append(base64.b64decode("".join(body.split()), validate=True))
        except (binascii.Error, ValueError):
            continue  # a broken block in a system bundle is not ours to fix
    return out


def certificate_blocks(data: bytes) -> list[tuple[str, bytes]]:
    """Every CERTIFICATE block in `data` as (sha256 of its DER, canonical PEM)."""
    return [(hashlib.sha256(der).hexdigest(), pem_encode(der).encode("ascii")) for der in certificate_ders(data)]
