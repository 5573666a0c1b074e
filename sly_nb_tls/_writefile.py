"""Atomic writes: readers see the old content or the new, never half, and nothing is clobbered by surprise."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from ._readfile import CERTIFICATE_FILE_LIMIT, NotReadable, read_regular_file
from .errors import StorageError

__all__ = ["save_pem", "write_atomically"]


def write_atomically(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Atomically replace `path` with `data` (`mode`): readers see old or new, never half.

    The temporary file is created in the same directory (so `os.replace` is a
    rename on one filesystem), flushed and fsynced before the rename.
    """
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".pem", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def save_pem(target: str, data: bytes, overwrite: bool) -> Path:
    """Write certificates the user asked to keep (`fetch --save`); never clobber other content."""
    from ._sources import resolve_path  # cryptography: loaded only when something is saved

    path = resolve_path(target)
    try:
        is_dir, exists = path.is_dir(), os.path.lexists(path)
    except OSError as exc:  # a name too long for the file system, a loop
        raise StorageError(f"{path}: cannot be used ({exc.strerror or exc}); nothing was saved") from None
    if is_dir:
        raise StorageError(f"{path}: is a directory; give a file name to save the chain to")
    if exists and not overwrite:
        try:
            same = read_regular_file(path, CERTIFICATE_FILE_LIMIT) == data
        except NotReadable as exc:  # a FIFO would block the read for good
            raise StorageError(f"{path}: already exists and {exc.reason}; choose another name") from None
        if not same:
            raise StorageError(f"{path}: already exists with other content; choose another name or pass --overwrite")
    if not path.parent.is_dir():
        raise StorageError(f"{path.parent}: no such directory")
    try:
        write_atomically(path, data)
    except OSError as exc:
        raise StorageError(f"{path}: cannot be written ({exc.strerror or exc}); nothing was saved") from None
    return path
