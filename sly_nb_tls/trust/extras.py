"""Register extra CA certificates with every HTTPS client in this process — reversibly.

One `add` makes four kinds of change; each is recorded and has an inverse:

1. **Files** (`files`, `bases`): one bundle per distinct base (what a variable's
   readers trusted before, plus the extras), an extras-only file for the
   additive variables, and a wgetrc, in the per-user directory.  `reset`
   rewrites them to their bases; they are deleted at exit once unused.
2. **Environment** (`environ`): each CA variable points at its own bundle;
   `reset` restores a variable only if it still holds our value.
3. **New contexts** and 4. **live objects** (`live`): hooks on the ssl
   module, swapped shared contexts, default-store contexts given the extras in
   place, CA paths of botocore and httplib2 repointed, tornado's cache dropped.

This module holds the state those share, under one lock, and the operations
(`add_certs`, `remove`, `status`, `reset`).  It is fork-safe: a forked child
gets a fresh lock and its own file names, and never changes or deletes the
parent's files.  At interpreter exit this process's files are deleted unless a
live process (a child started after `add`) may still read them.
"""

from __future__ import annotations

import atexit
import os
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING

from .._fixes import where
from .._pem import Source as CertificateSource
from ..clients.base import CaSet, ClientTrust, TrustView
from ..errors import CertificateSourceError, StorageError
from .bases import collect_bases, default_sets, default_store_paths, take_over_rewritten
from .environ import CaVariables, inherited_from_server
from .files import TrustFiles
from .gate import AuditSource, admit, admit_narrowing, expiry_warnings, origins_as_sources, policy_or_default
from .jvms import RunningJvms
from .live import LiveTrust
from .lookup import find_registered
from .processes import boot_clock, children_started_before
from .results import AddResult, RemoveResult, ResetResult, TrustStatus
from .roots import WrappedRoots
from .writing import prepare_start_files, variable_values, write_variable_files

if TYPE_CHECKING:
    from .._certs import TrustedCertificate
    from .._sources import LoadedSources
    from .startup import StartRecord
    from .stored import StoredSources

__all__ = ["add_certs", "at_exit", "registered", "remove", "reset", "status"]


