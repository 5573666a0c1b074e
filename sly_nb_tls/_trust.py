"""Register extra CA certificates with every HTTPS client in this process — reversibly.

In [1]: from sly_nb_tls import add_certs, status, reset
In [2]: add_certs("corp-chain.crt")        # requests, urllib, httpx, aiohttp, curl, children...
In [3]: status().changed_by_other           # variables someone else rewrote since
Out[3]: []
In [4]: reset()                             # every change below, undone exactly

One `add` makes four kinds of change; each is recorded and has an inverse:

1. **Files**: a merged bundle (base roots + extras) and an extras-only file,
   written atomically into the per-user directory (`_bundle`).
2. **Environment** (this process and its children): the CA variables point at
   the merged bundle; the previous values, including "unset", are remembered.
   `reset` restores a variable only if it still holds our value; a variable
   someone else rewrote since (``import supervisely`` does) is left and reported.
3. **New contexts**: ``SSLContext.load_default_certs`` and
   ``ssl.create_default_context`` (also behind ``ssl._create_default_https_context``)
   load the extras from a cached DER blob, so no bundle is re-read per context.
   Python 3.12+ urllib caches a context in its global opener; that opener is
   dropped (and put back on reset) so the next ``urlopen`` builds a new one.
4. **Live contexts** (skipped with ``live=False``): module-level contexts that a
   library looks up per connection (aiohttp's, requests 2.32.0–2.32.4's) are
   *swapped* for fresh ones and swapped back on reset; contexts owned by
   existing ``httpx`` clients are updated in place, which OpenSSL cannot undo,
   so `status` counts those that still hold removed certificates.
"""

from __future__ import annotations

import gc
import os
import re
import secrets
import ssl
import sys
import threading
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._bundle import BaseRoots, pem_blocks, user_dir, write_pem_file
from ._certs import Certificate, Source, read_sources, resolve_path
from ._errors import CertificateSourceError, UnknownCertificateError
from ._results import AddResult, EnvVarState, RemoveResult, ResetResult, TrustStatus

__all__ = [
    "ALWAYS_SET",
    "EXTRAS_VARIABLE",
    "SET_IF_PRESET",
    "add_certs",
    "registered",
    "remove",
    "reset",
    "status",
]

#: Variables that replace trust for Python, curl and OpenSSL clients: always
#: pointed at the merged bundle.
ALWAYS_SET = ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "CURL_CA_BUNDLE")
#: Variables of other tools (git, pip, node, AWS, httplib2, gRPC).  Pointed at
#: the merged bundle only if already set: then they name a file that would hide
#: the extras; the merged bundle contains that file, so nothing is lost.  Unset,
#: those tools keep their own defaults and we stay out of their way.
SET_IF_PRESET = (
    "GIT_SSL_CAINFO",
    "PIP_CERT",
    "NODE_EXTRA_CA_CERTS",
    "AWS_CA_BUNDLE",
    "HTTPLIB2_CA_CERTS",
    "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH",
)
#: Read by the Supervisely SDK at ``import supervisely`` (in children, too).
EXTRAS_VARIABLE = "SLY_EXTRA_CA_CERTS"
#: Every variable `add` may set and `reset` restores.
MANAGED_VARIABLES = ALWAYS_SET + SET_IF_PRESET + (EXTRAS_VARIABLE,)
_MARK = "__sly_nb_tls__"
_HEX = re.compile(r"[0-9a-f]+")


def _is_ours(obj: object) -> bool:
    return getattr(obj, _MARK, False) is True


def _wants_extras(ctx: ssl.SSLContext, purpose: object) -> bool:
    """Client contexts that verify servers; never server-side or CERT_NONE ones."""
    return (
        purpose == ssl.Purpose.SERVER_AUTH
        and ctx.verify_mode != ssl.CERT_NONE
        and ctx.protocol != ssl.PROTOCOL_TLS_SERVER
    )


