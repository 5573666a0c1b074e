"""Every new kernel loads the extension and trusts the installed CAs, with zero cells.

A scope is an IPython configuration directory that every IPython shell and
ipykernel of that scope reads:

- ``user``: ``$IPYTHONDIR/profile_default`` (default ``~/.ipython/profile_default``);
- ``env``: ``{sys.prefix}/etc/ipython``: every kernel of this virtualenv or conda env;
- ``system``: ``/etc/ipython``: every kernel on the machine (a JupyterHub image).

`install` keeps a copy of each CA in the scope's own store (``<dir>/sly_nb_tls``) and
appends one marked block to the directory's ``ipython_config.py``:
``c.InteractiveShellApp.extensions.append("sly_nb_tls")``.  IPython merges the
config files of every directory, and ``append`` keeps the lists other files
build (an assignment would replace them).  `uninstall` removes exactly the block
and the store files it added, and the config file too if `install` created it and
nothing else was written there since.

Both leave the user's own content alone: a symlinked ``ipython_config.py``
(dotfiles) is edited where it points, in its own encoding and mode; a block
whose markers were edited, or a store that is not the folder `install` makes,
is refused with one line saying what to fix, before anything is written.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import stat
import tokenize
from dataclasses import dataclass
from pathlib import Path

from .._fixes import command, say
from .._pem import certificate_ders
from .._readfile import NotReadable, read_regular_file
from .._writefile import write_atomically
from ..errors import StorageError
from .results import InstallResult
from .scopes import SCOPES, STORE, installed_stores, scope_dir
from .stored import stored_text

__all__ = ["SCOPES", "install", "installed_stores", "scope_dir", "uninstall"]

CONFIG = "ipython_config.py"
_BEGIN = "# >>> sly_nb_tls: added by `python -m sly_nb_tls install`; `uninstall` removes it >>>"
_END = "# <<< sly_nb_tls <<<"
_LOAD = 'c.InteractiveShellApp.extensions.append("sly_nb_tls")'
_BLOCK = f"{_BEGIN}\n{_LOAD}\n{_END}\n"
_CREATED = "# created by `python -m sly_nb_tls install`\n"
#: the only names `install` gives store files: the first 16 hex digits of the certificate's sha256
_STORE_NAME = re.compile(r"[0-9a-f]{16}\.pem")
#: a store file holds one certificate (a few KiB): anything bigger is not one `install` wrote
_STORE_FILE_LIMIT = 1024 * 1024
#: an ipython_config.py is a few KiB: a bigger file is not rewritten on a guess
_CONFIG_LIMIT = 4 * 1024 * 1024


def _writable_dir(directory: Path, scope: str) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageError(
            f"{directory}: cannot create it ({exc.strerror or exc}); scope {scope} needs write access there "
            "(use --scope user, or run as an administrator)"
        ) from None
    if not os.access(directory, os.W_OK):
        raise StorageError(
            f"{directory}: not writable; scope {scope} needs write access there (use --scope user, "
            "or run as an administrator)"
        )


def install(*sources: str | bytes | os.PathLike[str], scope: str = "user", as_is: bool = False) -> InstallResult:
    """Make every new IPython/ipykernel of `scope` load sly_nb_tls and trust the CAs in `sources`.

    All or nothing: every source is read (and rejected with `CertificateSourceError`),
    and the config file and the store checked, before anything is written; if a write
    fails, what this call wrote is removed again.  Installing again adds certificates;
    the block goes in once.
    """
    from .._sources import read_sources
    from .gate import admit, expiry_warnings, origins_as_sources

    directory = scope_dir(scope)
    loaded = read_sources(sources, as_is=as_is) if sources else None  # equivalent anchors stored, unless as_is
    door = admit(
        "install",
        list(loaded.certificates) if loaded else [],
        [("install scope", scope), *origins_as_sources(loaded.origins if loaded else {})],
        user_install=scope == "user",
    )
    _writable_dir(directory, scope)
    result = InstallResult(scope, _shown(directory), True)
    config = _read_config(directory / CONFIG, "install")
    new_config = _with_block(config)
    store = directory / STORE
    create_store, pending = False, []
    if loaded is not None:
        create_store = _store_kind(store, "install") == "missing"
        for cert in loaded.certificates:
            path = store / f"{cert.sha256[:16]}.pem"
            if create_store or not _already_stored(path):
                pending.append((path, stored_text(cert).encode("ascii")))
            result.certificates.append(f"{cert.common_name} ({cert.short_fingerprint}): {cert.vouches_for}")
            result.trusted.append(cert)
        result.notes += [f"! {w}" for w in loaded.warnings]
    _write_install(store if create_store else None, pending, config, new_config)
    result.changed += [_shown(path) for path, _ in pending]
    if new_config is None:
        result.notes.append(f"{_shown(config.path)} loads sly_nb_tls already")
    else:
        result.changed.append(config.shown)
    undo = command("uninstall") if scope == "user" else command("uninstall", scope=scope)
    result.notes.append(f"undo: {say(undo)}")
    certificates = loaded.certificates if loaded else []
    result.notes += [f"! {w}" for w in expiry_warnings(certificates, door.policy.expiry_warning_days)]
    result.notes += [f"! {w}" for w in door.record(certificates, changed=result.changed)]
    return result


def _write_install(
    new_store: Path | None, pending: list[tuple[Path, bytes]], config: _Config, new_config: bytes | None
) -> None:
    """Create the store (`new_store`, when it is missing), write `pending`, then the config; all or nothing."""
    written: list[Path] = []
    target = new_store or config.target
    try:
        if new_store is not None:
            new_store.mkdir()
        for target, data in pending:
            write_atomically(target, data)  # atomic: on failure `target` was never created
            written.append(target)
        if new_config is not None:
            target = config.target
            write_atomically(config.target, new_config, config.mode)
    except OSError as exc:
        # Store files without the block would still be trusted by a manual %load_ext: take them back.
        for path in written:
            try:
                path.unlink()
            except OSError:
                pass
        if new_store is not None:
            try:
                new_store.rmdir()
            except OSError:
                pass
        raise StorageError(
            f"{_shown(target)}: cannot be written ({exc.strerror or exc}); nothing was installed"
        ) from None


def uninstall(scope: str = "user") -> InstallResult:
    """Remove exactly what `install` added to `scope`: the config block, its store files, a config file it created.

    Everything is checked first: an edited block, an undecodable config file or a
    store that is not a folder is refused with one line, and nothing is changed.
    """
    from .gate import admit_narrowing
    from .stored import read_stored

    directory = scope_dir(scope)
    door, warnings = admit_narrowing("uninstall", [("install scope", scope)])
    result = InstallResult(scope, _shown(directory), False)
    config = _read_config(directory / CONFIG, "uninstall")
    found, kept = _without_block(config)
    store = directory / STORE
    kind = _store_kind(store, "uninstall")
    ours, others = _store_files(store) if kind != "missing" else ([], [])
    removed = read_stored([str(p) for p in ours]).certificates  # for the audit line, read before they go
    if found or ours:
        _writable_dir(directory, scope)
    try:
        if found:
            if kept is None:
                config.target.unlink()  # install created it and nothing else was written there
            else:
                write_atomically(config.target, kept, config.mode)
            result.changed.append(config.shown)
        if kind != "missing":
            # Through a link too: install wrote these files there, and a store left holding them
            # would still be trusted at every start; the link and its folder are the user's.
            _empty_store(store, ours, others, result, remove_folder=kind == "directory")
    except OSError as exc:
        raise StorageError(
            f"{_shown(Path(exc.filename or store))}: cannot be changed ({exc.strerror or exc})"
        ) from None
    if kind == "link":
        result.notes.append(f"{_shown(store)} is a symbolic link to {os.path.realpath(store)}: the link is left")
    if not result.changed and not result.notes:
        result.notes.append(f"nothing of sly_nb_tls was installed in scope {scope}")
    result.notes += [f"! {w}" for w in warnings]
    if result.changed:
        result.notes += [f"! {w}" for w in door.record(removed, changed=result.changed)]
    return result


def _empty_store(
    store: Path, ours: list[Path], others: list[str], result: InstallResult, *, remove_folder: bool
) -> None:
    """Remove our files from the store, and (`remove_folder`) the folder if nothing else is in it."""
    for pem in ours:
        pem.unlink()
        result.changed.append(_shown(pem))
    if not remove_folder:
        return
    if others:
        more = f" and {len(others) - 5} more" if len(others) > 5 else ""
        listed = ", ".join(others[:5]) + more
        result.notes.append(f"{_shown(store)}: left, it holds file(s) install did not write: {listed}")
        return
    try:
        store.rmdir()
        result.changed.append(_shown(store))
    except OSError:
        result.notes.append(f"{_shown(store)}: left, it is not empty")


# -- the config file ------------------------------------------------------------------------
@dataclass
class _Config:
    """``ipython_config.py`` as read: `path` may be a symbolic link, `target` is the file itself."""

    path: Path
    target: Path
    text: str | None = None  # None: there is no such file yet
    encoding: str = "utf-8"
    mode: int = 0o644

    @property
    def shown(self) -> str:
        if self.target == self.path:
            return _shown(self.path)
        return f"{_shown(self.path)} -> {_shown(self.target)}"


def _read_config(path: Path, action: str) -> _Config:
    """The config file in its own encoding (PEP 263), or a one-line StorageError; nothing is written."""
    # Dotfiles link ipython_config.py into a repository: edit the file it names, keep the link.
    target = Path(os.path.realpath(path))
    if not os.path.lexists(target):
        return _Config(path, target)
    try:
        data = read_regular_file(target, _CONFIG_LIMIT)
        mode = stat.S_IMODE(os.stat(target).st_mode)
    except NotReadable as exc:
        raise StorageError(f"{_shown(target)}: {exc.reason}, so {action} changed nothing") from None
    try:
        encoding = tokenize.detect_encoding(io.BytesIO(data).readline)[0]
        text = data.decode(encoding)
    except (SyntaxError, LookupError, UnicodeDecodeError) as exc:
        why = " ".join(str(exc).split())
        raise StorageError(
            f"{_shown(target)}: cannot be decoded ({why}), so {action} changed nothing; "
            "save it as UTF-8 or give it a correct `# -*- coding: ... -*-` line"
        ) from None
    if text.encode(encoding) != data:  # only a file that reads back byte for byte is rewritten
        raise StorageError(f"{_shown(target)}: does not read back as {encoding}, so {action} changed nothing")
    return _Config(path, target, text, encoding, mode)


def _lines(text: str) -> list[str]:
    """Lines with their ends, split on "\\n" only: the numbers an editor shows."""
    parts = text.split("\n")
    return [p + "\n" for p in parts[:-1]] + ([parts[-1]] if parts[-1] else [])


def _scan(lines: list[str]) -> tuple[list[int], list[int]]:
    """(first line of each intact block, every line of ours outside one), as 0-based indexes."""
    intact: list[int] = []
    damaged: list[int] = []
    bare = [line.rstrip() for line in lines]
    i = 0
    while i < len(bare):
        if bare[i : i + 3] == [_BEGIN, _LOAD, _END]:
            intact.append(i)
            i += 3
            continue
        if bare[i] == _BEGIN:
            damaged.append(i)
            if bare[i + 1 : i + 2] == [_LOAD]:  # the extension line that still follows it
                damaged.append(i + 1)
                i += 1
        elif bare[i] == _END:
            if i > 0 and bare[i - 1] == _LOAD and (i - 1) not in damaged:
                damaged.append(i - 1)
            damaged.append(i)
        i += 1
    return intact, damaged


def _edited(config: _Config, damaged: list[int], action: str) -> StorageError:
    numbers = [str(i + 1) for i in sorted(damaged)]
    listed = numbers[0] if len(numbers) == 1 else ", ".join(numbers[:-1]) + " and " + numbers[-1]
    return StorageError(
        f"{_shown(config.target)}: the sly_nb_tls block in it was edited, so {action} changed nothing; "
        f"delete line{'s' if len(numbers) > 1 else ''} {listed} (sly_nb_tls's markers and extension line) "
        f"by hand, then run {action} again"
    )


def _with_block(config: _Config) -> bytes | None:
    """The config file's new bytes with the block appended; None when an intact block is there already."""
    if config.text is None:
        return (_CREATED + _BLOCK).encode("utf-8")
    lines = _lines(config.text)
    intact, damaged = _scan(lines)
    if damaged:
        raise _edited(config, damaged, "install")
    if intact:
        return None
    newline = "\r\n" if lines and lines[0].endswith("\r\n") else "\n"
    text = config.text
    if text and not text.endswith("\n"):
        text += newline
    return (text + _BLOCK.replace("\n", newline)).encode(config.encoding)


