"""Each CA variable's file, its base plus the extras in its readers' format, and the value that names it."""

from __future__ import annotations

from collections.abc import Mapping

from ..clients import variables
from ..clients.base import CaSet
from ..errors import StorageError
from .files import TrustFiles

__all__ = ["prepare_start_files", "variable_values", "write_variable_files"]


def write_variable_files(
    bases: Mapping[str, CaSet],
    extras: list[tuple[str, bytes]],
    replaced: set[str],
    files: TrustFiles,
    reset_contents: dict[str, bytes],
    keep: bool = False,
) -> dict[str, str]:
    """Write each variable's file: variable -> path.  Variables with equal bases and formats share
    one file; `reset_contents` gets what each file held before (its base), for `reset`.

    `replaced`: roots an equivalent anchor among the extras stands in for, dropped from every base.
    `keep`: an encoded file is kept in the cache for a later process (the next kernel's start).
    """
    declared = {v.name: v for v in variables()}
    contents: dict[str, bytes] = {}
    keys: dict[str, str] = {}
    for var, base in bases.items():
        encode = declared[var].encode
        key = base.key if encode is None else f"truststore-{base.key}"
        if key not in contents:
            merged = base.merged_with(extras, dropping=replaced)
            # The base is kept for later processes (it changes with the JDK); the extras only when asked:
            # they change with each add, and writing each set to the cache would cost every add.
            contents[key] = b"".join(merged.values()) if encode is None else encode(merged, keep)
            reset_contents[key] = base.content() if encode is None else encode(base.blocks, True)
        keys[var] = key
    paths = files.write(contents)
    out = {var: str(paths[key]) for var, key in keys.items()}
    for var, base in bases.items():
        config = declared[var].config
        if config is not None:
            # The variable names a configuration file (a wgetrc) that names the bundle.
            out[var] = str(files.write({"wgetrc": config(base.config or "", out[var])})["wgetrc"])
            reset_contents["wgetrc"] = (base.original_config or "").encode()
    return out


def variable_values(paths: Mapping[str, str], original: Mapping[str, str | None]) -> dict[str, str]:
    """Each variable's value: its file's path, or what its readers need that names it (JVM options)."""
    values = {v.name: v.value for v in variables()}
    out = dict(paths)
    for var, path in paths.items():
        value = values[var]
        if value is not None:
            out[var] = value(original.get(var), path)
    return out


def prepare_start_files(original: Mapping[str, str | None]) -> None:
    """Encode now the files a kernel's start will need for the installed CAs (the JVM's truststore),
    so that the start finds them in the cache and never imports an encoder: `install` calls it.

    Best effort, never raises: a start that misses the cache (a CA from ``SLY_NB_TLS_CA_CERTS``,
    a JDK updated since, a cache that could not be written) encodes for itself, some 30 ms later.
    """
    try:
        _prepare(original)
    except (OSError, StorageError, ValueError):
        pass


def _prepare(original: Mapping[str, str | None]) -> None:
    from .bases import base_of
    from .scopes import installed_stores
    from .stored import read_stored

    certificates = [
        c for _, store in installed_stores() for c in read_stored(sorted(map(str, store.glob("*.pem")))).certificates
    ]
    extras = list({c.sha256: c.pem.encode("ascii") for c in certificates}.items())
    replaced = {getattr(c, "original_sha256", "") for c in certificates} - {""}
    for var in variables():
        base = base_of(var, original) if var.encode is not None else None
        if var.encode is None or base is None:
            continue
        var.encode(base.merged_with(extras, dropping=replaced), True)
        var.encode(base.blocks, True)  # what `reset` writes back
