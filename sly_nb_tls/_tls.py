"""What the trust half's ssl hooks look like from outside: their mark, and the stdlib function under them."""

from __future__ import annotations

import ssl
from collections.abc import Callable
from typing import Any

__all__ = ["MARK", "is_ours", "unhooked_create_default_context"]

#: set on every function sly_nb_tls puts in place of one of the ssl module's
MARK = "__sly_nb_tls__"


def is_ours(obj: object) -> bool:
    return getattr(obj, MARK, False) is True


def unhooked_create_default_context() -> Callable[..., ssl.SSLContext]:
    """`ssl.create_default_context` without our hook: `test` must verify with exactly the trust
    requests has (REQUESTS_CA_BUNDLE, certifi), not with the extras our hook adds to any context."""
    fn: Any = ssl.create_default_context
    while is_ours(fn):
        fn = fn.__wrapped__
    return fn  # type: ignore[no-any-return]
