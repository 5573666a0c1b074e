"""Trust files on disk: the per-user directory, each variable's base, atomic writes, file lifetimes.

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

import hashlib
import os
import re
import secrets
import socket
import stat
import tempfile
from collections.abc import Callable, Iterable, Mapping, Set
from dataclasses import dataclass, field
from pathlib import Path

from .._pem import certificate_blocks
from .._readfile import NotReadable, read_regular_file
from ..errors import StorageError

__all__ = [
    "DEFAULT_BASES",
    "DIR_ENV",
    "Base",
    "TrustFiles",
    "collect_bases",
    "default_store_sets",
    "named_by_live_process",
    "prune_stale_files",
    "save_pem",
    "user_dir",
    "wgetrc_text",
    "write_pem_file",
]

#: Tests and unusual setups can point the per-user directory elsewhere.
DIR_ENV = "SLY_NB_TLS_DIR"

_MAX_BASE_FILE = 64 * 1024 * 1024
_MAX_CONFIG_FILE = 1024 * 1024
_OWNED_NAME = re.compile(
    r"^(?:bundle|extra|wgetrc)-(?P<host>[A-Za-z0-9._]+)-(?P<pid>\d+)-[0-9a-f]+(?:-[0-9a-f]+)?(?:\.pem)?$"
)


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
    if configured and mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise StorageError(
            f"{path} is writable by other users (mode {mode:04o}); others could plant a CA there. "
            f"Use a private directory in {DIR_ENV}, or: chmod go-w {path}"
        )
    if not configured and mode != 0o700:
        os.chmod(path, 0o700)  # our own default directory: private again, whatever made it otherwise
    return path


@dataclass
class Base:
    """What one variable's readers trusted before any change, as de-duplicated PEM blocks."""

    label: str
    files: list[str] = field(default_factory=list)
    blocks: dict[str, bytes] = field(default_factory=dict)
    #: for WGETRC: the user's own wgetrc, without its ca_certificate line (ours replaces it)
    config: str | None = None
    #: for WGETRC: the user's own wgetrc as it was (what `reset` writes back)
    original_config: str | None = None
    #: files of the base that could not be read: its readers could not read them either
    problems: list[str] = field(default_factory=list)

    @classmethod
    def of_files(cls, label: str, *paths: str, exclude: Set[str] = frozenset()) -> Base:
        base = cls(label)
        for path in paths:
            base.add_path(path, exclude)
        return base

    @property
    def key(self) -> str:
        """Names the bundle file: bases with equal content share one file."""
        if not self.blocks:
            return "extras"
        return hashlib.sha256("".join(sorted(self.blocks)).encode()).hexdigest()[:10]

    def add_path(self, candidate: str, exclude: Set[str] = frozenset()) -> bool:
        """Fold a file (or a directory of PEM files) into the base; False if unreadable.

        Certificates whose fingerprint is in `exclude` are left out: a bundle that
        someone built from ours holds our extras, and those must stay removable.
        """
        path = os.path.realpath(candidate)
        if path in self.files:
            return True
        if os.path.isdir(path):
            try:
                names = [os.path.join(path, n) for n in sorted(os.listdir(path))]
            except OSError:
                self.problems.append(f"{candidate}: cannot list it")
                return False
            files = [n for n in names if os.path.isfile(n)]
        elif os.path.isfile(path):
            files = [path]
        else:
            return False
        for name in files:
            if not os.access(name, os.R_OK):
                self.problems.append(f"{name}: not readable")
                continue
            for sha, block in _file_blocks(name):
                if sha not in exclude:
                    self.blocks.setdefault(sha, block)
        self.files.append(path)
        return True

    def content(self) -> bytes:
        return b"".join(self.blocks.values())

    def merged_with(self, extras: Iterable[tuple[str, bytes]]) -> bytes:
        blocks = dict(self.blocks)
        for sha, block in extras:
            blocks.setdefault(sha, block)
        return b"".join(blocks.values())


