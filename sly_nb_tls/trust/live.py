"""The extras in contexts that are built, or already live, inside this process.

Every use of another library's private attributes lives in this one file
(aiohttp's ``connector._SSL_CONTEXT_VERIFIED``, requests 2.32.0–2.32.4's
``adapters._preloaded_ssl_context``, botocore's ``URLLib3Session._verify``,
``httplib2.CA_CERTS``, tornado's ``netutil._client_ssl_defaults``, urllib's
``request._opener``), so a library upgrade breaks in one place.  Contexts made
before `add` are found by their class, not by library: one whose CA set is a
default store (certifi, OpenSSL's file, a preset bundle) gets the extras in
place; one pinned to anything else is never touched.

Patches are tracked by the objects they replaced, as truststore does, not by
the names they sit under: the hook goes on the ssl module's own ``SSLContext``
class (found through ``_ssl._SSLContext``, whatever ``ssl.SSLContext`` names
now — truststore replaces that name), and is undone on that same class.
A patch that something else stacked on top of ours is left and reported.

Every context that was given the extras (by a hook or in place) is remembered
weakly with the fingerprints it holds: OpenSSL cannot take a certificate out
of a context, so `holding` tells `status` and `reset` which clients to recreate.
"""

from __future__ import annotations

import _ssl
import gc
import hashlib
import os
import ssl
import sys
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .._objects import instances_of

__all__ = ["LiveTrust", "stdlib_context_class", "unhooked_create_default_context"]

_MARK = "__sly_nb_tls__"
#: (DER blob of every extra certificate, their fingerprints), read at each use.
TrustState = Callable[[], tuple[bytes, frozenset[str]]]


def stdlib_context_class() -> type[ssl.SSLContext]:
    """The ssl module's own SSLContext class, even after ``ssl.SSLContext`` was renamed away."""
    for cls in _ssl._SSLContext.__subclasses__():
        if cls.__module__ == "ssl" and cls.__name__ == "SSLContext":
            return cls  # type: ignore[return-value]
    return ssl.SSLContext  # pragma: no cover - CPython always defines it


def _is_ours(obj: object) -> bool:
    return getattr(obj, _MARK, False) is True


def unhooked_create_default_context() -> Callable[..., ssl.SSLContext]:
    """`ssl.create_default_context` without our hook: `test` must verify with exactly the trust
    requests has (REQUESTS_CA_BUNDLE, certifi), not with the extras our hook adds to any context."""
    fn: Any = ssl.create_default_context
    while _is_ours(fn):
        fn = fn.__wrapped__
    return fn  # type: ignore[no-any-return]


def _wants_extras(ctx: ssl.SSLContext, purpose: object) -> bool:
    """Client contexts that verify servers; never server-side or CERT_NONE ones."""
    return (
        purpose == ssl.Purpose.SERVER_AUTH
        and ctx.verify_mode != ssl.CERT_NONE
        and ctx.protocol != ssl.PROTOCOL_TLS_SERVER
    )


def _caller_label(depth: int = 2) -> str:
    """Who is building a context: the top-level package of the first frame outside ssl and us."""
    frame = sys._getframe(depth)
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if module not in ("ssl", __name__):
            if module == "__main__" or module.startswith("<"):
                return "your code"
            return module.split(".", 1)[0] or "unknown"
        frame = frame.f_back  # type: ignore[assignment]
    return "unknown"  # pragma: no cover


@dataclass
class _Patch:
    """One attribute we replaced: on which object, what was there, what we put."""

    owner: Any
    attr: str
    original: Any
    replacement: Any
    label: str

    def apply(self) -> None:
        setattr(self.owner, self.attr, self.replacement)

    def still_ours(self) -> bool:
        current = self.owner.__dict__.get(self.attr) if isinstance(self.owner, type) else getattr(self.owner, self.attr)
        return current is self.replacement

    def undo(self) -> bool:
        """Put the original back if our replacement is still in place; False if something replaced it."""
        if not self.still_ours():
            return False
        if self.original is None:
            delattr(self.owner, self.attr)  # it was inherited: uncover the inherited one again
        else:
            setattr(self.owner, self.attr, self.original)
        return True