def _without_block(config: _Config) -> tuple[bool, bytes | None]:
    """(whether a block is there, the file's bytes without it, None: remove the file install created)."""
    if config.text is None:
        return False, None
    lines = _lines(config.text)
    intact, damaged = _scan(lines)
    if damaged:
        raise _edited(config, damaged, "uninstall")
    if not intact:
        return False, None
    drop = {start + k for start in intact for k in range(3)}
    kept = "".join(line for i, line in enumerate(lines) if i not in drop)
    if config.text.startswith(_CREATED) and kept.strip() == _CREATED.strip():
        return True, None
    return True, kept.encode(config.encoding)


# -- the store ------------------------------------------------------------------------------
def _store_kind(store: Path, action: str) -> str:
    """What is at `store`: "missing", "directory" or "link" (to a directory); else refused, before any write."""
    try:
        st = os.lstat(store)
    except FileNotFoundError:
        return "missing"
    except OSError as exc:
        raise StorageError(
            f"{_shown(store)}: cannot be used ({exc.strerror or exc}); {action} changed nothing"
        ) from None
    if stat.S_ISDIR(st.st_mode):
        return "directory"
    if stat.S_ISLNK(st.st_mode) and os.path.isdir(store):
        return "link"
    what = "a symbolic link to no folder" if stat.S_ISLNK(st.st_mode) else "not a folder"
    raise StorageError(
        f"{_shown(store)}: {what}, but install keeps its certificates in a folder there; "
        f"move it away, then run {action} again; {action} changed nothing"
    )


