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
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .._sources import LoadedSources
    from .stored import StoredSources

__all__ = ["START_VARIABLE", "StartRecord", "apply_at_start", "records"]

START_VARIABLE = "SLY_NB_TLS_CA_CERTS"


@dataclass
class StartRecord:
    """One source applied (or skipped) when the extension loaded."""

    source: str  # "install (scope user)" or "SLY_NB_TLS_CA_CERTS"
    added: int
    problem: str = ""
    #: what applying said that does not stop it (an extra that expires soon)
    warnings: tuple[str, ...] = ()


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


def _to_stderr(line: str) -> None:
    print(f"sly_nb_tls: {line}", file=sys.stderr)


def apply_at_start(
    report: Callable[[str], None] = _to_stderr, who: str = "the kernel", live: bool = False
) -> list[StartRecord]:
    """Trust the installed CAs and those in SLY_NB_TLS_CA_CERTS, once per load; never raises.

    Each source skipped and each warning is one line to `report` (the kernel's stderr, the server's log).
    ``live=True`` also gives the extras to clients that exist already: a Jupyter server has made
    some before it loads its extensions; a kernel loading the extension has made none.
    """
    global _applied
    if _applied:
        return records
    _applied = True
    try:
        records.extend(_apply_installed(live))
        sources = _sources()
    except Exception as exc:  # noqa: BLE001 - a broken start-up must not stop the kernel
        records.append(StartRecord("start-up", 0, f"could not look for installed CAs: {exc}"))
        sources = []
    for label, items in sources:
        records.extend(_apply(label, items, live))
    for record in records:
        if record.problem:
            report(f"{record.source}: {record.problem}; {who} started without it")
        for warning in record.warnings:
            report(f"{record.source}: {warning}")
    if records:  # nothing applied: spare the import (`%load_ext` stays fast)
        from .extras import started_with

        started_with(records)
    return records


def _apply_installed(live: bool) -> list[StartRecord]:
    """The installed stores, read without X.509 parsing (see `stored`): the cheap start-up path."""
    from .scopes import installed_stores

    out = []
    for scope, store in installed_stores():
        from .stored import read_stored

        label = f"install (scope {scope})"
        loaded = read_stored([str(p) for p in sorted(store.glob("*.pem"))])
        out += [StartRecord(label, 0, problem) for problem in loaded.problems]
        if loaded.certificates:
            out += _trust_screened(label, loaded, ("install scope", scope), live)
    return out


def _apply(label: str, items: list[str], live: bool) -> list[StartRecord]:
    """The sources in the variable, each read on its own: a bad one is named, the others applied."""
    from .._sources import LoadedSources, read_sources
    from ..errors import SlyTlsError

    out: list[StartRecord] = []
    merged = LoadedSources()
    for item in items:
        shown = "PEM text" if "-----BEGIN" in item else item
        try:
            loaded = read_sources([item])
        except Exception as exc:  # noqa: BLE001 - one bad item: named, the others applied
            why = str(exc) if isinstance(exc, SlyTlsError) else f"{type(exc).__name__}: {exc}"
            out.append(StartRecord(f"{label}: {shown}", 0, why))
            continue
        known = {c.sha256 for c in merged.certificates}
        merged.certificates += [c for c in loaded.certificates if c.sha256 not in known]
        merged.warnings += loaded.warnings
        for origin, shas in loaded.origins.items():
            merged.origins.setdefault(origin, []).extend(shas)
    if merged.certificates:
        out += _trust_screened(label, merged, ("variable", START_VARIABLE), live)
    return out


def _trust_screened(
    label: str, loaded: LoadedSources | StoredSources, via: tuple[str, str], live: bool
) -> list[StartRecord]:
    """Trust what the policy allows and has not expired; each certificate skipped is one record.
    Never raises: whatever goes wrong is this source's problem, and the start goes on."""
    try:
        return _screen_and_trust(label, loaded, via, live)
    except Exception as exc:  # noqa: BLE001 - a broken start-up must not stop the kernel
        return [StartRecord(label, 0, f"{type(exc).__name__}: {exc}")]


def _screen_and_trust(
    label: str, loaded: LoadedSources | StoredSources, via: tuple[str, str], live: bool
) -> list[StartRecord]:
    import dataclasses

    from .._policy import Policy, policy_in_force
    from ..errors import SlyTlsError
    from .extras import trust_loaded
    from .gate import origins_as_sources, record_refusals, screen

    sources = [via, *origins_as_sources(loaded.origins)]
    try:
        policy = policy_in_force()
    except SlyTlsError as exc:  # fail closed: a policy that cannot be read lets nothing in
        everything = [(c, str(exc)) for c in loaded.certificates]
        return [StartRecord(label, 0, str(exc), tuple(record_refusals("start", everything, sources, Policy())))]
    kept, skipped = screen(loaded.certificates, policy)
    refused = [(c, why) for c, why in skipped if why.startswith("refused")]
    warnings = record_refusals("start", refused, sources, policy)
    out = [StartRecord(f"{label}: {c.common_name} ({c.short_fingerprint})", 0, why) for c, why in skipped]
    if not kept:
        return out + ([StartRecord(label, 0, warnings=tuple(warnings))] if warnings else [])
    shas = {c.sha256 for c in kept}
    origins = {o: [s for s in found if s in shas] for o, found in loaded.origins.items()}
    allowed = dataclasses.replace(loaded, certificates=kept, origins=origins)  # type: ignore[arg-type]
    result = trust_loaded(allowed, live=live, action="start", via=[via])
    return [*out, StartRecord(label, len(result.added), warnings=tuple(warnings + result.warnings))]


def forget() -> None:
    """`%unload_ext` undid everything: the next load applies the start-up sources again."""
    global _applied
    _applied = False
    records.clear()
    if "sly_nb_tls.trust.extras" in sys.modules:
        from .extras import started_with

        started_with([])