@dataclass
class _Swap:
    """A module-level shared context we replaced with one that holds the extras."""

    label: str
    module: str
    attr: str
    original: Any
    current: Any
    holds: frozenset[str] = field(default_factory=frozenset)


@dataclass
class _PathSwap:
    """A CA path a client fixed before `add`, pointed at our bundle: (owner, attribute, before, ours)."""

    label: str
    owner: Callable[[], Any]
    attr: str
    original: Any
    current: str

    def undo(self) -> bool:
        owner = self.owner()
        if owner is None:
            return True  # gone: nothing to put back
        if getattr(owner, self.attr, None) != self.current:
            return False
        setattr(owner, self.attr, self.original)
        return True


def _default_store_of(
    ctx: ssl.SSLContext, defaults: list[frozenset[str]], ever: set[str]
) -> tuple[str, frozenset[str]]:
    """("default" | "pinned" | "empty", fingerprints it holds) for a live client context.

    Its CA set is compared without the certificates we ever registered: a context that
    already has some extras still counts as a default store.  A context with no CA
    loaded yet ("empty") loads a file later, through the variables.
    """
    ders = ctx.get_ca_certs(binary_form=True)
    if not ders:
        return "empty", frozenset()
    holds = frozenset(hashlib.sha256(d).hexdigest() for d in ders)
    # Discount only what we added beyond that store: a store's own roots always count.
    if any(holds - (ever - d) == d for d in defaults):
        return "default", holds
    return "pinned", holds


#: transport packages named by the client library users know them through
_CLIENT_OF = {"httpcore": "httpx", "httpcore2": "httpx2"}


def _holders(contexts: list[ssl.SSLContext]) -> dict[int, str]:
    """id(context) -> top-level package of an object that holds it (httpcore, urllib3, ...), in one GC pass."""
    wanted = {id(c) for c in contexts}
    found: dict[int, str] = {}
    holders = gc.get_referrers(*contexts)
    # Before 3.11 an object's attributes live in a dict of their own, which is what refers to the
    # context: one more pass finds the objects that own those dicts.
    dicts = [h for h in holders if isinstance(h, dict) and h.get("__name__") != "__main__"]
    if dicts:
        holders += [o for o in gc.get_referrers(*dicts) if any(getattr(o, "__dict__", None) is d for d in dicts)]
    for holder in holders:
        if isinstance(holder, dict):
            values: Any = holder.values()
            module = "your code" if holder.get("__name__") == "__main__" else ""
        else:
            values = getattr(holder, "__dict__", {}).values()
            module = type(holder).__module__.split(".", 1)[0]
            module = _CLIENT_OF.get(module, module)
        if not module or module in ("ssl", __name__.split(".", 1)[0], "weakref", "builtins"):
            continue
        for value in values:
            if id(value) in wanted:
                found.setdefault(id(value), module)
    return found


def _tornado_context() -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)  # what tornado.netutil builds
    if hasattr(ssl, "OP_NO_COMPRESSION"):
        ctx.options |= ssl.OP_NO_COMPRESSION
    return ctx


#: The handlers `urlopen` puts in the opener it builds for itself (`build_opener()` with no
#: arguments), besides a ProxyHandler, which it keeps only while proxy variables are set.
_URLOPEN_HANDLERS = sorted(
    ["UnknownHandler", "HTTPHandler", "HTTPDefaultErrorHandler", "HTTPRedirectHandler", "FTPHandler", "FileHandler",
     "HTTPErrorProcessor", "DataHandler", "HTTPSHandler"]
)  # fmt: skip


