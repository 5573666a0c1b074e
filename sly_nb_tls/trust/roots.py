"""Library functions that read roots of their own when given none: wrapped so such a call gets the extras too."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..clients import families
from ..clients.base import RootsDefault
from .patches import Patch

__all__ = ["WrappedRoots"]


class WrappedRoots:
    """The wrapped functions (`clients.base.RootsDefault`), each a `Patch` with its exact inverse."""

    def __init__(self, applied: Callable[[], dict[str, str]]) -> None:
        #: variable -> the bundle `add` pointed it at, read at each call (a later add rewrites the file)
        self._applied = applied
        self.patches: dict[str, Patch] = {}

    def wrap(self) -> list[str]:
        """Wrap each declared function of a library imported here.  One imported later is wrapped at
        the next add; until then it reads the variable itself (gRPC: at its first secure channel, and
        then keeps those roots for the life of the process, past `reset`).  Importing it here would
        cost every add ~45 ms and ~10 MiB where it is installed and never used."""
        done = []
        for family in families():
            for spec in family.roots_defaults:
                module = sys.modules.get(spec.module)
                original = getattr(module, spec.attr, None) if module is not None else None
                if spec.label in self.patches or not callable(original):
                    continue
                patch = Patch(module, spec.attr, original, self._with_roots(spec, original), spec.label)
                patch.apply()
                self.patches[spec.label] = patch
                done.append(spec.label)
        return done

    def _with_roots(self, spec: RootsDefault, original: Callable[..., Any]) -> Callable[..., Any]:
        applied = self._applied

        @functools.wraps(original)
        def with_extras(*args: Any, **kwargs: Any) -> Any:
            given = args[spec.position] if len(args) > spec.position else kwargs.get(spec.argument)
            bundle = applied().get(spec.variable)
            if given is None and bundle:
                # The variable's bundle: what its readers trusted before (gRPC's roots, or the preset
                # file), plus the extras.  Read at each call: it is small, and a later add rewrites it.
                roots = Path(bundle).read_bytes()
                if len(args) > spec.position:
                    args = (*args[: spec.position], roots, *args[spec.position + 1 :])
                else:
                    kwargs[spec.argument] = roots
            return original(*args, **kwargs)

        return with_extras

    def labels(self) -> list[str]:
        return list(self.patches)

    def unwrap(self) -> list[str]:
        """Put every original back; notes on what something else replaced since."""
        notes = [
            f"left {label}: replaced by something else after add" for label, p in self.patches.items() if not p.undo()
        ]
        self.patches = {}
        return notes