def _store_files(store: Path) -> tuple[list[Path], list[str]]:
    """(the files install wrote, the names of everything else) in a store directory."""
    ours: list[Path] = []
    others: list[str] = []
    try:
        names = sorted(os.listdir(store))
    except OSError as exc:
        raise StorageError(f"{_shown(store)}: cannot be listed ({exc.strerror or exc}); nothing was changed") from None
    for name in names:
        path = store / name
        if _is_ours(path):
            ours.append(path)
        else:
            others.append(name)
    return ours, others


def _is_ours(path: Path) -> bool:
    """A file `install` wrote: its name is `<sha256[:16]>.pem` of the one certificate it holds."""
    if not _STORE_NAME.fullmatch(path.name):
        return False
    try:
        data = read_regular_file(path, _STORE_FILE_LIMIT, follow=False)
    except NotReadable:
        return False  # a FIFO, a device, a link, a huge file: install writes none of these
    ders = certificate_ders(data)
    return len(ders) == 1 and hashlib.sha256(ders[0]).hexdigest().startswith(path.stem)


def _already_stored(path: Path) -> bool:
    """Whether `install` wrote `path` before; a file of someone else's under that name is refused."""
    if not os.path.lexists(path):
        return False
    if _is_ours(path):
        return True
    raise StorageError(f"{_shown(path)}: a file install did not write has this name; move it away, then install again")


def _names(paths: list[Path]) -> str:
    return ", ".join(p.name for p in paths)


def _shown(path: Path) -> str:
    """A path as it may be shown: under ~ when it is there."""
    from .._render import shown_path

    return shown_path(path)