#: (real path, mtime, size) -> its certificate blocks: certifi's and OpenSSL's files are the base of
#: several variables, and parsing one costs milliseconds (kernel start-up adds them all at once).
_PARSED: dict[tuple[str, int, int], list[tuple[str, bytes]]] = {}


def _file_blocks(name: str) -> list[tuple[str, bytes]]:
    try:
        st = os.stat(name)
    except OSError:
        return []
    key = (name, st.st_mtime_ns, st.st_size)
    if key not in _PARSED:
        try:
            # A variable may name a FIFO or /dev/zero: read only a regular file, and only so much.
            data = read_regular_file(name, _MAX_BASE_FILE)
        except NotReadable:
            return []
        if len(_PARSED) > 64:
            _PARSED.clear()
        _PARSED[key] = certificate_blocks(data)
    return _PARSED[key]


def _config_text(path: str) -> str | None:
    """A tool's small config file (gitconfig, npmrc, wgetrc) as text; None if it is no readable regular file."""
    try:
        return read_regular_file(path, _MAX_CONFIG_FILE).decode("utf-8", "replace")
    except NotReadable:
        return None


# -- what each client trusts when its variable is unset ---------------------
def _certifi(original: Mapping[str, str | None]) -> Base | None:
    import certifi

    return Base.of_files("certifi", certifi.where())


def _openssl(original: Mapping[str, str | None]) -> Base | None:
    import ssl

    # openssl_cafile, not cafile: the latter follows SSL_CERT_FILE, which may be ours by now.
    return Base.of_files("OpenSSL's default file", ssl.get_default_verify_paths().openssl_cafile)


def _requests(original: Mapping[str, str | None]) -> Base | None:
    # requests reads REQUESTS_CA_BUNDLE, else CURL_CA_BUNDLE, else certifi.
    curl = original.get("CURL_CA_BUNDLE")
    return Base.of_files(f"preset CURL_CA_BUNDLE: {curl}", curl) if curl else _certifi(original)


def _botocore(original: Mapping[str, str | None]) -> Base | None:
    # botocore reads AWS_CA_BUNDLE, else the profile's ca_bundle, else REQUESTS_CA_BUNDLE, else certifi.
    configured = _aws_ca_bundle()
    if configured:
        return Base.of_files(f"AWS config ca_bundle: {configured}", os.path.expanduser(configured))
    preset = original.get("REQUESTS_CA_BUNDLE")
    return Base.of_files(f"preset REQUESTS_CA_BUNDLE: {preset}", preset) if preset else _certifi(original)


def _aws_ca_bundle() -> str | None:
    """`ca_bundle` of the AWS profile in use (~/.aws/config or AWS_CONFIG_FILE), if set."""
    import configparser

    path = os.environ.get("AWS_CONFIG_FILE") or str(Path.home() / ".aws" / "config")
    profile = os.environ.get("AWS_PROFILE") or os.environ.get("AWS_DEFAULT_PROFILE") or "default"
    parser = configparser.RawConfigParser()
    try:
        parser.read(path, encoding="utf-8")
    except (configparser.Error, OSError, UnicodeDecodeError):
        return None
    for section in (profile if profile == "default" else f"profile {profile}", profile):
        if parser.has_option(section, "ca_bundle"):
            return parser.get(section, "ca_bundle").strip() or None
    return None


def _git(original: Mapping[str, str | None]) -> Base | None:
    text = _git_config_text()
    if "sslcainfo" not in text.lower():
        return _openssl(original)  # no git config names a CA file: spare the subprocess at start-up
    if re.search(r"^\s*\[\s*http\s+\"", text, re.IGNORECASE | re.MULTILINE) and "sslcainfo" in text.lower():
        # A per-URL `[http "https://host"] sslCAInfo` cannot be expressed in GIT_SSL_CAINFO,
        # which would override it for every host: leave git alone.
        return None
    configured = _git_config("http.sslCAInfo")
    if configured:
        return Base.of_files(f"git http.sslCAInfo: {configured}", os.path.expanduser(configured))
    return _openssl(original)


