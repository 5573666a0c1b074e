"""Each CA variable's base (what its readers trusted before `add`), and what counts as "the defaults"."""

from __future__ import annotations

import os
from collections.abc import Mapping

from .._secrets import redact
from ..clients import families, variables
from ..clients.base import CaSet, CaVariable
from .environ import CaVariables

__all__ = ["base_of", "collect_bases", "default_sets", "default_store_paths", "replaced_base", "take_over_rewritten"]


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


def take_over_rewritten(
    bases: dict[str, CaSet], state: CaVariables, paths: Mapping[str, str], exclude: set[str]
) -> list[str]:
    """Variables something else changed since our last `add`, before this one sets them again; notes.

    A file variable now naming another CA file: that file becomes its base (minus our extras) and
    what `reset` restores.  An options variable that still names our file (someone appended
    ``-Xmx1g`` to JAVA_TOOL_OPTIONS): its new options are kept, and `reset` restores them without
    ours.  Anything else is no longer ours: left alone, by `reset` too.
    """
    notes = []
    declared = {v.name: v for v in variables()}
    for var, current in state.rewritten_by_other():
        variable, shown = declared[var], redact(current, ())
        if variable.value is not None and paths.get(var) and paths[var] in current:
            theirs = " ".join(current.replace(variable.value(None, paths[var]), " ").split())
            state.adopt(var, theirs or None)
            notes.append(f"{var} was changed by something else after add: its new options are kept, and "
                         f"reset sets it back to them without ours ({redact(theirs, ()) or 'unset'})")  # fmt: skip
            continue
        replaced = replaced_base(variable, current, exclude)
        if replaced is None:
            bases.pop(var, None)
            state.release(var)
            notes.append(f"{var} was changed to {shown} by something else after add, and names no CA file of "
                         "ours or of theirs: left as it is (reset leaves it too)")  # fmt: skip
            continue
        bases[var] = replaced
        state.adopt(var, current)
        notes.append(
            f"{var} was changed to {shown} by something else after add: its bundle now holds that file's "
            f"certificates plus the extras, and reset sets it back to {shown}"
        )
    return notes
