"""Every new kernel loads the extension and trusts the installed CAs, with zero cells.

In [1]: !python -m sly_nb_tls install corp-root.crt --scope user
✓ Installed for every new IPython and kernel of scope user (~/.ipython/profile_default)
In [2]: !python -m sly_nb_tls uninstall --scope user

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
and the store it added, and the config file too if `install` created it and
nothing else was written there since.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ._bundle import write_pem_file
from ._errors import StorageError
from ._render import Rendered, html_table, visible
from ._scopes import SCOPES, STORE, installed_stores, scope_dir

__all__ = ["SCOPES", "InstallResult", "install", "installed_stores", "scope_dir", "uninstall"]

CONFIG = "ipython_config.py"
_BEGIN = "# >>> sly_nb_tls: added by `python -m sly_nb_tls install`; `uninstall` removes it >>>"
_END = "# <<< sly_nb_tls <<<"
_BLOCK = f'{_BEGIN}\nc.InteractiveShellApp.extensions.append("sly_nb_tls")\n{_END}\n'
_CREATED = "# created by `python -m sly_nb_tls install`\n"


@dataclass(repr=False)
class InstallResult(Rendered):
    """What `install` or `uninstall` changed in one scope."""

    scope: str
    directory: str
    installed: bool  # True: install; False: uninstall
    certificates: list[str] = field(default_factory=list)  # "common name (fingerprint)"
    changed: list[str] = field(default_factory=list)  # files written or removed
    notes: list[str] = field(default_factory=list)

    def _headline(self) -> str:
        if self.installed:
            return (
                f"✓ Installed for every new IPython and kernel of scope {self.scope} ({self.directory}): "
                f"loads sly_nb_tls and trusts {len(self.certificates)} certificate(s)"
            )
        return f"✓ Uninstalled from scope {self.scope} ({self.directory})"

    def _lines(self) -> list[str]:
        out = [f"certificate: {c}" for c in self.certificates]
        out += [f"{'wrote' if self.installed else 'removed'}: {f}" for f in self.changed]
        return out + self.notes

    def __str__(self) -> str:
        return "\n".join([self._headline(), *(f"  {visible(x)}" for x in self._lines())])

    def _repr_html_(self) -> str:
        return html_table([], [], title=self._headline(), title_class="ok", notes=self._lines())


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


def install(*sources: str | bytes | os.PathLike[str], scope: str = "user") -> InstallResult:
    """Make every new IPython/ipykernel of `scope` load sly_nb_tls and trust the CAs in `sources`.

    All or nothing: every source is read (and rejected with `CertificateSourceError`)
    before anything is written.  Installing again adds certificates; the block goes in once.
    """
    from ._certs import read_sources

    directory = scope_dir(scope)
    loaded = read_sources(sources) if sources else None
    _writable_dir(directory, scope)
    result = InstallResult(scope, _shown(directory), True)
    if loaded is not None:
        store = directory / STORE
        store.mkdir(exist_ok=True)
        for cert in loaded.certificates:
            path = store / f"{cert.sha256[:16]}.pem"
            if not path.exists():
                write_pem_file(path, cert.pem.encode("ascii"))
                result.changed.append(_shown(path))
            result.certificates.append(f"{cert.common_name} ({cert.short_fingerprint})")
        result.notes += [f"! {w}" for w in loaded.warnings]
    config = directory / CONFIG
    text = config.read_text(encoding="utf-8") if config.exists() else None
    if text is None or _BEGIN not in text:
        new = _CREATED + _BLOCK if text is None else text + ("" if text.endswith("\n") or not text else "\n") + _BLOCK
        write_pem_file(config, new.encode("utf-8"))
        result.changed.append(_shown(config))
    else:
        result.notes.append(f"{_shown(config)} loads sly_nb_tls already")
    result.notes.append("undo: python -m sly_nb_tls uninstall" + ("" if scope == "user" else f" --scope {scope}"))
    return result


def uninstall(scope: str = "user") -> InstallResult:
    """Remove exactly what `install` added to `scope`: the config block, the store, a config file it created."""
    directory = scope_dir(scope)
    result = InstallResult(scope, _shown(directory), False)
    config = directory / CONFIG
    if config.exists():
        text = config.read_text(encoding="utf-8")
        if _BEGIN in text:
            _writable_dir(directory, scope)
            kept = _without_block(text)
            if kept.strip() in ("", _CREATED.strip()) and text.startswith(_CREATED):
                config.unlink()
            else:
                write_pem_file(config, kept.encode("utf-8"))
            result.changed.append(_shown(config))
    store = directory / STORE
    if store.is_dir():
        for pem in sorted(store.glob("*.pem")):
            pem.unlink()
            result.changed.append(_shown(pem))
        try:
            store.rmdir()
        except OSError:
            result.notes.append(f"{_shown(store)} holds other files: left")
    if not result.changed:
        result.notes.append(f"nothing of sly_nb_tls was installed in scope {scope}")
    return result


def _without_block(text: str) -> str:
    start = text.index(_BEGIN)
    end = text.find(_END, start)
    end = len(text) if end < 0 else end + len(_END)
    if text[end : end + 1] == "\n":
        end += 1
    return text[:start] + text[end:]


def _shown(path: Path) -> str:
    """A path as it may be shown: under ~ when it is there."""
    from ._render import shown_path

    return shown_path(path)
