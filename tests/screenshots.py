"""The layout version a committed screenshot was taken at, kept in the PNG itself (a tEXt chunk)."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

KEY = b"sly_nb_tls-panel-layout"
_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    if not data.startswith(_SIGNATURE):
        raise ValueError("not a PNG file")
    out, pos = [], len(_SIGNATURE)
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        out.append((kind, data[pos + 8 : pos + 8 + length]))
        pos += 12 + length
    return out


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def layout_version(path: Path) -> int | None:
    """The panel layout version stamped into `path`; None if it carries none."""
    for kind, body in _chunks(path.read_bytes()):
        key, _, value = body.partition(b"\0")
        if kind == b"tEXt" and key == KEY and value.isdigit():
            return int(value)
    return None


def stamp(path: Path, version: int) -> None:
    """Write `version` into `path` (replacing an earlier stamp), just before the image data ends."""
    kept = [(k, b) for k, b in _chunks(path.read_bytes()) if not (k == b"tEXt" and b.startswith(KEY + b"\0"))]
    text = (b"tEXt", KEY + b"\0" + str(version).encode())
    kept.insert(len(kept) - 1, text)  # before IEND
    path.write_bytes(_SIGNATURE + b"".join(_chunk(k, b) for k, b in kept))
