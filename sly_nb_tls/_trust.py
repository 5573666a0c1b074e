"""Register extra CA certificates with every HTTPS client in this process — reversibly.

In [1]: from sly_nb_tls import add_certs, status, reset
In [2]: add_certs("corp-chain.crt")        # requests, urllib, httpx, aiohttp, curl, children...
In [3]: status().changed_by_other           # variables someone else rewrote since
Out[3]: []
In [4]: reset()                             # every change below, undone exactly

One `add` makes four kinds of change; each is recorded and has an inverse:

1. **Files** (`_bundle`): a merged bundle (base roots + extras) and an
   extras-only file in the per-user directory.
2. **Environment** (`_environ`): the CA variables point at the merged bundle;
   `reset` restores a variable only if it still holds our value.
3. **New contexts** and 4. **live contexts** (`_live`): hooks on the ssl
   module, swapped shared contexts, httpx clients updated in place.

This module holds the state those share, under one lock, and the operations
(`add_certs`, `remove`, `status`, `reset`).  It is fork-safe: a forked child
gets a fresh lock and its own file names, and never changes or deletes the
parent's files.  At interpreter exit this process's files are deleted unless a
live process (a child started after `add`) may still read them.
"""

from __future__ import annotations

import atexit
import os
import re
import threading
from collections.abc import Iterable

from ._bundle import BaseRoots, TrustFiles
from ._certs import Certificate, Source, read_sources, resolve_path
from ._environ import EXTRAS_VARIABLE, CaVariables
from ._errors import CertificateSourceError, UnknownCertificateError
from ._live import LiveTrust
from ._pem import certificate_blocks
from ._results import AddResult, RemoveResult, ResetResult, TrustStatus

__all__ = ["add_certs", "registered", "remove", "reset", "status"]

_HEX = re.compile(r"[0-9a-f]+")


def _pem_file_certificates(path: str | None) -> bytes:
    """The certificate blocks of a PEM file, or nothing if there is no readable file."""
    if not path or not os.path.isfile(path):
        return b""
    try:
        with open(path, "rb") as fh:
            return b"".join(block for _, block in certificate_blocks(fh.read()))
    except OSError:
        return b""


