"""The extras in contexts that are built, or already live, inside this process: hooks, swaps, in-place updates.

Every touch of another library's private attributes happens here, and every
such name comes from the client families (`sly_nb_tls.clients`) as data:
their shared contexts to swap, cached ones to drop, CA paths to repoint, the
opener urllib caches.  So a library upgrade breaks in one client module, and
this one knows no client by name.  Contexts made before `add` are found by
their class, not by library: one whose CA set is a default store (certifi,
OpenSSL's file, a preset bundle) gets the extras in place; one pinned to
anything else is never touched.

Patches are tracked by the objects they replaced, as truststore does, not by
the names they sit under: the hook goes on the ssl module's own ``SSLContext``
class (found through ``_ssl._SSLContext``, whatever ``ssl.SSLContext`` names
now -- truststore replaces that name), and is undone on that same class.
A patch that something else stacked on top of ours is left and reported.

Every context that was given the extras (by a hook or in place) is remembered
weakly with the fingerprints it holds: OpenSSL cannot take a certificate out
of a context, so `holding` tells `status` and `reset` which clients to recreate.
"""

from __future__ import annotations

import _ssl
import functools
import hashlib
import os
import ssl
import sys
import weakref
from collections.abc import Callable, Mapping
from typing import Any

from .._objects import instances_of
from .._tls import MARK as _MARK
from ..clients import families
from ..clients.base import CachedOpener
from .contexts import GivenContexts, client_of, default_store_of, wants_extras
from .patches import Patch, PathSwap, Swap

__all__ = ["LiveTrust", "stdlib_context_class"]

#: (DER blob of every extra certificate, their fingerprints), read at each use.
TrustState = Callable[[], tuple[bytes, frozenset[str]]]


def stdlib_context_class() -> type[ssl.SSLContext]:
    """The ssl module's own SSLContext class, even after ``ssl.SSLContext`` was renamed away."""
    for cls in _ssl._SSLContext.__subclasses__():
        if cls.__module__ == "ssl" and cls.__name__ == "SSLContext":
            return cls  # type: ignore[return-value]
    return ssl.SSLContext  # pragma: no cover - CPython always defines it


def _caller_label(depth: int = 2) -> str:
    """Who is building a context: the top-level package of the first frame outside ssl and us."""
    frame = sys._getframe(depth)
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if module not in ("ssl", __name__):
            if module == "__main__" or module.startswith("<"):
                return "your code"
            return client_of(module.split(".", 1)[0]) or "unknown"
        frame = frame.f_back  # type: ignore[assignment]
    return "unknown"  # pragma: no cover


#: The handlers `urlopen` puts in the opener it builds for itself (`build_opener()` with no
#: arguments), besides a ProxyHandler, which it keeps only while proxy variables are set.
_URLOPEN_HANDLERS = sorted(
    ["UnknownHandler", "HTTPHandler", "HTTPDefaultErrorHandler", "HTTPRedirectHandler", "FTPHandler", "FileHandler",
     "HTTPErrorProcessor", "DataHandler", "HTTPSHandler"]
)  # fmt: skip


def _cached_opener() -> CachedOpener | None:
    return next((f.cached_opener for f in families() if f.cached_opener is not None), None)


def _urlopen_own_opener(opener: Any, defaults: list[frozenset[str]], ever: set[str]) -> bool:
    """Is `opener` the one `urlopen` built for itself (3.12+: with a context of its own)?

    Only that one is ours to drop and put back.  An opener the user installed
    (`install_opener`) has a handler of its own (cookies), explicit proxies, or an
    HTTPS context pinned to its own CAs: it is the user's, and stays.
    """
    spec = _cached_opener()
    ur = sys.modules.get(spec.module) if spec else None
    handlers = list(getattr(opener, "handlers", []))
    if spec is None or ur is None or any(type(h) is not getattr(ur, type(h).__name__, None) for h in handlers):
        return False  # a handler class of the user's
    by_name = {type(h).__name__: h for h in handlers}
    proxy = by_name.pop("ProxyHandler", None)
    if sorted(type(h).__name__ for h in handlers if h is not proxy) != _URLOPEN_HANDLERS:
        return False
    if proxy is not None and getattr(proxy, "proxies", None) != ur.getproxies():
        return False  # proxies of the user's choosing
    https = by_name["HTTPSHandler"]
    context = getattr(https, spec.context_attr, None)
    if context is None or getattr(https, spec.check_hostname_attr, None) is not None:
        return False
    # urlopen's handler builds its context with http.client, which turns post-handshake auth on;
    # ssl.create_default_context() leaves it off, so a context the user made (a client
    # certificate loaded into it, say) is told apart even when it sits on the default store.
    if context.post_handshake_auth is not True:
        return False
    return default_store_of(context, defaults, ever)[0] != "pinned"


