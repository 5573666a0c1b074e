"""How a live client context stands: does it want the extras, is it on a default store or pinned, who holds it."""

from __future__ import annotations

import functools
import gc
import hashlib
import ssl
import weakref
from typing import Any

from ..clients import families

__all__ = ["GivenContexts", "client_of", "default_store_of", "holders", "wants_extras"]


def wants_extras(ctx: ssl.SSLContext, purpose: object) -> bool:
    """Client contexts that verify servers; never server-side or CERT_NONE ones."""
    return (
        purpose == ssl.Purpose.SERVER_AUTH
        and ctx.verify_mode != ssl.CERT_NONE
        and ctx.protocol != ssl.PROTOCOL_TLS_SERVER
    )


def default_store_of(ctx: ssl.SSLContext, defaults: list[frozenset[str]], ever: set[str]) -> tuple[str, frozenset[str]]:
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


@functools.cache
def _transports() -> dict[str, str]:
    return {package: client for family in families() for package, client in family.transports.items()}


def client_of(package: str) -> str:
    """The client library users know a transport package by (httpcore is httpx's).  Asked by the
    hooks for every context built, so the families' answers are gathered once."""
    return _transports().get(package, package)


def holders(contexts: list[ssl.SSLContext]) -> dict[int, str]:
    """id(context) -> top-level package of an object that holds it (httpcore, urllib3, ...), in one GC pass."""
    wanted = {id(c) for c in contexts}
    found: dict[int, str] = {}
    referrers = gc.get_referrers(*contexts)
    # Before 3.11 an object's attributes live in a dict of their own, which is what refers to the
    # context: one more pass finds the objects that own those dicts.
    dicts = [h for h in referrers if isinstance(h, dict) and h.get("__name__") != "__main__"]
    if dicts:
        referrers += [o for o in gc.get_referrers(*dicts) if any(getattr(o, "__dict__", None) is d for d in dicts)]
    for holder in referrers:
        if isinstance(holder, dict):
            values: Any = holder.values()
            module = "your code" if holder.get("__name__") == "__main__" else ""
        else:
            values = getattr(holder, "__dict__", {}).values()
            module = type(holder).__module__.split(".", 1)[0]
            module = client_of(module)
        if not module or module in ("ssl", "sly_nb_tls", "weakref", "builtins"):
            continue
        for value in values:
            if id(value) in wanted:
                found.setdefault(id(value), module)
    return found


class GivenContexts:
    """Every context given the extras, held weakly, with the fingerprints it holds and who built it.

    OpenSSL cannot take a certificate out of a context, so this is how `status`
    and `reset` tell which clients still trust what is no longer registered.
    """

    def __init__(self) -> None:
        self._given: weakref.WeakKeyDictionary[ssl.SSLContext, tuple[frozenset[str], str]] = weakref.WeakKeyDictionary()

    def __len__(self) -> int:
        return len(self._given)

    def track(self, ctx: ssl.SSLContext, shas: frozenset[str], label: str) -> None:
        have, first = self._given.get(ctx, (frozenset(), label))
        self._given[ctx] = (have | shas, first)  # named by who built it, not by who updated it later

    def forget(self, ctx: ssl.SSLContext) -> None:
        self._given.pop(ctx, None)

    def holding(self, registered: set[str], skip: set[int]) -> dict[str, int]:
        """Contexts (but those in `skip`) holding a certificate not in `registered`, by who built them."""
        counts: dict[str, int] = {}
        for ctx, (shas, label) in list(self._given.items()):
            if shas - registered and id(ctx) not in skip:
                counts[label] = counts.get(label, 0) + 1
        return counts

    def update_in_place(
        self, live: list[ssl.SSLContext], extras: dict[str, bytes], defaults: list[frozenset[str]], ever: set[str]
    ) -> tuple[list[str], int]:
        """Give the extras to each of `live` whose CA set is a default store; (what was updated, pinned).

        A context loaded with certifi, OpenSSL's default file or a preset bundle is a
        client that trusts "the defaults" (urllib3 ``ssl_context=``, asyncio, websockets,
        httpx, tornado, botocore): it gets the extras.  One pinned to any other CA set
        is never touched.
        """
        wanted = frozenset(extras)
        updated: list[ssl.SSLContext] = []
        pinned = 0
        for ctx in live:
            if not wants_extras(ctx, ssl.Purpose.SERVER_AUTH):
                continue
            if wanted and wanted <= self._given.get(ctx, (frozenset(), ""))[0]:
                continue
            kind, holds = default_store_of(ctx, defaults, ever)
            if kind == "pinned":
                pinned += 1
            elif kind == "default" and wanted:
                missing = [sha for sha in extras if sha not in holds]
                if missing:
                    ctx.load_verify_locations(cadata=b"".join(extras[s] for s in missing))
                updated.append(ctx)
        if not updated:
            return [], pinned
        held_by = holders(updated)
        for ctx in updated:
            self.track(ctx, wanted, held_by.get(id(ctx), "a client made before add"))
        names = ", ".join(sorted(set(held_by.values())))
        return [f"{len(updated)} live client context(s) on a default store" + (f" ({names})" if names else "")], pinned