class _SslHooks:
    """Patches that make contexts created from now on load the extras."""

    def __init__(self, get_cadata: Callable[[], bytes]):
        self._get_cadata = get_cadata
        self.originals: dict[str, Any] = {}
        self.saved_opener: Any = None
        self.opener_dropped = False

    @property
    def installed(self) -> bool:
        return bool(self.originals)

    def install(self) -> None:
        if self.installed:
            return
        get_cadata = self._get_cadata
        original_load = ssl.SSLContext.load_default_certs
        original_create = ssl.create_default_context

        def load_default_certs(self: ssl.SSLContext, purpose: ssl.Purpose = ssl.Purpose.SERVER_AUTH) -> None:
            original_load(self, purpose)
            cadata = get_cadata()
            if cadata and _wants_extras(self, purpose):
                self.load_verify_locations(cadata=cadata)

        def create_default_context(
            purpose: ssl.Purpose = ssl.Purpose.SERVER_AUTH,
            *,
            cafile: Any = None,
            capath: Any = None,
            cadata: Any = None,
        ) -> ssl.SSLContext:
            ctx = original_create(purpose, cafile=cafile, capath=capath, cadata=cadata)
            # Without cafile/capath/cadata the context went through
            # load_default_certs above and has the extras already.
            extra = get_cadata()
            if extra and (cafile or capath or cadata) and _wants_extras(ctx, purpose):
                ctx.load_verify_locations(cadata=extra)
            return ctx

        for fn, orig in ((load_default_certs, original_load), (create_default_context, original_create)):
            setattr(fn, "__wrapped__", orig)  # noqa: B010 - functools.wraps would copy the name too
            fn.__doc__ = orig.__doc__
            setattr(fn, _MARK, True)
        self.originals = {
            "SSLContext.load_default_certs": original_load,
            "ssl.create_default_context": original_create,
        }
        ssl.SSLContext.load_default_certs = load_default_certs  # type: ignore[method-assign]
        ssl.create_default_context = create_default_context
        # http.client calls ssl._create_default_https_context(), which is the
        # original create_default_context object, not a name lookup of it.
        if ssl._create_default_https_context is original_create:
            self.originals["ssl._create_default_https_context"] = original_create
            ssl._create_default_https_context = create_default_context

    def refresh_urllib_opener(self) -> None:
        """Drop urllib's cached default opener if its HTTPS handler holds a context.

        Python 3.12+ builds one context per HTTPSHandler and urlopen() caches
        the opener, so without this a later urlopen() never sees new trust.
        A user-installed opener (any non-default handler) is left alone.
        """
        ur = sys.modules.get("urllib.request")
        opener = getattr(ur, "_opener", None)
        if ur is None or opener is None or opener is self.saved_opener or not _default_opener_with_context(opener):
            return
        if not self.opener_dropped:
            self.saved_opener = opener
            self.opener_dropped = True
        ur._opener = None  # type: ignore[attr-defined]

    def uninstall(self) -> list[str]:
        notes: list[str] = []
        if "SSLContext.load_default_certs" in self.originals:
            if _is_ours(ssl.SSLContext.__dict__.get("load_default_certs")):
                ssl.SSLContext.load_default_certs = self.originals["SSLContext.load_default_certs"]  # type: ignore[method-assign]
            else:
                notes.append("left SSLContext.load_default_certs: replaced by something else after add")
        if "ssl.create_default_context" in self.originals:
            if _is_ours(ssl.create_default_context):
                ssl.create_default_context = self.originals["ssl.create_default_context"]
            else:
                notes.append("left ssl.create_default_context: replaced by something else after add")
        if "ssl._create_default_https_context" in self.originals:
            if _is_ours(ssl._create_default_https_context):
                ssl._create_default_https_context = self.originals["ssl._create_default_https_context"]
            else:
                notes.append("left ssl._create_default_https_context: replaced by something else after add")
        ur = sys.modules.get("urllib.request")
        if ur is not None:
            opener = getattr(ur, "_opener", None)
            # An opener urlopen() built while we were active trusts the extras.
            if opener is None or (opener is not self.saved_opener and _default_opener_with_context(opener)):
                ur._opener = self.saved_opener  # type: ignore[attr-defined]
        self.originals = {}
        self.saved_opener = None
        self.opener_dropped = False
        return notes

    def describe(self) -> list[str]:
        return list(self.originals)