def _urlopen_own_opener(opener: Any, defaults: list[frozenset[str]], ever: set[str]) -> bool:
    """Is `opener` the one `urlopen` built for itself (3.12+: with a context of its own)?

    Only that one is ours to drop and put back.  An opener the user installed
    (`install_opener`) has a handler of its own (cookies), explicit proxies, or an
    HTTPS context pinned to its own CAs: it is the user's, and stays.
    """
    ur = sys.modules.get("urllib.request")
    handlers = list(getattr(opener, "handlers", []))
    if ur is None or any(type(h) is not getattr(ur, type(h).__name__, None) for h in handlers):
        return False  # a handler class of the user's
    by_name = {type(h).__name__: h for h in handlers}
    proxy = by_name.pop("ProxyHandler", None)
    if sorted(type(h).__name__ for h in handlers if h is not proxy) != _URLOPEN_HANDLERS:
        return False
    if proxy is not None and getattr(proxy, "proxies", None) != ur.getproxies():
        return False  # proxies of the user's choosing
    https = by_name["HTTPSHandler"]
    context = getattr(https, "_context", None)
    if context is None or getattr(https, "_check_hostname", None) is not None:
        return False
    # urlopen's handler builds its context with http.client, which turns post-handshake auth on;
    # ssl.create_default_context() leaves it off, so a context the user made (a client
    # certificate loaded into it, say) is told apart even when it sits on the default store.
    if context.post_handshake_auth is not True:
        return False
    return _default_store_of(context, defaults, ever)[0] != "pinned"


