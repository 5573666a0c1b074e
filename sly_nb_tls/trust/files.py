"""Trust files on disk: the per-user directory, one bundle per base, and when each may be deleted.

Why a bundle per base: every CA variable but the additive ones *replaces*
its readers' trust, and each reader trusted something different before (requests
certifi, curl and OpenSSL the system file, git its configured file).  Pointing a
variable at the extras alone would drop the public roots; pointing all of them
at one merged file would give every client the others' roots too.  So each gets
exactly what its readers trusted before, plus the extras.

File names carry the PID of the process that owns them, so two kernels never
overwrite each other's files, and a forked child (which inherits the parent's
memory) picks new names instead of rewriting the parent's files.  `reset`
rewrites the files to their bases and deletes nothing: a process (or a thread)
that read a variable a moment ago must still find its file.  A file is deleted
only at exit or later, when no live process may still read it: on Linux, when
no process's environment names it (children started after `add` inherit the
path); elsewhere that cannot be told, so files are kept.
"""

from __future__ import annotations

import os
import re
import secrets
import socket
from collections.abc import Iterable, Mapping
from pathlib import Path

from .._userdir import DIR_ENV, user_dir
from .._writefile import write_atomically

__all__ = [
    "DIR_ENV",
    "TrustFiles",
    "named_by_live_process",
    "prune_stale_files",
    "user_dir",
    "written_by",
]

_OWNED_NAME = re.compile(
    r"^(?:bundle|extra|wgetrc|truststore)-(?P<host>[A-Za-z0-9._]+)-(?P<pid>\d+)-[0-9a-f]+(?:-[0-9a-f]+)?(?:\.pem|\.p12)?$"
)


def written_by(path: str) -> int | None:
    """The PID of the process on this machine that wrote `path`, when it is one of our trust files."""
    m = _OWNED_NAME.match(os.path.basename(path))
    if m is None or m.group("host") != _host():
        return None
    return int(m.group("pid"))


def _host() -> str:
    """This machine's name as it goes into file names: a home directory shared between machines
    (NFS, JupyterHub pods) holds other machines' files, whose PIDs mean nothing here."""
    return re.sub(r"[^A-Za-z0-9.]", "_", socket.gethostname()) or "host"


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
    ours = list(os.environ.values()) if this_process else []
    # A value may name a file inside options (JAVA_TOOL_OPTIONS' -Djavax.net.ssl.trustStore=...).
    named = {p for p in wanted if any(str(p) in value for value in ours)}
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
    from .processes import proc_stat

    info = proc_stat(pid)
    return info is not None and info[0] == os.getpid()


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
    # A wgetrc that a process names points wget at a bundle no environment names.
    for path in list(named):
        if path.name.startswith("wgetrc-"):
            try:
                text = path.read_text(encoding="utf-8", errors="replace")
            except OSError:
                continue
            named |= {p for p in candidates if f"ca_certificate = {p}" in text}
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
    """This process's trust files: one bundle per distinct base, the extras-only file, the wgetrc,
    the JVM's truststore.

    Names are ``bundle-<host>-<pid>-<random>-<base key>.pem``, ``extra-<host>-<pid>-<random>.pem``,
    ``wgetrc-<host>-<pid>-<random>`` and ``truststore-<host>-<pid>-<random>-<base key>.p12``.
    The names stay the same from one `add` to the next and across `reset` (which rewrites the
    files to their bases), so a process started after `add` always finds its file.  A forked
    child gets new names on first use: the PID check below notices the fork even without an
    at-fork hook.
    """

    def __init__(self) -> None:
        self._tag: str | None = None
        self._owner = 0
        self._written: dict[str, Path] = {}
        #: files released while a live process still named them: deleted once none does
        self._kept: list[Path] = []

    def _directory(self) -> Path:
        directory = user_dir()  # checked before every write
        if self._tag is None or self._owner != os.getpid():
            prune_stale_files(directory)
            self._retry_kept()
            self._tag = f"{_host()}-{os.getpid()}-{secrets.token_hex(4)}"
            self._owner = os.getpid()
            self._written = {}
        return directory

    def path_for(self, key: str) -> Path:
        directory = self._directory()
        if key == "wgetrc":
            return directory / f"wgetrc-{self._tag}"
        if key == "extras":
            return directory / f"extra-{self._tag}.pem"
        if key.startswith("truststore-"):
            return directory / f"truststore-{self._tag}-{key.removeprefix('truststore-')}.p12"
        return directory / f"bundle-{self._tag}-{key}.pem"

    def write(self, contents: Mapping[str, bytes]) -> dict[str, Path]:
        """Atomically (re)write the file of each key (a base key, "extras" or "wgetrc")."""
        out = {}
        for key, data in contents.items():
            path = self.path_for(key)
            # The wgetrc carries the user's own lines (http_password among them): theirs alone.
            write_atomically(path, data, 0o600 if key == "wgetrc" else 0o644)
            self._written[key] = path
            out[key] = path
        return out

    def rewrite(self, contents: Mapping[str, bytes]) -> None:
        """Rewrite, in place, each file already written whose key is in `contents` (`reset`).

        The recorded paths, not `path_for`: the per-user directory may have changed since.
        A file whose directory is gone has no reader left to serve.
        """
        for key, path in self.written.items():
            if key in contents:
                try:
                    write_atomically(path, contents[key], 0o600 if key == "wgetrc" else 0o644)
                except FileNotFoundError:
                    continue

    @property
    def written(self) -> dict[str, Path]:
        """key -> file, for the files this process wrote (a forked child owns none yet)."""
        return dict(self._written) if self._owner == os.getpid() else {}

    def release(self, *, exiting: bool = False) -> list[Path]:
        """Forget this process's files; delete those no live process may still read, keep the rest for later.

        `exiting`: this process is ending, so its own environment no longer counts as a reader.
        """
        self._kept.extend(self.written.values())
        self._tag, self._written = None, {}
        return self._retry_kept(this_process=not exiting)

    def _retry_kept(self, this_process: bool = True) -> list[Path]:
        deleted = delete_unused(self._kept, this_process=this_process)
        self._kept = [p for p in self._kept if p not in deleted and p.exists()]
        return deleted

    def forget_after_fork(self) -> None:
        """In a forked child: the parent's files are the parent's, never ours to touch."""
        self._tag, self._owner, self._written, self._kept = None, 0, {}, []
