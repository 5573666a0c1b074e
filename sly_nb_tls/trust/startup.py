"""What loading the extension trusts by itself: installed CAs and ``SLY_NB_TLS_CA_CERTS``.

``SLY_NB_TLS_CA_CERTS`` holds files or directories separated by ``os.pathsep``, or
PEM text: the rollout path where no file can be installed (JupyterHub's
``c.Spawner.environment``, a docker-stacks image, a kernelspec's ``env``).

A bad CA at start never breaks the kernel: each source that cannot be used is
skipped with one readable line on stderr, and `status` shows it.  Nothing is
imported when there is nothing to apply, so ``%load_ext`` stays fast.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

__all__ = ["START_VARIABLE", "StartRecord", "apply_at_start", "records"]

START_VARIABLE = "SLY_NB_TLS_CA_CERTS"


@dataclass
class StartRecord:
    """One source applied (or skipped) when the extension loaded."""

    source: str  # "install (scope user)" or "SLY_NB_TLS_CA_CERTS"
    added: int
    problem: str = ""


#: what the last load applied, for `status`
records: list[StartRecord] = []
_applied = False


def _sources() -> list[tuple[str, list[str]]]:
    out: list[tuple[str, list[str]]] = []
    value = os.environ.get(START_VARIABLE, "")
    if "-----BEGIN" in value:
        out.append((START_VARIABLE, [value]))
    elif value.strip():
        out.append((START_VARIABLE, [p for p in value.split(os.pathsep) if p.strip()]))
    return out


def apply_at_start() -> list[StartRecord]:
    """Trust the installed CAs and those in SLY_NB_TLS_CA_CERTS, once per load; never raises."""
    global _applied
    if _applied:
        return records
    _applied = True
    try:
        records.extend(_apply_installed())
        sources = _sources()
    except Exception as exc:  # noqa: BLE001 - a broken start-up must not stop the kernel
        records.append(StartRecord("start-up", 0, f"could not look for installed CAs: {exc}"))
        sources = []
    for label, items in sources:
        records.extend(_apply(label, items))
    for record in records:
        if record.problem:
            print(f"sly_nb_tls: {record.source}: {record.problem}; the kernel started without it", file=sys.stderr)
    if records:  # nothing applied: spare the import (`%load_ext` stays fast)
        from .extras import started_with

        started_with(records)
    return records


def _apply_installed() -> list[StartRecord]:
    """The installed stores, read without X.509 parsing (see `stored`): the cheap start-up path."""
    from .scopes import installed_stores

    out = []
    for scope, store in installed_stores():
        from .extras import _REGISTRY
        from .stored import read_stored

        label = f"install (scope {scope})"
        loaded = read_stored([str(p) for p in sorted(store.glob("*.pem"))])
        out += [StartRecord(label, 0, problem) for problem in loaded.problems]
        if loaded.certificates:
            # live=False: at start no client exists yet, and scanning for one costs start-up time.
            out.append(StartRecord(label, len(_REGISTRY.add_loaded(loaded, live=False).added)))
    return out


def _apply(label: str, items: list[str]) -> list[StartRecord]:
    from ..errors import SlyTlsError
    from .extras import add_certs

    try:
        # live=False: at start no client exists yet, and scanning for one costs start-up time.
        return [StartRecord(label, len(add_certs(*items, live=False).added))]
    except SlyTlsError:
        pass  # one bad item: apply the others, name the bad one
    except Exception as exc:  # noqa: BLE001
        return [StartRecord(label, 0, f"{type(exc).__name__}: {exc}")]
    out = []
    for item in items:
        shown = "PEM text" if "-----BEGIN" in item else item
        try:
            out.append(StartRecord(f"{label}: {shown}", len(add_certs(item, live=False).added)))
        except Exception as exc:  # noqa: BLE001 - reported, never raised
            out.append(StartRecord(f"{label}: {shown}", 0, str(exc)))
    return out


def forget() -> None:
    """`%unload_ext` undid everything: the next load applies the start-up sources again."""
    global _applied
    _applied = False
    records.clear()
    if "sly_nb_tls.trust.extras" in sys.modules:
        from .extras import started_with

        started_with([])