def _git_config_text() -> str:
    """The text of git's system and global config files (where http.sslCAInfo may be set)."""
    env = os.environ
    xdg = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    names = [
        env.get("GIT_CONFIG_SYSTEM") or "/etc/gitconfig",
        *([env["GIT_CONFIG_GLOBAL"]] if env.get("GIT_CONFIG_GLOBAL") else [str(Path.home() / ".gitconfig"),
                                                                           os.path.join(xdg, "git", "config")]),
    ]  # fmt: skip
    return "\n".join(text for text in map(_config_text, names) if text is not None)


def _git_config(key: str) -> str | None:
    import shutil
    import subprocess

    git = shutil.which("git")
    if git is None:
        return None
    try:
        out = subprocess.run([git, "config", "--get", key], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def _grpc(original: Mapping[str, str | None]) -> Base | None:
    import importlib.util

    try:
        spec = importlib.util.find_spec("grpc")
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.origin:
        return None  # no gRPC here, nor in this kernel's children
    roots = Path(spec.origin).parent / "_cython" / "_credentials" / "roots.pem"
    return Base.of_files("gRPC's bundled roots", str(roots)) if roots.is_file() else None


def _npm(original: Mapping[str, str | None]) -> Base | None:
    # npm's `cafile` replaces node's roots (NODE_EXTRA_CA_CERTS does not reach it); unset, npm
    # uses node's roots plus NODE_EXTRA_CA_CERTS and needs nothing from us.
    for rc in _npmrc_files():
        cafile = _ini_value(rc, "cafile")
        if cafile:
            return Base.of_files(f"npm cafile: {cafile}", os.path.expanduser(cafile))
    return None


def _npmrc_files() -> list[str]:
    """npm's config files, first wins: the project's, the user's, the global one, npm's built-in one."""
    import shutil

    env = os.environ
    try:
        files = [os.path.join(os.getcwd(), ".npmrc")]
    except OSError:  # the working directory was deleted
        files = []
    files.append(env.get("NPM_CONFIG_USERCONFIG") or env.get("npm_config_userconfig") or str(Path.home() / ".npmrc"))
    node = shutil.which("node")
    prefix = env.get("NPM_CONFIG_PREFIX") or env.get("npm_config_prefix")
    if not prefix and node:
        prefix = os.path.dirname(os.path.dirname(os.path.realpath(node)))
    globalconfig = env.get("NPM_CONFIG_GLOBALCONFIG") or env.get("npm_config_globalconfig")
    if globalconfig or prefix:
        files.append(globalconfig or os.path.join(prefix or "", "etc", "npmrc"))
    npm = shutil.which("npm")
    if npm:
        files.append(os.path.join(os.path.dirname(os.path.dirname(os.path.realpath(npm))), "npmrc"))
    return files


def _ini_value(path: str, key: str) -> str | None:
    text = _config_text(path)
    if text is None:
        return None
    for line in text.splitlines():
        name, sep, value = line.partition("=")
        if sep and name.strip().lower() == key:
            return value.strip().strip("\"'") or None
    return None


_WGET_CA = re.compile(r"^\s*ca[-_]?certificate\s*=\s*(?P<path>.*?)\s*$", re.IGNORECASE)


def _wget(original: Mapping[str, str | None]) -> Base | None:
    # wget reads the system wgetrc, then $WGETRC or ~/.wgetrc.  Ours replaces the user's, so it
    # carries the user's lines, and its ca_certificate (which adds to the system's roots) holds
    # the user's own CA file, if one was set, plus the extras.
    rc = original.get("WGETRC") or str(Path.home() / ".wgetrc")
    text = _config_text(rc) or ""
    lines = text.splitlines()
    kept, cafiles = [], []
    for line in lines:
        m = _WGET_CA.match(line)
        if m:
            cafiles.append(os.path.expanduser(m.group("path")))
        else:
            kept.append(line)
    if not cafiles:
        # Ours is read after the system wgetrc and its ca_certificate replaces the system one's.
        system = _ini_value(os.environ.get("SYSTEM_WGETRC") or "/etc/wgetrc", "ca_certificate")
        cafiles = [os.path.expanduser(system)] if system else []
    label = f"wgetrc ca_certificate: {cafiles[-1]}" if cafiles else "nothing (additive)"
    base = Base.of_files(label, *cafiles[-1:])
    base.config = "\n".join(kept)
    base.original_config = text
    return base


def _preset_only(original: Mapping[str, str | None]) -> Base | None:
    return None


def _nothing(original: Mapping[str, str | None]) -> Base | None:
    return Base("nothing (additive)")


#: variable default (`_environ.CaVariable.default`) -> what its readers trust when it is unset
DEFAULT_BASES: dict[str, Callable[[Mapping[str, str | None]], Base | None]] = {
    "certifi": _certifi,
    "openssl": _openssl,
    "requests": _requests,
    "botocore": _botocore,
    "git": _git,
    "grpc": _grpc,
    "npm": _npm,
    "wget": _wget,
    "preset-only": _preset_only,
    "none": _nothing,
}


def collect_bases(original: Mapping[str, str | None]) -> dict[str, Base]:
    """Each variable's base: its preset file if it had one, else its readers' own default.

    Variables whose readers are not here (or need nothing) are left out, and stay untouched.
    """
    from .environ import CA_VARIABLES, WGET_VARIABLE

    bases: dict[str, Base] = {}
    for var in CA_VARIABLES:
        preset = original.get(var.name)
        if preset and var.name != WGET_VARIABLE and os.path.isdir(preset):
            # A directory in a *file* variable: what its readers make of it differs (OpenSSL loads
            # nothing, requests a hashed directory); pointing it at a bundle would change that.
            base: Base | None = None
        elif preset and var.name != WGET_VARIABLE:
            base = Base.of_files(f"preset: {preset}", preset)
        else:
            base = DEFAULT_BASES[var.default](original)
        if base is not None:
            bases[var.name] = base
    return bases


def default_store_sets() -> list[tuple[str, frozenset[str]]]:
    """The stores a client context loads by default here (certifi, OpenSSL's file): (label, fingerprints)."""
    out = []
    for make in (_certifi, _openssl):
        base = make({})
        if base is not None and base.blocks:
            out.append((base.label, frozenset(base.blocks)))
    return out


def wgetrc_text(user_lines: str, cafile: Path) -> bytes:
    return (
        (user_lines.rstrip("\n") + f"\n# added by sly_nb_tls (undone by reset)\nca_certificate = {cafile}\n")
        .lstrip("\n")
        .encode()
    )


def write_pem_file(path: Path, data: bytes, mode: int = 0o644) -> None:
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
    from .._certs import resolve_path
    from .._readfile import CERTIFICATE_FILE_LIMIT, NotReadable, read_regular_file

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
        write_pem_file(path, data)
    except OSError as exc:
        raise StorageError(f"{path}: cannot be written ({exc.strerror or exc}); nothing was saved") from None
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
    """This process's trust files: one bundle per distinct base, the extras-only file, the wgetrc.

    Names are ``bundle-<host>-<pid>-<random>-<base key>.pem``, ``extra-<host>-<pid>-<random>.pem``
    and ``wgetrc-<host>-<pid>-<random>``.  The names stay the same from one `add` to the next
    and across `reset` (which rewrites the files to their bases), so a process started after
    `add` always finds its file.  A forked child gets new names on first use: the PID check
    below notices the fork even without an at-fork hook.
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
        return directory / f"bundle-{self._tag}-{key}.pem"

    def write(self, contents: Mapping[str, bytes]) -> dict[str, Path]:
        """Atomically (re)write the file of each key (a base key, "extras" or "wgetrc")."""
        out = {}
        for key, data in contents.items():
            path = self.path_for(key)
            # The wgetrc carries the user's own lines (http_password among them): theirs alone.
            write_pem_file(path, data, 0o600 if key == "wgetrc" else 0o644)
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
                    write_pem_file(path, contents[key], 0o600 if key == "wgetrc" else 0o644)
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
