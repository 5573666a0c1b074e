"""The one bounded read of a path a user (or an admin, or an env file) named: regular files only, capped."""

from __future__ import annotations

import os
import stat

__all__ = ["CERTIFICATE_FILE_LIMIT", "NotReadable", "read_regular_file"]

#: Certificate files larger than this are refused before they are read.  The largest real
#: trust bundles (Mozilla's, a corporate export of every internal CA) are well under 2 MB,
#: so 16 MiB leaves room without letting a wrong path (a dataset, a video) be slurped in.
CERTIFICATE_FILE_LIMIT = 16 * 1024 * 1024


class NotReadable(Exception):
    """The path names no regular file within the size limit; `reason` says why in a few words."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def read_regular_file(path: str | os.PathLike[str], limit: int, *, follow: bool = True) -> bytes:
    """The bytes of `path`, if it is a regular file of at most `limit` bytes; else `NotReadable`.

    ``follow=False``: a symbolic link is refused, not followed.

    A FIFO would block `open` or `read` for good and ``/dev/zero`` never ends, so the
    file is opened non-blocking (which never waits for a FIFO's writer) and checked with
    `fstat` on the open descriptor: a check on the name could be raced by a swap.
    """
    try:
        # O_NONBLOCK does not exist on Windows (which has no FIFOs to wait on); O_BINARY exists only there.
        flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
        fd = os.open(path, flags if follow else flags | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        raise NotReadable("no such file") from None
    except PermissionError:
        raise NotReadable("permission denied") from None
    except OSError as exc:
        raise NotReadable(f"cannot be read ({exc.strerror or exc})") from None
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise NotReadable("is a directory")
        if not stat.S_ISREG(st.st_mode):
            raise NotReadable("not a regular file (a pipe, a device or a socket)")
        if st.st_size > limit:
            raise NotReadable(f"{st.st_size / 1048576:.1f} MiB is larger than the {_size(limit)} limit")
        chunks, total = [], 0
        while total <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        if total > limit:  # it grew while we read
            raise NotReadable(f"larger than the {_size(limit)} limit")
        return b"".join(chunks)
    except OSError as exc:
        raise NotReadable(f"cannot be read ({exc.strerror or exc})") from None
    finally:
        os.close(fd)


def _size(limit: int) -> str:
    return f"{limit // 1048576} MiB" if limit >= 1048576 else f"{limit // 1024} KiB"