def _pem_file_certificates(path: str | None) -> bytes:
    """The certificate blocks of a PEM file, or nothing if there is no readable file."""
    if not path or not os.path.isfile(path):
        return b""
    try:
        with open(path, "rb") as fh:
            return b"".join(block for _, block in pem_blocks(fh.read()))
    except OSError:
        return b""


def _instances_of(*roots: type | None) -> list[Any]:
    """Live instances of `roots` and their subclasses, without a Python-level sweep.

    Instances of Python classes visit their type during GC traversal, so
    gc.get_referrers(cls) finds them in C: about 4x cheaper than testing
    isinstance() on every tracked object (18 vs 80 ms at 1M objects).
    """
    classes: set[type] = set()
    stack = [r for r in roots if r is not None]
    while stack:
        cls = stack.pop()
        if cls not in classes:
            classes.add(cls)
            stack.extend(cls.__subclasses__())
    if not classes:
        return []
    return [obj for obj in gc.get_referrers(*classes) if type(obj) in classes]


def _default_opener_with_context(opener: Any) -> bool:
    handlers = getattr(opener, "handlers", [])
    if not handlers or any(type(h).__module__ != "urllib.request" for h in handlers):
        return False
    return any(getattr(h, "_context", None) is not None for h in handlers)


@dataclass
class _Swap:
    label: str
    module: str
    attr: str
    original: Any
    current: Any
    holds: set[str] = field(default_factory=set)  # fingerprints `current` trusts