class LiveTrust:
    """Hooks for new contexts, swaps of shared ones, in-place updates of existing ones."""

    def __init__(
        self,
        state: TrustState,
        files: Callable[[], set[str]] = set,
        applied: Callable[[], dict[str, str]] = dict,
        original: Callable[[], Mapping[str, str | None]] = dict,
        default_stores: Callable[[], set[str]] = set,
    ):
        self._state = state
        #: real paths of the CA files and directories that are "the defaults" here (certifi,
        #: OpenSSL's, a preset bundle): a context built on one of them gets the extras
        self._default_stores = default_stores
        #: the trust files we wrote: a context that loads one of them holds the extras
        self._files = files
        #: variable -> the file `add` pointed it at
        self._applied = applied
        #: the CA variables' values before the first `add`
        self._original = original
        self.patches: list[Patch] = []
        self.swaps: dict[str, Swap] = {}
        self.path_swaps: list[PathSwap] = []
        self.saved_opener: Any = None
        self.opener_dropped = False
        #: every context given the extras, with the fingerprints it holds and who built it
        self.given = GivenContexts()

    # -- hooks for contexts built from now on ---------------------------
    @property
    def hooks_installed(self) -> bool:
        return bool(self.patches)

    def _track(self, ctx: ssl.SSLContext, shas: frozenset[str], label: str) -> None:
        self.given.track(ctx, shas, label)

    def install_hooks(self) -> None:
        if not self.patches:
            self.patches = _Hooks(self).apply()

    def refresh_urllib_opener(self, defaults: list[frozenset[str]], ever: set[str]) -> None:
        """Drop the opener `urlopen` cached for itself, if its HTTPS handler holds a context.

        Python 3.12+ builds one context per HTTPSHandler and urlopen() caches
        the opener, so without this a later urlopen() never sees new trust.
        An opener the user installed is left alone (see `_urlopen_own_opener`).
        """
        spec = _cached_opener()
        module = sys.modules.get(spec.module) if spec else None
        opener = getattr(module, spec.attr, None) if spec else None
        if spec is None or opener is None or opener is self.saved_opener:
            return
        if not _urlopen_own_opener(opener, defaults, ever):
            return
        if not self.opener_dropped:
            self.saved_opener = opener
            self.opener_dropped = True
        setattr(module, spec.attr, None)

    def describe_hooks(self) -> list[str]:
        return [p.label for p in self.patches]

    # -- shared contexts and clients that exist already -----------------
    def _swap_targets(self) -> list[tuple[str, str, str, Callable[[], ssl.SSLContext]]]:
        """The families' shared contexts that exist in this process now: (label, module, attribute, build)."""
        targets = []
        for family in families():
            for shared in family.shared_contexts:
                module = sys.modules.get(shared.module)
                if module is None or not isinstance(getattr(module, shared.attr, None), ssl.SSLContext):
                    continue
                build = shared.build
                if shared.builder is not None and callable(getattr(module, shared.builder[0], None)):
                    build = functools.partial(getattr(module, shared.builder[0]), *shared.builder[1])
                targets.append((shared.label, shared.module, shared.attr, build))
        return targets

    def _built_with_extras(self, build: Callable[[], ssl.SSLContext], client: str) -> ssl.SSLContext:
        """A fresh shared context: the hooks give a default one the extras; one the library
        loads from a file of its own (requests' certifi) gets them here."""
        ctx = build()
        self.given.forget(ctx)  # the hooks named its builder (us); `holding` names the library
        cadata, shas = self._state()
        holds = {hashlib.sha256(d).hexdigest() for d in ctx.get_ca_certs(binary_form=True)}
        if cadata and not shas <= holds:
            ctx.load_verify_locations(cadata=cadata)
        if cadata:
            self._track(ctx, shas, client)
        return ctx

    def refresh_swaps(self, extras: dict[str, bytes]) -> list[str]:
        """Swap shared contexts for ones holding `extras` (fingerprint -> DER); returns what was done."""
        done = []
        wanted = frozenset(extras)
        for label, module_name, attr, build in self._swap_targets():
            module = sys.modules[module_name]
            current = getattr(module, attr)
            swap = self.swaps.get(label)
            if swap is not None and current is not swap.current:
                continue  # someone else replaced it since; not ours to touch
            if swap is not None and swap.holds <= wanted:
                # Our own context, and nothing was removed: adding to it is
                # enough (and saves building a context, ~25 ms).
                missing = [sha for sha in extras if sha not in swap.holds]
                if missing:
                    swap.current.load_verify_locations(cadata=b"".join(extras[s] for s in missing))
                    swap.holds = swap.holds | frozenset(missing)
                    self._track(swap.current, swap.holds, label)
                done.append(label)
                continue
            fresh = self._built_with_extras(build, module_name.split(".", 1)[0])
            if swap is None:
                swap = self.swaps[label] = Swap(label, module_name, attr, current, fresh)
            swap.current = fresh
            swap.holds = wanted
            setattr(module, attr, fresh)
            done.append(label)
        return done

    def update_default_store_contexts(
        self, extras: dict[str, bytes], defaults: list[frozenset[str]], ever: set[str]
    ) -> tuple[list[str], int]:
        """Give the extras, in place, to each live client context whose CA set is a default store
        (see `GivenContexts.update_in_place`); returns (what was updated, how many are pinned)."""
        ours = {id(s.original) for s in self.swaps.values()} | {id(s.current) for s in self.swaps.values()}
        # urllib's opener from before add is put back by reset: its context must stay as it was.
        spec = _cached_opener()
        if spec is not None:
            ours |= {id(getattr(h, spec.context_attr, None)) for h in getattr(self.saved_opener, "handlers", [])}
        live = [c for c in instances_of(stdlib_context_class()) if id(c) not in ours]
        return self.given.update_in_place(live, extras, defaults, ever)

    def refresh_path_swaps(self, files: dict[str, str], accepted: dict[str, set[str]]) -> list[str]:
        """Point clients that fixed a CA *path* before `add` at their variable's bundle.

        `files`: variable -> our file; `accepted`: variable -> real paths that count as
        that client's default (its base).  A client pinned to another file is left alone.
        """
        done = []
        targets = [
            (path.label, owner, path.attr, path.variable, path.certifi_marker)
            for family in families()
            for path in family.ca_paths
            for owner in path.owners()
        ]
        counts: dict[str, int] = {}
        for label, owner, attr, variable, certifi_marker in targets:
            ours = files.get(variable)
            if ours is None:
                continue
            current = getattr(owner, attr)
            swap = next((p for p in self.path_swaps if p.owner() is owner and p.attr == attr), None)
            if swap is not None:
                if current == swap.current and current != ours:  # our file moved (a new base)
                    setattr(owner, attr, ours)
                    swap.current = ours
                continue
            # A marker for "certifi, looked up at each request" (botocore's True) is a default only
            # where the variable's base is certifi (not a preset REQUESTS_CA_BUNDLE or an AWS ca_bundle).
            own = accepted.get(variable, set())
            if certifi_marker is not None and current is certifi_marker:
                import certifi

                default = os.path.realpath(certifi.where()) in own
            else:
                default = isinstance(current, str) and os.path.realpath(current) in own
            if not default:
                continue
            setattr(owner, attr, ours)
            self.path_swaps.append(PathSwap(label, weakref.ref(owner), attr, current, ours))
            counts[label] = counts.get(label, 0) + 1
        for label, n in counts.items():
            done.append(label if n == 1 else f"{n} {label}s")
        return done

    def clear_cached_defaults(self) -> None:
        """Drop contexts a library caches for "the defaults", so the next one is built anew.

        Cleared at `add` (the next one is built through the hooks) and at `reset` (the next
        one is built without the extras): an exact inverse either way.
        """
        for family in families():
            for cached in family.cached_contexts:
                function = getattr(sys.modules.get(cached.module), cached.attr, None)
                if callable(getattr(function, "cache_clear", None)):
                    function.cache_clear()  # type: ignore[union-attr]

    def urllib_unverified(self) -> bool:
        """Has something in this process turned verification off for urllib (the classic workaround)?"""
        return ssl._create_default_https_context is getattr(ssl, "_create_unverified_context", None)

    # -- accounting and undo --------------------------------------------
    def holding(self, registered: set[str]) -> dict[str, int]:
        """Live contexts that trust a certificate no longer in `registered`, counted by who built them;
        shared contexts we swapped in are not counted while they are ours to swap back."""
        return self.given.holding(registered, {id(s.current) for s in self.swaps.values()})

    def uninstall(self, defaults: list[frozenset[str]], ever: set[str]) -> list[str]:
        """Undo hooks, swaps and the dropped opener; returns notes on what was left, and why.

        `defaults` and `ever` tell urlopen's own opener from one the user installed.
        """
        notes: list[str] = []
        for patch in self.patches:
            if not patch.undo():
                notes.append(f"left {patch.label}: replaced by something else after add")
        spec = _cached_opener()
        module = sys.modules.get(spec.module) if spec else None
        if spec is not None and module is not None:
            opener = getattr(module, spec.attr, None)
            # An opener urlopen() built while we were active trusts the extras; one the user
            # installed since is theirs.
            if opener is None or (opener is not self.saved_opener and _urlopen_own_opener(opener, defaults, ever)):
                setattr(module, spec.attr, self.saved_opener)
        for swap in self.swaps.values():
            module = sys.modules.get(swap.module)
            ours: ssl.SSLContext = swap.current
            if module is not None and getattr(module, swap.attr, None) is ours:
                setattr(module, swap.attr, swap.original)
                self.given.forget(ours)  # nothing uses it any more
            else:
                notes.append(f"left {swap.label}: replaced by something else after add")
        for path_swap in self.path_swaps:
            if not path_swap.undo():
                notes.append(f"left {path_swap.label}: changed by something else after add")
        self.clear_cached_defaults()
        self.patches = []
        self.swaps = {}
        self.path_swaps = []
        self.saved_opener = None
        self.opener_dropped = False
        return notes