class _Registry:
    """All process-wide state, guarded by one lock."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._fork_hook = False
        self.extras: dict[str, TrustedCertificate] = {}
        self.origins: dict[str, set[str]] = {}
        #: variable -> what its readers trusted before the first `add`
        self.bases: dict[str, CaSet] | None = None
        #: file key -> what `reset` writes back into that file (its base)
        self.reset_contents: dict[str, bytes] = {}
        #: when the last `add` that trusted something new ran (boot clock; None: never, or reset since)
        self.added_at: float | None = None
        #: every fingerprint registered since activation, removed ones included
        self.ever_registered: set[str] = set()
        #: every fingerprint this process ever registered, across resets: a live context that
        #: holds some of them (OpenSSL cannot drop them) is still on its default store
        self.ever_trusted: set[str] = set()
        self.cadata = b""
        self.files = TrustFiles()
        #: variable -> the file it names now (its value, but for options that name it)
        self.paths: dict[str, str] = {}
        self.variables = CaVariables()
        self.live = LiveTrust(
            lambda: (self.cadata, frozenset(self.extras)),
            self._bundle_paths,
            lambda: dict(self.variables.applied),
            lambda: self.variables.original or {},
            lambda: self.default_stores,
        )
        #: real paths of the CA files and directories that count as "the defaults" (set at `add`)
        self.default_stores: set[str] = set()
        #: the exit hook is registered (once, at the first `add`)
        self.exit_hook = False
        #: what loading the extension applied by itself
        self.at_start: list[StartRecord] = []
        #: functions that read roots of their own when given none (gRPC's), wrapped while active
        self.roots = WrappedRoots(lambda: dict(self.variables.applied))
        #: JVMs this process drives (PySpark's driver), given the extras live
        self.jvms = RunningJvms(lambda: {sha: c.der for sha, c in self.extras.items()})

    def _default_sets(self) -> list[frozenset[str]]:
        return default_sets(self.bases or {})

    def _accepted_paths(self) -> dict[str, set[str]]:
        """Per variable, the files that count as its readers' default (a client fixed on one gets ours)."""
        return {var: set(base.files) for var, base in (self.bases or {}).items()}

    def _bundle_paths(self) -> set[str]:
        return set(self.variables.applied.values())

    @property
    def active(self) -> bool:
        return self.variables.original is not None

    @property
    def lock(self) -> threading.RLock:
        """The one lock.  The fork hook that replaces it in a child is registered at the first use,
        before the lock is ever taken: a child forked while a thread holds it gets a fresh one."""
        if not self._fork_hook:
            self._fork_hook = True
            os.register_at_fork(after_in_child=self.after_fork_in_child)
        return self._lock

    def after_fork_in_child(self) -> None:
        # The parent's lock may have been held by a thread that does not exist
        # here; the parent's files stay the parent's.
        self._lock = threading.RLock()
        self.files.forget_after_fork()
        self.jvms.forget_after_fork()

    def _apply(self, live: bool) -> tuple[list[str], list[str], list[str]]:
        """Write files, set variables, install hooks, update live contexts.

        Returns (variables set, live updates, notes).
        """
        notes: list[str] = []
        if not self.exit_hook:
            # Registered at the first change, not at import: importing changes nothing.
            atexit.register(at_exit)
            self.exit_hook = True
        # The first apply in a process (a kernel's start) keeps what it encodes for the next start.
        first = self.bases is None
        if self.bases is None:
            self.bases = collect_bases(self.variables.remember())
            self.default_stores = default_store_paths(self.bases)
        self.ever_registered |= set(self.extras)
        self.ever_trusted |= set(self.extras)
        # Variables something else changed since our last `add`, before this one sets them again.
        notes += take_over_rewritten(self.bases, self.variables, self.paths, self.ever_registered)
        for var, base in self.bases.items():
            notes += [f"{var}: {problem}; its bundle holds the extras without it" for problem in base.problems]
        extra_blocks = [(sha, cert.pem.encode("ascii")) for sha, cert in self.extras.items()]
        # An equivalent anchor stands in for its original root wherever a base holds that root.
        replaced = {getattr(cert, "original_sha256", "") for cert in self.extras.values()} - {""}
        self.paths = write_variable_files(self.bases, extra_blocks, replaced, self.files, self.reset_contents, first)
        variables = self.variables.point_at(variable_values(self.paths, self.variables.original or {}))
        self.cadata = b"".join(c.der for c in self.extras.values())
        self.live.install_hooks()
        self.roots.wrap()
        self.live.refresh_urllib_opener(self._default_sets(), self.ever_trusted)
        live_updates: list[str] = []
        if live:
            live_updates = self.update_live()
        else:
            # Contexts we swapped in earlier hold the old set; keep them current.
            if self.live.swaps:
                self.live.refresh_swaps({sha: c.der for sha, c in self.extras.items()})
            notes += self.jvms.update(self.paths, only_given=True)[1]
        return variables, live_updates, notes

    def update_live(self) -> list[str]:
        """Give the extras to the clients that exist already; what was updated.  No undo can take
        them out of a context again, so an `add` that may still fail does this last."""
        with self.lock:
            ders = {sha: c.der for sha, c in self.extras.items()}
            updates = self.live.refresh_swaps(ders)
            updated, _ = self.live.update_default_store_contexts(ders, self._default_sets(), self.ever_trusted)
            updates += updated + self.live.refresh_path_swaps(dict(self.variables.applied), self._accepted_paths())
            self.live.clear_cached_defaults()
            given, skipped = self.jvms.update(self.paths)
            return updates + given + [f"not updated: {note}" for note in skipped]

    # -- the operations --------------------------------------------------
    def add_loaded(self, loaded: LoadedSources | StoredSources, live: bool) -> AddResult:
        with self.lock:
            read: list[TrustedCertificate] = list(loaded.certificates)
            added = [c for c in read if c.sha256 not in self.extras]
            already = [c for c in read if c.sha256 in self.extras]
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
                if added:
                    self.added_at = boot_clock()
                result.variables_set = variables
                result.live_updated = live_updates
                result.notes = notes
            result.bundle_path = self.variables.applied.get("SSL_CERT_FILE", "")
            result.total_trusted = len(self.extras)
            return result

    def find(self, target: TrustedCertificate | str | os.PathLike[str]) -> list[TrustedCertificate]:
        return find_registered(self.extras, self.origins, target)

    def remove(self, target: TrustedCertificate | str | os.PathLike[str]) -> RemoveResult:
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
        result.notes.extend(self.live.uninstall(self._default_sets(), self.ever_trusted))
        result.notes.extend(self.roots.unwrap())
        self.extras.clear()
        self.origins.clear()
        self.cadata = b""
        result.holding = self.live.holding(set())
        # Rewrite, never delete: a thread or child that read a variable a moment ago must
        # still find its file, now holding only what it trusted before (deleted at exit).
        try:
            self.files.rewrite(self.reset_contents)
        except (OSError, StorageError) as exc:
            result.notes.append(f"could not rewrite the trust files to their bases: {exc}")
        result.notes.extend(self.jvms.restore(self.paths))  # after the rewrite: one started on ours reads its base
        self.bases = None
        self.added_at = None
        self.ever_registered = set()
        return result

    def reset(self) -> ResetResult:
        with self.lock:
            return self._reset()

    def at_exit(self) -> None:
        """The interpreter is ending: delete our files unless a live process may still read them."""
        with self.lock:
            self.files.release(exiting=True)

    def client_rows(self, hooked: bool, pinned: int) -> list[ClientTrust]:
        """Each client family's rows: the trust each HTTPS library here uses right now."""
        from ..clients import families

        with self.lock:
            ours = frozenset(self.variables.applied.values()) if self.active else frozenset()
            view = TrustView(
                ours,
                hooked,
                frozenset(self.extras),
                self.live.urllib_unverified(),
                self.jvms.state(self.paths if self.active else {}),
            )
        rows = [row for family in families() for row in family.rows(view)]
        if pinned:
            rows.append(
                ClientTrust("live contexts", f"{pinned} pinned to a CA set of their own", False, "pinned: left alone")
            )
        return rows

    def status(self) -> TrustStatus:
        with self.lock:
            st = TrustStatus(active=self.active, certificates=list(self.extras.values()))
            st.origins = {sha: sorted(self.origins.get(sha, ())) for sha in self.extras}
            st.holding = self.live.holding(set(self.extras))
            if not self.active:
                return st
            assert self.bases is not None
            registered = set(self.extras)
            st.variables = self.variables.states(
                {var: base.label for var, base in self.bases.items()},
                {var: len(registered - set(base.blocks)) for var, base in self.bases.items()},
                self.paths,
            )
            st.bundle_path = self.variables.applied.get("SSL_CERT_FILE")
            st.hooks = self.live.describe_hooks() + self.roots.labels()
            st.swapped = list(self.live.swaps) + [f"{label} (default SSL context)" for label in self.jvms.saved]
            st.live_contexts = len(self.live.given)
            _, st.pinned = self.live.update_default_store_contexts({}, self._default_sets(), self.ever_trusted)
            st.children_before_add = children_started_before(self.added_at)
            st.warnings = [w for c in self.extras.values() for w in c.warnings]
            for var in st.changed_by_other:
                st.warnings.append(f"{var} was changed by something else after add; reset will leave it")
            if self.live.urllib_unverified():
                st.warnings.append(
                    "ssl._create_default_https_context is _create_unverified_context: "
                    f"something in {where()} turned verification off for urllib"
                )
            return st


