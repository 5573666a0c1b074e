"""Trust files on disk: the per-user directory, base roots, atomic PEM writes, file lifetimes.

In [1]: from sly_nb_tls._bundle import BaseRoots, TrustFiles, user_dir
In [2]: base = BaseRoots.collect({"SSL_CERT_FILE": "/etc/ssl/certs/ca-certificates.crt"})
In [3]: len(base.blocks), base.files
Out[3]: (146, ['/…/certifi/cacert.pem', '/usr/lib/ssl/cert.pem', '/etc/ssl/certs/ca-certificates.crt'])
In [4]: TrustFiles().paths()                   # this process's bundle and extras-only file
Out[4]: (PosixPath('/home/me/.cache/sly-nb-tls/bundle-4242-9f3a….pem'), PosixPath('…/extra-4242-9f3a….pem'))

Why a merged file at all: every variable that Python clients read
(``REQUESTS_CA_BUNDLE``, ``SSL_CERT_FILE``, ``CURL_CA_BUNDLE``) *replaces*
trust; pointing one at the private root alone would drop every public root.

File names carry the PID of the process that owns them, so two kernels never
overwrite each other's bundle, and a forked child (which inherits the parent's
memory) picks new names instead of rewriting the parent's files.  A file is
deleted only when no live process may still read it: on Linux, when no
process's environment names it (children started after `add` inherit the
path); elsewhere that cannot be told, so files are kept.
"""

from __future__ import annotations

import os
import re
import secrets
import socket
import stat
import tempfile
from collections.abc import Iterable, Mapping, Set
from dataclasses import dataclass, field
from pathlib import Path

from ._errors import StorageError
from ._pem import certificate_blocks

__all__ = [
    "DIR_ENV",
    "BaseRoots",
    "TrustFiles",
    "named_by_live_process",
    "prune_stale_files",
    "save_pem",
    "user_dir",
    "write_pem_file",
]

#: Tests and unusual setups can point the per-user directory elsewhere.
DIR_ENV = "SLY_NB_TLS_DIR"

_MAX_BASE_FILE = 64 * 1024 * 1024
_OWNED_NAME = re.compile(r"^(?:bundle|extra)-(?P<host>[A-Za-z0-9.]+)-(?P<pid>\d+)-[0-9a-f]+\.pem$")


def _host() -> str:
    """This machine's name as it goes into file names: a home directory shared between machines
    (NFS, JupyterHub pods) holds other machines' files, whose PIDs mean nothing here."""
    return re.sub(r"[^A-Za-z0-9.]", "_", socket.gethostname()) or "host"


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
    if mode & (stat.S_IWGRP | stat.S_IWOTH):
        if configured:
            raise StorageError(
                f"{path} is writable by other users (mode {mode:04o}); others could plant a CA there. "
                f"Use a private directory in {DIR_ENV}, or: chmod go-w {path}"
            )
        os.chmod(path, 0o700)  # our own default directory: make it private again
    return path


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
            for sha, block in certificate_blocks(data):
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


def save_pem(target: str, data: bytes, overwrite: bool) -> Path:
    """Write certificates the user asked to keep (`fetch --save`); never clobber other content."""
    from ._certs import resolve_path

    path = resolve_path(target)
    if path.is_dir():
        raise StorageError(f"{path}: is a directory; give a file name to save the chain to")
    if path.exists() and not overwrite and path.read_bytes() != data:
        raise StorageError(f"{path}: already exists with other content; choose another name or pass --overwrite")
    if not path.parent.is_dir():
        raise StorageError(f"{path.parent}: no such directory")
    try:
        write_pem_file(path, data)
    except PermissionError:
        raise StorageError(f"{path}: permission denied") from None
    return path