class _Registry:
    """All process-wide state, guarded by one lock."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.extras: dict[str, Certificate] = {}
        self.origins: dict[str, set[str]] = {}
        self.original_env: dict[str, str | None] | None = None
        self.applied_env: dict[str, str] = {}
        self.base: BaseRoots | None = None
        #: every fingerprint registered since activation, removed ones included
        self.ever_registered: set[str] = set()
        #: certificates of a SLY_EXTRA_CA_CERTS file that was set before activation
        self.preset_extras = b""
        self.cadata = b""
        self.hooks = _SslHooks(lambda: self.cadata)
        self.swaps: dict[str, _Swap] = {}
        self.mutated: weakref.WeakKeyDictionary[ssl.SSLContext, set[str]] = weakref.WeakKeyDictionary()
        self.paths: tuple[Path, Path] | None = None

    @property
    def active(self) -> bool:
        return self.original_env is not None

    # -- files and environment ------------------------------------------
    def _file_paths(self) -> tuple[Path, Path]:
        if self.paths is None:
            # Per process: two kernels adding different CAs at once never
            # overwrite each other's bundle.
            tag = f"{os.getpid()}-{secrets.token_hex(4)}"
            directory = user_dir()
            self.paths = (directory / f"bundle-{tag}.pem", directory / f"extra-{tag}.pem")
        return self.paths

    def _apply(self, live: bool) -> tuple[list[str], list[str], list[str]]:
        """Write files, set variables, install hooks, update live contexts.

        Returns (variables set, live updates, notes).
        """
        notes: list[str] = []
        if self.original_env is None:
            originals = {v: os.environ.get(v) for v in MANAGED_VARIABLES}
            self.base = BaseRoots.collect({k: v for k, v in originals.items() if v})
            self.preset_extras = _pem_file_certificates(originals.get(EXTRAS_VARIABLE))
            self.original_env = originals
        assert self.base is not None
        self.ever_registered |= set(self.extras)
        for var, ours in self.applied_env.items():
            current = os.environ.get(var)
            if current != ours and current and self.base.add_path(current, exclude=self.ever_registered):
                notes.append(
                    f"{var} had been changed to {current} by something else; "
                    "its certificates are kept in the new bundle"
                )
        merged_path, extras_path = self._file_paths()
        extra_blocks = [(sha, cert.pem.encode("ascii")) for sha, cert in self.extras.items()]
        write_pem_file(merged_path, self.base.merged_with(extra_blocks))
        write_pem_file(extras_path, self.preset_extras + b"".join(b for _, b in extra_blocks))
        applied: dict[str, str] = {}
        for var in ALWAYS_SET:
            applied[var] = str(merged_path)
        for var in SET_IF_PRESET:
            if self.original_env.get(var):
                applied[var] = str(merged_path)
        applied[EXTRAS_VARIABLE] = str(extras_path)
        os.environ.update(applied)
        self.applied_env = applied
        self.cadata = b"".join(c.der for c in self.extras.values())
        self.hooks.install()
        self.hooks.refresh_urllib_opener()
        live_updates: list[str] = []
        if live:
            live_updates = self._refresh_swaps() + self._update_owned_contexts()
        elif self.swaps:
            # Contexts we swapped in earlier hold the old set; keep them current.
            self._refresh_swaps()
        return list(applied), live_updates, notes

    # -- live contexts ---------------------------------------------------
    def _swap_targets(self) -> list[tuple[str, str, str, Callable[[], Any]]]:
        targets: list[tuple[str, str, str, Callable[[], Any]]] = []
        connector = sys.modules.get("aiohttp.connector")
        if connector is not None and isinstance(getattr(connector, "_SSL_CONTEXT_VERIFIED", None), ssl.SSLContext):
            make = getattr(connector, "_make_ssl_context", None)
            targets.append(
                (
                    "aiohttp default context",
                    "aiohttp.connector",
                    "_SSL_CONTEXT_VERIFIED",
                    (lambda: make(True)) if callable(make) else ssl.create_default_context,
                )
            )
        adapters = sys.modules.get("requests.adapters")
        if adapters is not None and isinstance(getattr(adapters, "_preloaded_ssl_context", None), ssl.SSLContext):
            targets.append(
                ("requests preloaded context", "requests.adapters", "_preloaded_ssl_context", self._requests_context)
            )
        return targets

    def _requests_context(self) -> ssl.SSLContext:
        # What requests 2.32.0-2.32.4 builds at import, plus the extras.
        from requests import utils
        from urllib3.util.ssl_ import create_urllib3_context

        ctx = create_urllib3_context()
        ctx.load_verify_locations(utils.extract_zipped_paths(utils.DEFAULT_CA_BUNDLE_PATH))  # type: ignore[no-untyped-call]
        if self.cadata:
            ctx.load_verify_locations(cadata=self.cadata)
        return ctx

    def _refresh_swaps(self) -> list[str]:
        done = []
        for label, module_name, attr, build in self._swap_targets():
            module = sys.modules[module_name]
            current = getattr(module, attr)
            swap = self.swaps.get(label)
            if swap is not None and current is not swap.current:
                continue  # someone else replaced it since; not ours to touch
            if swap is not None and swap.holds <= set(self.extras):
                # Our own context, and nothing was removed: adding to it is
                # enough (and saves building a context, ~25 ms).
                missing = [sha for sha in self.extras if sha not in swap.holds]
                if missing:
                    swap.current.load_verify_locations(cadata=b"".join(self.extras[s].der for s in missing))
                    swap.holds |= set(missing)
                done.append(label)
                continue
            fresh = build()
            if swap is None:
                swap = self.swaps[label] = _Swap(label, module_name, attr, current, fresh)
            swap.current = fresh
            swap.holds = set(self.extras)
            setattr(module, attr, fresh)
            done.append(label)
        return done

    def _update_owned_contexts(self) -> list[str]:
        httpx = sys.modules.get("httpx")
        if httpx is None or not self.cadata:
            return []
        wanted = set(self.extras)
        updated = 0
        for obj in _instances_of(getattr(httpx, "Client", None), getattr(httpx, "AsyncClient", None)):
            mounts = getattr(obj, "_mounts", None) or {}
            for transport in [getattr(obj, "_transport", None), *mounts.values()]:
                ctx = getattr(getattr(transport, "_pool", None), "_ssl_context", None)
                if not isinstance(ctx, ssl.SSLContext) or not _wants_extras(ctx, ssl.Purpose.SERVER_AUTH):
                    continue
                have = self.mutated.get(ctx, set())
                missing = [sha for sha in self.extras if sha not in have]
                if not missing:
                    continue
                ctx.load_verify_locations(cadata=b"".join(self.extras[s].der for s in missing))
                self.mutated[ctx] = have | wanted
                updated += 1
        return [f"{updated} httpx client context(s)"] if updated else []

    def holding_removed(self) -> int:
        current = set(self.extras)
        return sum(1 for shas in list(self.mutated.values()) if shas - current)

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
            result.bundle_path = str(self._file_paths()[0])
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
                result.live_contexts_holding = result.reset.live_contexts_holding
                return result
            self._apply(live=False)
            result.live_contexts_holding = self.holding_removed()
            return result

    def _reset(self) -> ResetResult:
        result = ResetResult(was_active=self.active)
        if not self.active:
            return result
        assert self.original_env is not None
        for var, ours in self.applied_env.items():
            current = os.environ.get(var)
            original = self.original_env.get(var)
            if current == ours:
                if original is None:
                    os.environ.pop(var, None)
                else:
                    os.environ[var] = original
                result.restored.append((var, original))
            else:
                result.left.append((var, current))
        result.notes.extend(self.hooks.uninstall())
        for swap in self.swaps.values():
            module = sys.modules.get(swap.module)
            if module is not None and getattr(module, swap.attr, None) is swap.current:
                setattr(module, swap.attr, swap.original)
            else:
                result.notes.append(f"left {swap.label}: replaced by something else after add")
        self.extras.clear()
        self.origins.clear()
        self.cadata = b""
        result.live_contexts_holding = self.holding_removed()
        if self.paths is not None:
            still_used = set(os.environ.values())
            for path in self.paths:
                if str(path) not in still_used:
                    try:
                        path.unlink()
                    except FileNotFoundError:
                        pass
        self.swaps.clear()
        self.original_env = None
        self.applied_env = {}
        self.base = None
        self.ever_registered = set()
        self.preset_extras = b""
        return result

    def reset(self) -> ResetResult:
        with self.lock:
            return self._reset()

    def status(self) -> TrustStatus:
        with self.lock:
            st = TrustStatus(active=self.active, certificates=list(self.extras.values()))
            if not self.active:
                return st
            assert self.original_env is not None and self.base is not None
            for var in MANAGED_VARIABLES:
                ours = self.applied_env.get(var)
                st.variables.append(EnvVarState(var, self.original_env.get(var), ours, os.environ.get(var)))
            st.bundle_path = self.applied_env.get("SSL_CERT_FILE")
            st.base_files = list(self.base.files)
            st.hooks = self.hooks.describe()
            st.swapped = [s.label for s in self.swaps.values()]
            st.live_contexts = len(self.mutated)
            st.live_contexts_holding_removed = self.holding_removed()
            st.warnings = [w for c in self.extras.values() for w in c.warnings]
            for var in st.changed_by_other:
                st.warnings.append(f"{var} was changed by something else after add; reset will leave it")
            if ssl._create_default_https_context is getattr(ssl, "_create_unverified_context", None):
                st.warnings.append(
                    "ssl._create_default_https_context is _create_unverified_context: "
                    "something in this kernel turned verification off for urllib"
                )
            return st


_REGISTRY = _Registry()


def add_certs(*sources: Source, live: bool = True) -> AddResult:
    """Trust the certificates in `sources` in this process and its children.

    A source is a file (PEM with one or many certificates, DER, PKCS#7), a
    directory of such files, PEM text, or bytes.  All or nothing: if any
    source is rejected, `CertificateSourceError` is raised and nothing changes.
    ``live=False`` leaves already-existing client contexts alone.
    """
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


def registered() -> list[Certificate]:
    with _REGISTRY.lock:
        return list(_REGISTRY.extras.values())
