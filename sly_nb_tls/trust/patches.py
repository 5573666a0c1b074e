"""Records of the attributes `add` replaced: what was there, what it put, and the exact inverse."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Patch", "PathSwap", "Swap"]


@dataclass
class Patch:
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
class Swap:
    """A module-level shared context we replaced with one that holds the extras."""

    label: str
    module: str
    attr: str
    original: Any
    current: Any
    holds: frozenset[str] = field(default_factory=frozenset)


@dataclass
class PathSwap:
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