_REGISTRY = _Registry()


def at_exit() -> None:
    """What runs when the interpreter ends (registered at the first `add`): our files are deleted
    unless a live process (a child started after `add`) may still read them."""
    _REGISTRY.at_exit()


def add_certs(
    *sources: CertificateSource, live: bool = True, system: bool = False, persist: bool = False, as_is: bool = False
) -> AddResult:
    """Trust the certificates in `sources` in this process and its children (`sly_nb_tls.add_certs` says how)."""
    refuse_persisting_the_system_store(persist, system)
    store: list[str] = []
    if system:
        from ..clients.stores import system_store_files

        store = system_store_files(ours=files_written())
        if not store:
            raise CertificateSourceError("no system trust store found on this machine (OpenSSL's default file or dir)")
        sources = (*sources, *store)
    from .._sources import read_sources

    # The machine's own roots are trusted as they are: only a root the user names becomes its equivalent.
    loaded = read_sources(sources, as_is=as_is or frozenset(store))  # raises before anything changes
    if not persist:
        return trust_loaded(loaded, live, system=system)
    from .install import install

    # All or nothing: install may still fail, and what live contexts are given cannot be taken
    # back, so they come last; until then this add is undone exactly by removing what it added.
    result = trust_loaded(loaded, live=False, user_install=True)
    try:
        result.installed = install(*sources, scope="user", as_is=as_is)
        prepare_start_files(values_before_add())
    except BaseException:
        for cert in result.added:
            remove(cert)
        raise
    if live:
        result.live_updated = _REGISTRY.update_live()
    return result


