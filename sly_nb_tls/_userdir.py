"""The per-user directory that holds trust files and caches, checked before every write."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from .errors import StorageError

__all__ = ["DIR_ENV", "cache_dir", "user_dir"]

#: Tests and unusual setups can point the per-user directory elsewhere.
DIR_ENV = "SLY_NB_TLS_DIR"


def user_dir() -> Path:
    """The per-user directory for trust files, checked before every write.

    Never the shared temp directory: another user could pre-create a file
    there and have us trust their CA.  A directory the user named in
    ``SLY_NB_TLS_DIR`` is used as it is (never chmod-ed: it may be shared on
    purpose), but refused if others could write to it.
    """
    configured = os.environ.get(DIR_ENV)
    if configured:
        path = Path(configured)
    elif os.name == "nt":
        path = Path(os.environ.get("LOCALAPPDATA") or Path.home()) / "sly-nb-tls"
    else:
        cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        path = Path(cache) / "sly-nb-tls"
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageError(f"{path}: cannot create the directory for trust files ({exc.strerror or exc})") from None
    if os.name == "nt":
        return path
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
        raise StorageError(f"{path} is not a plain directory; refusing to write trust files there")
    if st.st_uid != os.getuid():
        raise StorageError(f"{path} belongs to another user; refusing to write trust files there")
    mode = stat.S_IMODE(st.st_mode)
    if configured and mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise StorageError(
            f"{path} is writable by other users (mode {mode:04o}); others could plant a CA there. "
            f"Use a private directory in {DIR_ENV}, or: chmod go-w {path}"
        )
    if not configured and mode != 0o700:
        os.chmod(path, 0o700)  # our own default directory: private again, whatever made it otherwise
    return path


def cache_dir() -> Path:
    """``cache`` in the per-user directory: what is costly to compute and safe to lose (a JDK's roots
    read by keytool, encoded truststores).  No process ever names a file in it, so any may go."""
    path = user_dir() / "cache"
    try:
        path.mkdir(mode=0o700, exist_ok=True)
    except OSError as exc:
        raise StorageError(f"{path}: cannot create the cache directory ({exc.strerror or exc})") from None
    return path
