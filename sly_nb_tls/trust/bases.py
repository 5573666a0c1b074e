"""Each CA variable's base (what its readers trusted before `add`), and what counts as "the defaults"."""

from __future__ import annotations

import os
from collections.abc import Mapping

from ..clients import families
from ..clients.base import CaSet, CaVariable

__all__ = ["base_of", "collect_bases", "default_sets", "default_store_paths", "replaced_base"]


def collect_bases(original: Mapping[str, str | None]) -> dict[str, CaSet]:
    """Each variable's base: its preset file if it had one, else its readers' own default.

    Variables whose readers are not here (or need nothing) are left out, and stay untouched.
    """
    bases: dict[str, CaSet] = {}
    for family in families():
        for var in family.variables:
            base = base_of(var, original)
            if base is not None:
                bases[var.name] = base
    return bases


def base_of(var: CaVariable, original: Mapping[str, str | None]) -> CaSet | None:
    preset = original.get(var.name)
    if not preset or var.config is not None or var.value is not None:
        return var.base(original)  # a config-file or options variable's base reads the preset itself
    if os.path.isdir(preset):
        # A directory in a *file* variable: what its readers make of it differs (OpenSSL loads
        # nothing, requests a hashed directory); pointing it at a bundle would change that.
        return None
    return CaSet.of_files(f"preset: {preset}", preset)


def replaced_base(var: CaVariable, current: str, exclude: set[str]) -> CaSet | None:
    """The base of `var` after something else pointed it at `current`; None if that is no CA file."""
    if var.value is not None:
        return None  # options of someone else's (JAVA_TOOL_OPTIONS): theirs to keep
    if var.config is not None:
        return var.base({var.name: current}) if os.path.isfile(current) else None
    if os.path.isdir(current):
        return None
    replaced = CaSet.of_files(f"set after add: {current}", current, exclude=exclude)
    return replaced if replaced.files else None


def default_sets(bases: Mapping[str, CaSet]) -> list[frozenset[str]]:
    """The CA sets a client has when it trusts "the defaults": each family's default stores
    (certifi, OpenSSL's file) and the preset bundles of variables in-process clients read."""
    sets = [frozenset(s.blocks) for f in families() for s in f.default_sets()]
    # A preset bundle is a default store only where in-process clients read it: a file that
    # git, npm or wget use says nothing of a context pinned to the same file.
    sets += [frozenset(bases[v.name].blocks) for f in families() for v in f.variables
             if v.in_process and v.name in bases]  # fmt: skip
    return list(dict.fromkeys(s for s in sets if s))


def default_store_paths(bases: Mapping[str, CaSet]) -> set[str]:
    """Real paths of the files and directories that are "the defaults" here: a context built
    on one of them gets the extras; one pinned to anything else never does."""
    candidates = [p for f in families() for p in f.default_stores()]
    candidates += [
        p for f in families() for v in f.variables if v.in_process for p in bases.get(v.name, CaSet("")).files
    ]
    return {os.path.realpath(p) for p in candidates if p}