def named_by_live_process(paths: Iterable[Path], *, this_process: bool = True) -> set[Path] | None:
    """Which of `paths` some live process's environment names; None where that cannot be told.

    A process started after `add` inherits the variables and may open the
    file at any time, so such a file must outlive this kernel.  Linux shows
    every process's initial environment in /proc (our own later changes live
    in os.environ, checked too unless `this_process` is False: at exit ours
    no longer matters).  Processes of other users cannot read our 0700
    directory, so their unreadable environments do not matter.
    """
    wanted = {p: os.fsencode(str(p)) for p in paths}
    ours = set(os.environ.values()) if this_process else set()
    named = {p for p in wanted if str(p) in ours}
    if not os.path.isdir("/proc/self"):
        return None
    try:
        pids = [e for e in os.listdir("/proc") if e.isdigit()]
    except OSError:
        return None
    for pid in pids:
        try:
            with open(f"/proc/{pid}/environ", "rb") as fh:
                environ = fh.read()
        except OSError:
            continue  # gone, or another user's
        if _is_our_child(pid):
            # Our own children may read the files whatever /proc shows: a forked one (a
            # multiprocessing pool) inherited os.environ but /proc shows the environment its
            # image started with, and one caught between exec and its new environment reads
            # as empty.  While any lives, keep everything; a later change retries.
            return set(wanted)
        for path, raw in wanted.items():
            if path not in named and raw in environ:
                named.add(path)
    return named


def _is_our_child(pid: str) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat_line = fh.read()
    except OSError:
        return False
    # "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last ")".
    fields = stat_line.rsplit(b")", 1)[-1].split()
    return len(fields) > 1 and fields[1] == str(os.getpid()).encode()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return True  # cannot tell: keep its files
    return True


def delete_unused(paths: Iterable[Path], *, this_process: bool = True) -> list[Path]:
    """Delete those of `paths` that no live process may read; returns what was deleted."""
    candidates = [p for p in paths if p.exists()]
    if not candidates:
        return []
    named = named_by_live_process(candidates, this_process=this_process)
    if named is None:
        return []  # cannot tell who reads them: keep them
    deleted = []
    for path in candidates:
        if path in named:
            continue
        try:
            path.unlink()
            deleted.append(path)
        except FileNotFoundError:
            pass
    return deleted


def prune_stale_files(directory: Path) -> list[Path]:
    """Delete files of processes that no longer run, unless a live process still names them."""
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    stale = []
    for name in names:
        m = _OWNED_NAME.match(name)
        if m is None or m.group("host") != _host():
            continue  # another machine's (or an older version's): not ours to judge
        if int(m.group("pid")) != os.getpid() and not _pid_alive(int(m.group("pid"))):
            stale.append(directory / name)
    return delete_unused(stale)


class TrustFiles:
    """This process's two trust files: the merged bundle and the extras-only file.

    Names are ``bundle-<host>-<pid>-<random>.pem`` / ``extra-<host>-<pid>-<random>.pem``.
    A forked child gets new names on first use: the PID check below notices
    the fork even without an at-fork hook.
    """

    def __init__(self) -> None:
        self._paths: tuple[Path, Path] | None = None
        self._owner = 0
        #: files released while a live process still named them: deleted once none does
        self._kept: list[Path] = []

    def paths(self) -> tuple[Path, Path]:
        if self._paths is None or self._owner != os.getpid():
            directory = user_dir()
            prune_stale_files(directory)
            self._retry_kept()
            tag = f"{_host()}-{os.getpid()}-{secrets.token_hex(4)}"
            self._paths = (directory / f"bundle-{tag}.pem", directory / f"extra-{tag}.pem")
            self._owner = os.getpid()
        return self._paths

    @property
    def current(self) -> tuple[Path, Path] | None:
        """The paths this process owns, if it made any (a forked child owns none yet)."""
        return self._paths if self._owner == os.getpid() else None

    def write(self, merged: bytes, extras: bytes) -> tuple[Path, Path]:
        merged_path, extras_path = self.paths()
        write_pem_file(merged_path, merged)
        write_pem_file(extras_path, extras)
        return merged_path, extras_path

    def release(self, *, exiting: bool = False) -> list[Path]:
        """Forget this process's files; delete those no live process may still read, keep the rest for later.

        `exiting`: this process is ending, so its own environment no longer counts as a reader.
        """
        owned, self._paths = self.current, None
        if owned:
            self._kept.extend(owned)
        return self._retry_kept(this_process=not exiting)

    def _retry_kept(self, this_process: bool = True) -> list[Path]:
        deleted = delete_unused(self._kept, this_process=this_process)
        self._kept = [p for p in self._kept if p not in deleted and p.exists()]
        return deleted

    def forget_after_fork(self) -> None:
        """In a forked child: the parent's files are the parent's, never ours to touch."""
        self._paths, self._owner, self._kept = None, 0, []