class _Registry:
    """All process-wide state, guarded by one lock."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.extras: dict[str, Certificate] = {}
        self.origins: dict[str, set[str]] = {}
        self.base: BaseRoots | None = None
        #: every fingerprint registered since activation, removed ones included
        self.ever_registered: set[str] = set()
        #: certificates of a SLY_EXTRA_CA_CERTS file that was set before activation
        self.preset_extras = b""
        self.cadata = b""
        self.files = TrustFiles()
        self.variables = CaVariables()
        self.live = LiveTrust(lambda: (self.cadata, frozenset(self.extras)), self._bundle_paths)

    def _bundle_paths(self) -> set[str]:
        return set(self.variables.applied.values())

    @property
    def active(self) -> bool:
        return self.variables.original is not None

    def after_fork_in_child(self) -> None:
        # The parent's lock may have been held by a thread that does not exist
        # here; the parent's files stay the parent's.
        self.lock = threading.RLock()
        self.files.forget_after_fork()

    def _apply(self, live: bool) -> tuple[list[str], list[str], list[str]]:
        """Write files, set variables, install hooks, update live contexts.

        Returns (variables set, live updates, notes).
        """
        notes: list[str] = []
        if self.base is None:
            originals = self.variables.remember()
            self.base = BaseRoots.collect({k: v for k, v in originals.items() if v})
            self.preset_extras = _pem_file_certificates(originals.get(EXTRAS_VARIABLE))
        self.ever_registered |= set(self.extras)
        for var, current in self.variables.rewritten_by_other():
            if self.base.add_path(current, exclude=self.ever_registered):
                notes.append(
                    f"{var} had been changed to {current} by something else; "
                    "its certificates are kept in the new bundle"
                )
        extra_blocks = [(sha, cert.pem.encode("ascii")) for sha, cert in self.extras.items()]
        merged_path, extras_path = self.files.write(
            self.base.merged_with(extra_blocks), self.preset_extras + b"".join(b for _, b in extra_blocks)
        )
        variables = self.variables.point_at(str(merged_path), str(extras_path))
        self.cadata = b"".join(c.der for c in self.extras.values())
        self.live.install_hooks()
        self.live.refresh_urllib_opener()
        ders = {sha: c.der for sha, c in self.extras.items()}
        live_updates: list[str] = []
        if live:
            live_updates = self.live.refresh_swaps(ders) + self.live.update_client_contexts(ders)
        elif self.live.swaps:
            # Contexts we swapped in earlier hold the old set; keep them current.
            self.live.refresh_swaps(ders)
        return variables, live_updates, notes

    # -- the operations --------------------------------------------------
    def add(self, sources: Iterable[Source], live: bool) -> AddResult:
        loaded = read_sources(sources)  # raises before anything changes
        with self.lock:
            added = [c for c in loaded.certificates if c.sha256 not in self.extras]
            already = [c for c in loaded.certificates if c.sha256 in self.extras]
            snapshot = (dict(self.extras), {k: set(v) for k, v in self.origins.items()})
            for cert in added:
                self.extras[cert.sha256] = cert
            for origin, shas in loaded.origins.items():
                for sha in shas:
                    self.origins.setdefault(sha, set()).add(origin)
            result = AddResult(added=added, already_trusted=already)
            result.warnings = list(loaded.warnings) + [w for c in added for w in c.warnings]
            if added or not self.active:
                try:
                    variables, live_updates, notes = self._apply(live)
                except BaseException:
                    # Leave things as they were before this add, not half-applied.
                    self.extras, self.origins = snapshot
                    if self.extras:
                        self._apply(live=False)
                    else:
                        self._reset()
                    raise
                result.variables_set = variables
                result.live_updated = live_updates
                result.notes = notes
            result.bundle_path = self.variables.applied.get("SSL_CERT_FILE", "")
            result.total_trusted = len(self.extras)
            return result

    def find(self, target: Certificate | str | os.PathLike[str]) -> list[Certificate]:
        if isinstance(target, Certificate):
            if target.sha256 not in self.extras:
                raise UnknownCertificateError(f"{target.common_name} is not registered")
            return [self.extras[target.sha256]]
        text = os.fspath(target).strip()
        hexed = text.replace(":", "").lower()
        if _HEX.fullmatch(hexed) and len(hexed) >= 8 and not os.path.exists(text):
            matches = [c for sha, c in self.extras.items() if sha.startswith(hexed)]
            if len(matches) == 1:
                return matches
            if not matches:
                raise UnknownCertificateError(
                    f"{text}: no registered certificate has this fingerprint; registered: {self._listing()}"
                )
            raise UnknownCertificateError(
                f"{text}: matches {len(matches)} certificates; give more digits: "
                + ", ".join(c.short_fingerprint for c in matches)
            )
        if _HEX.fullmatch(hexed) and len(hexed) < 8 and not os.path.exists(text):
            raise UnknownCertificateError(
                f"{text}: a fingerprint prefix needs at least 8 hex digits; registered: {self._listing()}"
            )
        label = str(resolve_path(text))
        by_origin = [
            self.extras[sha] for sha, origins in self.origins.items() if label in origins and sha in self.extras
        ]
        if by_origin:
            return by_origin
        try:
            loaded = read_sources([text])
        except CertificateSourceError as exc:
            raise UnknownCertificateError(f"{exc}; nothing was removed") from None
        found = [self.extras[c.sha256] for c in loaded.certificates if c.sha256 in self.extras]
        if not found:
            raise UnknownCertificateError(
                f"{label}: none of its certificates is registered; registered: {self._listing()}"
            )
        return found

    def _listing(self) -> str:
        if not self.extras:
            return "none"
        return ", ".join(f"{c.common_name} ({c.short_fingerprint})" for c in self.extras.values())

    def remove(self, target: Certificate | str | os.PathLike[str]) -> RemoveResult:
        with self.lock:
            found = self.find(target)
            for cert in found:
                self.extras.pop(cert.sha256, None)
                self.origins.pop(cert.sha256, None)
            result = RemoveResult(removed=found, remaining=list(self.extras.values()))
            if not self.extras:
                result.reset = self._reset()
                result.holding = result.reset.holding
                return result
            self._apply(live=False)
            result.holding = self.live.holding(set(self.extras))
            return result

    def _reset(self) -> ResetResult:
        result = ResetResult(was_active=self.active)
        if not self.active:
            return result
        result.restored, result.left = self.variables.restore()
        result.notes.extend(self.live.uninstall())
        self.extras.clear()
        self.origins.clear()
        self.cadata = b""
        result.holding = self.live.holding(set())
        self.files.release()
        self.base = None
        self.ever_registered = set()
        self.preset_extras = b""
        return result

    def reset(self) -> ResetResult:
        with self.lock:
            return self._reset()

    def at_exit(self) -> None:
        """The interpreter is ending: delete our files unless a live process may still read them."""
        with self.lock:
            self.files.release(exiting=True)

    def status(self) -> TrustStatus:
        with self.lock:
            st = TrustStatus(active=self.active, certificates=list(self.extras.values()))
            st.holding = self.live.holding(set(self.extras))
            if not self.active:
                return st
            assert self.base is not None
            st.variables = self.variables.states()
            st.bundle_path = self.variables.applied.get("SSL_CERT_FILE")
            st.base_files = list(self.base.files)
            st.hooks = self.live.describe_hooks()
            st.swapped = list(self.live.swaps)
            st.live_contexts = len(self.live.given)
            st.warnings = [w for c in self.extras.values() for w in c.warnings]
            for var in st.changed_by_other:
                st.warnings.append(f"{var} was changed by something else after add; reset will leave it")
            import ssl

            if ssl._create_default_https_context is getattr(ssl, "_create_unverified_context", None):
                st.warnings.append(
                    "ssl._create_default_https_context is _create_unverified_context: "
                    "something in this kernel turned verification off for urllib"
                )
            return st


_REGISTRY = _Registry()
os.register_at_fork(after_in_child=_REGISTRY.after_fork_in_child)
atexit.register(_REGISTRY.at_exit)


def add_certs(*sources: Source, live: bool = True, system: bool = False) -> AddResult:
    """Trust the certificates in `sources` in this process and its children.

    A source is a file (PEM with one or many certificates, DER, PKCS#7), a
    directory of such files, PEM text, or bytes.  All or nothing: if any
    source is rejected, `CertificateSourceError` is raised and nothing changes.
    ``live=False`` leaves already-existing client contexts alone.

    ``system=True`` also trusts this machine's system store (OpenSSL's default
    file, or its hashed directory) in every client, requests included, which
    otherwise reads only certifi: the one explicit way to widen trust.  It is
    undone like any other `add` (`remove` of that file, or `reset`).
    """
    if system:
        from ._complete import system_store_files

        store = system_store_files(ours=files_written())
        if not store:
            raise CertificateSourceError("no system trust store found on this machine (OpenSSL's default file or dir)")
        sources = (*sources, *store)
    return _REGISTRY.add(sources, live)


def remove(target: Certificate | str | os.PathLike[str]) -> RemoveResult:
    """Stop trusting one registered certificate (SHA-256 prefix of ≥ 8 hex digits,
    with or without colons), or every certificate a file contributed (a path).

    Removing the last one is a `reset`.
    """
    return _REGISTRY.remove(target)


def status() -> TrustStatus:
    """What is trusted beyond the defaults, which variables are ours, how to undo."""
    return _REGISTRY.status()


def reset() -> ResetResult:
    """Undo every change; leave (and report) what something else changed since."""
    return _REGISTRY.reset()


def files_written() -> list[str]:
    """The trust files this process wrote and the variables name now."""
    with _REGISTRY.lock:
        return sorted(set(_REGISTRY.variables.applied.values()))


def files_named_before_add() -> list[str]:
    """The files the CA variables named before the first `add` (now, if nothing was added)."""
    from ._environ import MANAGED_VARIABLES

    with _REGISTRY.lock:
        original = _REGISTRY.variables.original
        values = original.values() if original is not None else (os.environ.get(v) for v in MANAGED_VARIABLES)
        return sorted({v for v in values if v and os.path.isfile(v)})


def registered() -> list[Certificate]:
    with _REGISTRY.lock:
        return list(_REGISTRY.extras.values())