class LiveTrust:
    """Hooks for new contexts, swaps of shared ones, in-place updates of existing ones."""

    def __init__(
        self,
        state: TrustState,
        files: Callable[[], set[str]] = set,
        default_file: Callable[[], str | None] = lambda: None,
        httpx_default: Callable[[], tuple[str | None, str | None] | None] = lambda: None,
        default_stores: Callable[[], set[str]] = set,
    ):
        self._state = state
        #: real paths of the CA files and directories that are "the defaults" here (certifi,
        #: OpenSSL's, a preset bundle): a context built on one of them gets the extras
        self._default_stores = default_stores
        #: the trust files we wrote: a context that loads one of them holds the extras
        self._files = files
        #: our bundle in SSL_CERT_FILE, which OpenSSL's default paths load: it holds the extras
        self._default_file = default_file
        #: (cafile, capath) httpx used before add, when SSL_CERT_FILE was not set; None: it was
        self._httpx_default = httpx_default
        self.patches: list[_Patch] = []
        self.swaps: dict[str, _Swap] = {}
        self.path_swaps: list[_PathSwap] = []
        self.saved_opener: Any = None
        self.opener_dropped = False
        #: every context given the extras -> (fingerprints it holds, who built it)
        self.given: weakref.WeakKeyDictionary[ssl.SSLContext, tuple[frozenset[str], str]] = weakref.WeakKeyDictionary()

    # -- hooks for contexts built from now on ---------------------------
    @property
    def hooks_installed(self) -> bool:
        return bool(self.patches)

    def _track(self, ctx: ssl.SSLContext, shas: frozenset[str], label: str) -> None:
        have, first = self.given.get(ctx, (frozenset(), label))
        self.given[ctx] = (have | shas, first)  # named by who built it, not by who updated it later

    def install_hooks(self) -> None:
        if self.patches:
            return
        state, track = self._state, self._track
        context_class = stdlib_context_class()
        original_load = context_class.__dict__["load_default_certs"]
        original_create = ssl.create_default_context
        # A C method of _ssl._SSLContext: the Python class inherits it, so ours goes
        # on the class and undoing it means deleting ours again (None = inherited).
        original_verify = context_class.__dict__.get("load_verify_locations")
        verify_locations = original_verify or _ssl._SSLContext.load_verify_locations
        files, default_file, httpx_default = self._files, self._default_file, self._httpx_default
        default_stores = self._default_stores

        def on_default_store(cafile: Any, capath: Any, cadata: Any) -> bool:
            """A context made from a default store wants the extras; one pinned to a file, a
            directory or `cadata` of its own never gets them (trust is never widened implicitly)."""
            if cadata is not None or (cafile is None and capath is None):
                return False
            stores = default_stores()
            return all(p is None or os.path.realpath(os.fspath(p)) in stores for p in (cafile, capath))

        def httpx_own_roots(cafile: Any) -> tuple[str | None, str | None] | None:
            """httpx reads SSL_CERT_FILE, which is ours now (OpenSSL's roots plus the extras); before
            add it used certifi (or SSL_CERT_DIR).  (cafile, capath) that keep it on its own roots."""
            if cafile is None or default_file() is None or os.fspath(cafile) != default_file():
                return None
            return httpx_default() if _caller_label(3) in ("httpx", "httpcore") else None

        def load_default_certs(self: ssl.SSLContext, purpose: ssl.Purpose = ssl.Purpose.SERVER_AUTH) -> None:
            original_load(self, purpose)
            cadata, shas = state()
            if cadata and _wants_extras(self, purpose):
                # OpenSSL has just read SSL_CERT_FILE: while that is our bundle, the context
                # holds the extras already, and parsing them again costs every new context.
                if os.environ.get("SSL_CERT_FILE") != default_file():
                    verify_locations(self, None, None, cadata)
                track(self, shas, _caller_label())

        def create_default_context(
            purpose: ssl.Purpose = ssl.Purpose.SERVER_AUTH,
            *,
            cafile: Any = None,
            capath: Any = None,
            cadata: Any = None,
        ) -> ssl.SSLContext:
            if (own := httpx_own_roots(cafile)) is not None:
                cafile, capath = own
            ctx = original_create(purpose, cafile=cafile, capath=capath, cadata=cadata)
            # Without cafile/capath/cadata the context went through
            # load_default_certs above and has the extras already.
            extra, shas = state()
            if extra and _wants_extras(ctx, purpose) and on_default_store(cafile, capath, cadata):
                ctx.load_verify_locations(cadata=extra)
                track(ctx, shas, _caller_label())
            elif cafile is not None and os.fspath(cafile) in files():
                track(ctx, shas, _caller_label())  # our bundle: it holds the extras already
            return ctx

        def load_verify_locations(
            self: ssl.SSLContext, cafile: Any = None, capath: Any = None, cadata: Any = None
        ) -> None:
            if (own := httpx_own_roots(cafile)) is not None:
                verify_locations(self, *own, None)
                cadata, shas = state()
                if cadata:
                    verify_locations(self, None, None, cadata)
                    track(self, shas, "httpx")
                return
            verify_locations(self, cafile, capath, cadata)
            # requests, urllib3 and httpx load the bundle the variables name; such a
            # context holds the extras as surely as one the hooks gave them to.
            if cafile is not None and os.fspath(cafile) in files():
                track(self, state()[1], _caller_label())

        for fn, orig in (
            (load_default_certs, original_load),
            (create_default_context, original_create),
            (load_verify_locations, verify_locations),
        ):
            setattr(fn, "__wrapped__", orig)  # noqa: B010 - functools.wraps would copy the name too
            fn.__doc__ = orig.__doc__
            setattr(fn, _MARK, True)
        patches = [
            _Patch(context_class, "load_default_certs", original_load, load_default_certs,
                   "SSLContext.load_default_certs"),
            _Patch(ssl, "create_default_context", original_create, create_default_context,
                   "ssl.create_default_context"),
            _Patch(context_class, "load_verify_locations", original_verify, load_verify_locations,
                   "SSLContext.load_verify_locations"),
        ]  # fmt: skip
        # http.client calls ssl._create_default_https_context(), which is the
        # original create_default_context object, not a name lookup of it.
        if ssl._create_default_https_context is original_create:
            patches.append(
                _Patch(ssl, "_create_default_https_context", original_create, create_default_context,
                       "ssl._create_default_https_context")
            )  # fmt: skip
        for patch in patches:
            patch.apply()
        self.patches = patches

    def refresh_urllib_opener(self, defaults: list[frozenset[str]], ever: set[str]) -> None:
        """Drop the opener `urlopen` cached for itself, if its HTTPS handler holds a context.

        Python 3.12+ builds one context per HTTPSHandler and urlopen() caches
        the opener, so without this a later urlopen() never sees new trust.
        An opener the user installed is left alone (see `_urlopen_own_opener`).
        """
        ur = sys.modules.get("urllib.request")
        opener = getattr(ur, "_opener", None)
        if ur is None or opener is None or opener is self.saved_opener:
            return
        if not _urlopen_own_opener(opener, defaults, ever):
            return
        if not self.opener_dropped:
            self.saved_opener = opener
            self.opener_dropped = True
        ur._opener = None  # type: ignore[attr-defined]

    def describe_hooks(self) -> list[str]:
        return [p.label for p in self.patches]

    # -- shared contexts and clients that exist already -----------------
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
        netutil = sys.modules.get("tornado.netutil")
        if netutil is not None and isinstance(getattr(netutil, "_client_ssl_defaults", None), ssl.SSLContext):
            # tornado before 6.5 builds its client context at import (6.5 caches it: see clear_cached_defaults)
            targets.append(("tornado default context", "tornado.netutil", "_client_ssl_defaults", _tornado_context))
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
        cadata, shas = self._state()
        if cadata:
            ctx.load_verify_locations(cadata=cadata)
            self._track(ctx, shas, "requests")
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
            fresh = build()
            if swap is None:
                swap = self.swaps[label] = _Swap(label, module_name, attr, current, fresh)
            swap.current = fresh
            swap.holds = wanted
            setattr(module, attr, fresh)
            done.append(label)
        return done

    def update_default_store_contexts(
        self, extras: dict[str, bytes], defaults: list[frozenset[str]], ever: set[str]
    ) -> tuple[list[str], int]:
        """Give the extras, in place, to each live client context whose CA set is a default store.

        A context loaded with certifi, OpenSSL's default file or a preset bundle is a
        client that trusts "the defaults" (urllib3 ``ssl_context=``, asyncio, websockets,
        httpx, tornado, botocore): it gets the extras.  One pinned to any other CA set
        is never touched.  Returns (what was updated, how many are pinned).
        """
        wanted = frozenset(extras)
        ours = {id(s.original) for s in self.swaps.values()} | {id(s.current) for s in self.swaps.values()}
        # urllib's opener from before add is put back by reset: its context must stay as it was.
        ours |= {id(getattr(h, "_context", None)) for h in getattr(self.saved_opener, "handlers", [])}
        updated: list[ssl.SSLContext] = []
        pinned = 0
        for ctx in instances_of(stdlib_context_class()):
            if id(ctx) in ours or not _wants_extras(ctx, ssl.Purpose.SERVER_AUTH):
                continue
            have = self.given.get(ctx, (frozenset(), ""))[0]
            if wanted and wanted <= have:
                continue
            kind, holds = _default_store_of(ctx, defaults, ever)
            if kind == "pinned":
                pinned += 1
            elif kind == "default" and wanted:
                missing = [sha for sha in extras if sha not in holds]
                if missing:
                    ctx.load_verify_locations(cadata=b"".join(extras[s] for s in missing))
                updated.append(ctx)
        if not updated:
            return [], pinned
        holders = _holders(updated)
        for ctx in updated:
            self._track(ctx, wanted, holders.get(id(ctx), "a client made before add"))
        names = ", ".join(sorted(set(holders.values())))
        return [f"{len(updated)} live client context(s) on a default store" + (f" ({names})" if names else "")], pinned

    def refresh_path_swaps(self, files: dict[str, str], accepted: dict[str, set[str]]) -> list[str]:
        """Point clients that fixed a CA *path* before `add` at their variable's bundle.

        `files`: variable -> our file; `accepted`: variable -> real paths that count as
        that client's default (its base).  A client pinned to another file is left alone.
        """
        done = []
        targets: list[tuple[str, Any, str, str]] = []
        httplib2 = sys.modules.get("httplib2")
        if httplib2 is not None and isinstance(getattr(httplib2, "CA_CERTS", None), str):
            targets.append(("httplib2.CA_CERTS", httplib2, "CA_CERTS", "HTTPLIB2_CA_CERTS"))
        httpsession = sys.modules.get("botocore.httpsession")
        session_class = getattr(httpsession, "URLLib3Session", None)
        for session in instances_of(session_class) if session_class else []:
            targets.append(("botocore session", session, "_verify", "AWS_CA_BUNDLE"))
        counts: dict[str, int] = {}
        for label, owner, attr, variable in targets:
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
            # botocore keeps True for "certifi, looked up at each request": a default only where
            # the variable's base is certifi (not a preset REQUESTS_CA_BUNDLE or an AWS ca_bundle).
            own = accepted.get(variable, set())
            if current is True:
                import certifi

                default = os.path.realpath(certifi.where()) in own
            else:
                default = isinstance(current, str) and os.path.realpath(current) in own
            if not default:
                continue
            setattr(owner, attr, ours)
            self.path_swaps.append(_PathSwap(label, weakref.ref(owner), attr, current, ours))
            counts[label] = counts.get(label, 0) + 1
        for label, n in counts.items():
            done.append(label if n == 1 else f"{n} {label}s")
        return done

    def clear_cached_defaults(self) -> None:
        """Drop contexts a library caches for "the defaults", so the next one is built anew.

        tornado caches its client context (`netutil._client_ssl_defaults`, an lru_cache):
        cleared at `add` (the next fetch builds one through the hooks) and at `reset`
        (the next one is built without the extras), an exact inverse either way.
        """
        netutil = sys.modules.get("tornado.netutil")
        cached = getattr(netutil, "_client_ssl_defaults", None)
        if callable(getattr(cached, "cache_clear", None)):
            cached.cache_clear()  # type: ignore[union-attr]

    # -- accounting and undo --------------------------------------------
    def holding(self, registered: set[str]) -> dict[str, int]:
        """Live contexts that trust a certificate no longer in `registered`, counted by who built them.

        Shared contexts we swapped in are not counted while they are ours to
        swap back; everything else given the extras is.
        """
        swapped = {id(s.current) for s in self.swaps.values()}
        counts: dict[str, int] = {}
        for ctx, (shas, label) in list(self.given.items()):
            if shas - registered and id(ctx) not in swapped:
                counts[label] = counts.get(label, 0) + 1
        return counts

    def uninstall(self, defaults: list[frozenset[str]], ever: set[str]) -> list[str]:
        """Undo hooks, swaps and the dropped opener; returns notes on what was left, and why.

        `defaults` and `ever` tell urlopen's own opener from one the user installed.
        """
        notes: list[str] = []
        for patch in self.patches:
            if not patch.undo():
                notes.append(f"left {patch.label}: replaced by something else after add")
        ur = sys.modules.get("urllib.request")
        if ur is not None:
            opener = getattr(ur, "_opener", None)
            # An opener urlopen() built while we were active trusts the extras; one the user
            # installed since is theirs.
            if opener is None or (opener is not self.saved_opener and _urlopen_own_opener(opener, defaults, ever)):
                ur._opener = self.saved_opener  # type: ignore[attr-defined]
        for swap in self.swaps.values():
            module = sys.modules.get(swap.module)
            ours: ssl.SSLContext = swap.current
            if module is not None and getattr(module, swap.attr, None) is ours:
                setattr(module, swap.attr, swap.original)
                self.given.pop(ours, None)  # nothing uses it any more
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