class _Hooks:
    """The replacements for the ssl module's context factories, and the originals under them."""

    def __init__(self, live: LiveTrust) -> None:
        self.live = live
        self.context_class = stdlib_context_class()
        self.original_load = self.context_class.__dict__["load_default_certs"]
        self.original_create = ssl.create_default_context
        # A C method of _ssl._SSLContext: the Python class inherits it, so ours goes
        # on the class and undoing it means deleting ours again (None = inherited).
        self.original_verify = self.context_class.__dict__.get("load_verify_locations")
        self.verify_locations = self.original_verify or _ssl._SSLContext.load_verify_locations
        self.own_roots = [f.own_roots for f in families() if f.own_roots is not None]

    def default_file(self) -> str | None:
        """Our bundle in SSL_CERT_FILE, which OpenSSL's default paths load: it holds the extras."""
        return self.live._applied().get("SSL_CERT_FILE")

    def on_default_store(self, cafile: Any, capath: Any, cadata: Any) -> bool:
        """A context made from a default store wants the extras; one pinned to a file, a
        directory or `cadata` of its own never gets them (trust is never widened implicitly)."""
        if cadata is not None or (cafile is None and capath is None):
            return False
        stores = self.live._default_stores()
        return all(p is None or os.path.realpath(os.fspath(p)) in stores for p in (cafile, capath))

    def keep_own_roots(self, cafile: Any) -> tuple[str | None, str | None] | None:
        """A client that reads a variable we point at a bundle but trusted other roots before
        (httpx: SSL_CERT_FILE, certifi): the (cafile, capath) that keep it on its own roots."""
        if cafile is None:
            return None
        for rule in self.own_roots:
            ours = self.live._applied().get(rule.variable)
            if ours is not None and os.fspath(cafile) == ours and _caller_label(3) in rule.callers:
                roots: tuple[str | None, str | None] | None = rule.roots(self.live._original())
                return roots
        return None

    def holds_ours(self, cafile: Any) -> bool:
        """requests, urllib3 and httpx load the bundle a variable names: such a context holds
        the extras as surely as one the hooks gave them to."""
        return cafile is not None and os.fspath(cafile) in self.live._files()

    def load_default_certs(self) -> Callable[..., None]:
        hooks, state, track = self, self.live._state, self.live._track

        def load_default_certs(self: ssl.SSLContext, purpose: ssl.Purpose = ssl.Purpose.SERVER_AUTH) -> None:
            hooks.original_load(self, purpose)
            cadata, shas = state()
            if cadata and wants_extras(self, purpose):
                # OpenSSL has just read SSL_CERT_FILE: while that is our bundle, the context
                # holds the extras already, and parsing them again costs every new context.
                if os.environ.get("SSL_CERT_FILE") != hooks.default_file():
                    hooks.verify_locations(self, None, None, cadata)
                track(self, shas, _caller_label())

        return load_default_certs

    def create_default_context(self) -> Callable[..., ssl.SSLContext]:
        hooks, state, track = self, self.live._state, self.live._track

        def create_default_context(
            purpose: ssl.Purpose = ssl.Purpose.SERVER_AUTH, *, cafile: Any = None, capath: Any = None,
            cadata: Any = None,
        ) -> ssl.SSLContext:  # fmt: skip
            if (own := hooks.keep_own_roots(cafile)) is not None:
                cafile, capath = own
            ctx = hooks.original_create(purpose, cafile=cafile, capath=capath, cadata=cadata)
            # Without cafile/capath/cadata the context went through load_default_certs and has them.
            extra, shas = state()
            if extra and wants_extras(ctx, purpose) and hooks.on_default_store(cafile, capath, cadata):
                ctx.load_verify_locations(cadata=extra)
                track(ctx, shas, _caller_label())
            elif hooks.holds_ours(cafile):
                track(ctx, shas, _caller_label())
            return ctx

        return create_default_context

    def load_verify_locations(self) -> Callable[..., None]:
        hooks, state, track = self, self.live._state, self.live._track

        def load_verify_locations(self: ssl.SSLContext, cafile: Any = None, capath: Any = None,
                                  cadata: Any = None) -> None:  # fmt: skip
            if (own := hooks.keep_own_roots(cafile)) is not None:
                hooks.verify_locations(self, *own, None)
                extra, shas = state()
                if extra:
                    hooks.verify_locations(self, None, None, extra)
                    track(self, shas, _caller_label())
                return
            hooks.verify_locations(self, cafile, capath, cadata)
            if hooks.holds_ours(cafile):
                track(self, state()[1], _caller_label())

        return load_verify_locations

    def apply(self) -> list[Patch]:
        """Put the hooks in place; the patches that undo them."""
        load, create, verify = self.load_default_certs(), self.create_default_context(), self.load_verify_locations()
        for fn, orig in ((load, self.original_load), (create, self.original_create), (verify, self.verify_locations)):
            setattr(fn, "__wrapped__", orig)  # noqa: B010 - functools.wraps would copy the name too
            fn.__doc__ = orig.__doc__
            setattr(fn, _MARK, True)
        patches = [
            Patch(self.context_class, "load_default_certs", self.original_load, load, "SSLContext.load_default_certs"),
            Patch(ssl, "create_default_context", self.original_create, create, "ssl.create_default_context"),
            Patch(self.context_class, "load_verify_locations", self.original_verify, verify,
                   "SSLContext.load_verify_locations"),
        ]  # fmt: skip
        # http.client calls ssl._create_default_https_context(), which is the
        # original create_default_context object, not a name lookup of it.
        if ssl._create_default_https_context is self.original_create:
            patches.append(Patch(ssl, "_create_default_https_context", self.original_create, create,
                                  "ssl._create_default_https_context"))  # fmt: skip
        for patch in patches:
            patch.apply()
        return patches