def refuse_persisting_the_system_store(persist: bool, system: bool) -> None:
    if persist and system:
        raise CertificateSourceError(
            "--persist copies certificates for every new kernel; the system store changes with the machine, "
            "so persist the CA files themselves instead of --system"
        )


def update_live() -> list[str]:
    """Give the extras to the clients that exist already (an add made with ``live=False`` first)."""
    return _REGISTRY.update_live()


def trust_loaded(
    loaded: LoadedSources | StoredSources,
    live: bool,
    *,
    action: str = "add",
    via: Iterable[AuditSource] = (),
    system: bool = False,
    user_install: bool = False,
) -> AddResult:
    """Every add passes here: the policy first (all or nothing), then the registry, then the audit line.

    `via` names where the sources came from when that is more than their paths (an env file, an
    install scope, a variable), for the audit log.
    """
    sources = [*via, *origins_as_sources(loaded.origins)]
    door = admit(action, list(loaded.certificates), sources, system=system, user_install=user_install)
    result = _REGISTRY.add_loaded(loaded, live)
    if result.added:
        result.warnings += door.record(result.added)
    result.warnings += expiry_warnings(loaded.certificates, door.policy.expiry_warning_days)
    return result


def remove(target: TrustedCertificate | str | os.PathLike[str]) -> RemoveResult:
    """Stop trusting one registered certificate (SHA-256 prefix of ≥ 8 hex digits,
    with or without colons), or every certificate a file contributed (a path).

    Removing the last one is a `reset`.
    """
    from .._sources import resolve_path

    named = str(resolve_path(os.fspath(target))) if isinstance(target, (str, os.PathLike)) else ""
    door, warnings = admit_narrowing("remove", [("file", named)] if named and os.path.exists(named) else [])
    result = _REGISTRY.remove(target)
    result.warnings = warnings + door.record(result.removed)
    return result


def status(clients: bool = False) -> TrustStatus:
    """What is trusted beyond the defaults, which variables are ours, how to undo.

    ``clients=True`` also lists each HTTPS library importable here (and each tool on
    PATH) with the trust it will use right now, and flags those that will not see the extras.
    """
    st = _REGISTRY.status()
    st.at_start = list(_REGISTRY.at_start)
    st.warnings += [f"at start, {r.source}: {r.problem} (skipped)" for r in st.at_start if r.problem]
    with _REGISTRY.lock:
        st.inherited = inherited_from_server(_REGISTRY.variables.original)
    st.policy, problems = policy_or_default()
    st.warnings += problems + expiry_warnings(st.certificates, st.policy.expiry_warning_days)
    if clients:
        st.clients = _REGISTRY.client_rows(bool(st.hooks), st.pinned)
    return st


def started_with(records: list[StartRecord]) -> None:
    """What loading the extension applied by itself (`trust.startup`), for `status`."""
    _REGISTRY.at_start = list(records)


def reset() -> ResetResult:
    """Undo every change; leave (and report) what something else changed since."""
    door, warnings = admit_narrowing("reset")
    with _REGISTRY.lock:
        before = list(_REGISTRY.extras.values())
        result = _REGISTRY.reset()
    if result.was_active:
        result.notes += warnings + door.record(before)
    return result


def files_written_by_variable() -> dict[str, str]:
    """variable -> the trust file this process wrote for it, while `add` is in force."""
    with _REGISTRY.lock:
        return dict(_REGISTRY.paths) if _REGISTRY.active else {}


def files_written() -> list[str]:
    """The trust files this process wrote and the variables name now."""
    with _REGISTRY.lock:
        return sorted(set(_REGISTRY.paths.values())) if _REGISTRY.active else []


def values_before_add() -> dict[str, str | None]:
    """The CA variables' values before the first `add` (now, if nothing was added)."""
    from .environ import MANAGED_VARIABLES

    with _REGISTRY.lock:
        original = _REGISTRY.variables.original
        return dict(original) if original is not None else {v: os.environ.get(v) for v in MANAGED_VARIABLES}


def files_named_before_add() -> list[str]:
    """The files the CA variables named before the first `add` (now, if nothing was added)."""
    return sorted({v for v in values_before_add().values() if v and os.path.isfile(v)})


def registered() -> list[TrustedCertificate]:
    with _REGISTRY.lock:
        return list(_REGISTRY.extras.values())
