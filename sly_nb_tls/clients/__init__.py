"""The HTTPS client families: one module each, found here by the loop below, never named elsewhere."""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from .base import Attempt, CaVariable, Family

__all__ = ["attempts", "families", "variables"]


@cache
def families() -> tuple[Family, ...]:
    """Every module in this folder that defines ``FAMILY``, in their `order`.

    Imported on first use (the first `add`, `status --clients` or `test --clients`), never
    at ``%load_ext``; each module imports its own library only when it is used.
    """
    found = []
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        family = getattr(module, "FAMILY", None)
        if isinstance(family, Family):
            found.append(family)
    return tuple(sorted(found, key=lambda f: (f.order, f.name)))


def variables() -> tuple[CaVariable, ...]:
    """Every CA variable some family reads, in the families' order."""
    return tuple(v for f in families() for v in f.variables)


def attempts() -> tuple[Attempt, ...]:
    """Every client's attempt for `test --clients`, in the families' order, the slow ones last."""
    everyone = [a for f in families() for a in f.attempts]
    return tuple(sorted(everyone, key=lambda a: a.slow))
