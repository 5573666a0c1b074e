"""Live instances of a class in this process, found through the garbage collector (no sweep)."""

from __future__ import annotations

import gc
from typing import Any

__all__ = ["instances_of"]


def instances_of(*roots: type | None) -> list[Any]:
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
