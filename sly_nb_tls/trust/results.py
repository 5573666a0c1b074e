"""Every result object users see: data first, then text and escaped HTML.

Every object has `__str__` (terminals, logs) and an escaped `_repr_html_`
(notebooks); IPython's pretty printer uses the text form.  The objects:
`AddResult`, `RemoveResult`, `ResetResult`, `TrustStatus` (trust changes),
`InstallResult`; `EnvResult` is in `envresults`, `test` and `fetch` have theirs in `diagnose.results`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .._fixes import command, lasting, say, spoken, where
from .._render import Rendered, html_table, shown_path, text_table, visible
from .._secrets import redact

if TYPE_CHECKING:
    from .._certs import TrustedCertificate
    from .._policy import Policy
    from ..clients.base import ClientTrust
    from .environ import EnvVarState
    from .startup import StartRecord

__all__ = [
    "AddResult",
    "ClientTrust",
    "InstallResult",
    "RemoveResult",
    "ResetResult",
    "TrustStatus",
]

_CERT_HEADERS = ["certificate", "kind", "expires", "SHA-256", "name constraints"]


def _undo(voice: str) -> list[str]:
    """How to undo, where the front-end's session outlives the command (a CLI run undoes itself)."""
    if not lasting(voice):
        return []
    return [f"undo: {say(command('remove', '<fingerprint>'), voice)} · {say(command('reset'), voice)}"]


def _holding_note(holding: dict[str, int], what: str) -> list[str]:
    """Which live clients still trust `what` (OpenSSL cannot take a certificate out of a context)."""
    total = sum(holding.values())
    if not total:
        return []
    who = ", ".join(f"{label} ×{n}" for label, n in sorted(holding.items()))
    return [
        f"{total} live client context(s) still trust {what} ({who}): OpenSSL cannot remove a certificate "
        "from a context; recreate those clients (or restart the kernel)"
    ]


#: a table of certificates shows this many rows; a whole store (add --system) is summarised
_SHOWN_CERTS = 12


def _cert_rows(certs: list[TrustedCertificate]) -> list[list[str]]:
    rows = [c.summary_row() for c in certs[:_SHOWN_CERTS]]
    if len(certs) > _SHOWN_CERTS:
        rows.append([f"… and {len(certs) - _SHOWN_CERTS} more", "", "", "", ""])
    return rows


def _cert_table(certs: list[TrustedCertificate], indent: str = "  ") -> str:
    return text_table(_CERT_HEADERS, _cert_rows(certs), indent)


def certificate_dict(cert: TrustedCertificate) -> dict[str, Any]:
    """A trusted certificate as JSON shows it: its names, dates and what it may vouch for; no PEM."""
    from .._audit import certificate_entry

    constraints = cert.name_constraints
    return {
        **certificate_entry(cert),  # what the audit log says of it, and then what it may vouch for
        "name_constraints": None
        if constraints is None
        else {"permitted": list(constraints.permitted), "excluded": list(constraints.excluded)},
        "vouches_for": cert.vouches_for,
        "equivalent_of": getattr(cert, "equivalent_of", None),  # an equivalent anchor: the root it stands for
    }


@dataclass(repr=False)
class AddResult(Rendered):
    """What one `add` changed."""

    added: list[TrustedCertificate] = field(default_factory=list)
    already_trusted: list[TrustedCertificate] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    bundle_path: str = ""
    variables_set: list[str] = field(default_factory=list)
    live_updated: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    total_trusted: int = 0
    #: with ``persist=True``: what `install` wrote for every new kernel
    #: what ``persist=True`` installed
    installed: InstallResult | None = None
    #: with ``server=True``: what the Jupyter server that started this kernel trusts now
    server: Rendered | None = None
    #: the front-end voice `add` ran in: its commands are said in that front-end's words
    voice: str = spoken()

    @property
    def certificates(self) -> list[TrustedCertificate]:
        return self.added + self.already_trusted

    def _headline(self) -> str:
        if not self.added:
            return f"✓ Nothing new: all {len(self.already_trusted)} certificate(s) were already trusted"
        return (
            f"✓ Trusted {len(self.added)} new certificate(s) in {where(self.voice)} and its child processes "
            f"({self.total_trusted} extra in all)"
        )

    def _details(self) -> list[str]:
        out = []
        if self.variables_set:
            where = shown_path(os.path.dirname(self.bundle_path)) if self.bundle_path else "the per-user directory"
            out.append(
                "set " + ", ".join(self.variables_set) + f" to files in {where}: each variable's readers keep "
                f"what they trusted before and gain the extras (details: {say(command('status'), self.voice)})"
            )
        if self.live_updated:
            out.append("updated live clients: " + ", ".join(self.live_updated))
        out.extend(self.notes)
        if self.installed is not None:
            out.append(f"persisted: {self.installed.summary}")
        out.extend(_undo(self.voice))
        if self.installed is not None:
            out.append(f"undo the persistence: {say(command('uninstall'), self.voice)}")
        return out

    def __str__(self) -> str:
        lines = [self._headline()]
        certs = self.added or self.already_trusted
        if certs:
            lines.append(_cert_table(certs))
        lines += [f"  ! {visible(w)}" for w in self.warnings]
        lines += [f"  {visible(d)}" for d in self._details()]
        if self.server is not None:
            lines.append(str(self.server))
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        certs = self.added or self.already_trusted
        html = html_table(
            _CERT_HEADERS,
            _cert_rows(certs),
            title=self._headline(),
            title_class="ok",
            warnings=self.warnings,
            notes=self._details(),
        )
        return html + (self.server._repr_html_() if self.server is not None else "")

    def to_dict(self) -> dict[str, Any]:
        return {
            "added": [certificate_dict(c) for c in self.added],
            "already_trusted": [certificate_dict(c) for c in self.already_trusted],
            "total_trusted": self.total_trusted,
            "variables_set": list(self.variables_set),
            "warnings": list(self.warnings),
            "notes": list(self.notes),
            "server": getattr(self.server, "to_dict", lambda: None)(),
        }


@dataclass(repr=False)
class ResetResult(Rendered):
    """What `reset` put back, and what it deliberately left alone."""

    was_active: bool = False
    restored: list[tuple[str, str | None]] = field(default_factory=list)
    left: list[tuple[str, str | None]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: live contexts that still trust the extras, by the library that built them
    holding: dict[str, int] = field(default_factory=dict)

    @property
    def live_contexts_holding(self) -> int:
        return sum(self.holding.values())

    def _lines(self) -> list[str]:
        if not self.was_active:
            return ["Nothing to reset: no extra certificates are registered."]
        out = ["✓ Reset: the extra certificates are no longer trusted by new connections"]
        grouped: dict[str | None, list[str]] = {}
        for var, value in self.restored:
            grouped.setdefault(value, []).append(var)
        for value, names in grouped.items():
            out.append(
                f"restored {', '.join(names)} = {redact(value, ())}"
                if value is not None
                else f"unset {', '.join(names)} (unset before, as now)"
            )
        for var, value in self.left:
            out.append(f"left {var} = {redact(value or '', ())}: something else changed it after add; not overwritten")
        out.extend(self.notes)
        out.extend(_holding_note(self.holding, "the removed certificates"))
        return out

    def __str__(self) -> str:
        lines = self._lines()
        return "\n".join([lines[0]] + [f"  {visible(x)}" for x in lines[1:]])

    def _repr_html_(self) -> str:
        lines = self._lines()
        return html_table([], [], title=lines[0], title_class="ok", notes=lines[1:])

    def to_dict(self) -> dict[str, Any]:
        return {
            "was_active": self.was_active,
            "restored": [name for name, _ in self.restored],
            "left": [name for name, _ in self.left],
            "notes": list(self.notes),
        }


@dataclass(repr=False)
class RemoveResult(Rendered):
    removed: list[TrustedCertificate] = field(default_factory=list)
    remaining: list[TrustedCertificate] = field(default_factory=list)
    reset: ResetResult | None = None
    holding: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def live_contexts_holding(self) -> int:
        return sum(self.holding.values())

    def _headline(self) -> str:
        return f"✓ Removed {len(self.removed)} certificate(s); {len(self.remaining)} extra remain"

    def _notes(self) -> list[str]:
        out = []
        if self.reset is not None:
            out.append("that was the last one, so everything was reset:")
            out.extend(self.reset._lines()[1:])
        else:
            out.extend(_holding_note(self.holding, "the removed certificate(s)"))
        return out

    def __str__(self) -> str:
        lines = [self._headline(), _cert_table(self.removed)]
        lines += [f"  ! {visible(w)}" for w in self.warnings]
        lines += [f"  {visible(n)}" for n in self._notes()]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return html_table(
            _CERT_HEADERS,
            _cert_rows(self.removed),
            title=self._headline(),
            title_class="ok",
            warnings=self.warnings,
            notes=self._notes(),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "removed": [certificate_dict(c) for c in self.removed],
            "remaining": [certificate_dict(c) for c in self.remaining],
            "warnings": list(self.warnings),
        }


_VARIABLE_HEADERS = ["variable", "read by", "trusted before (base)", "+extras", "file"]
_CLIENT_TRUST_HEADERS = ["client", "trust it uses now", "sees the extras"]


@dataclass(repr=False)
class InstallResult(Rendered):
    """What `install` or `uninstall` changed in one scope."""

    scope: str
    directory: str
    installed: bool  # True: install; False: uninstall
    certificates: list[str] = field(default_factory=list)  # "common name (fingerprint): what it may vouch for"
    changed: list[str] = field(default_factory=list)  # files written or removed
    notes: list[str] = field(default_factory=list)
    #: the certificates installed, for `to_dict`
    trusted: list[TrustedCertificate] = field(default_factory=list)
    #: the CLI's ``add --server``: what the Jupyter server that started this process trusts now
    server: Rendered | None = None

    @property
    def summary(self) -> str:
        """The headline without its mark: what another result says about this one."""
        return self._headline().removeprefix("✓ ")

    def _headline(self) -> str:
        if self.installed:
            return (
                f"✓ Installed for every new IPython and kernel of scope {self.scope} ({self.directory}): "
                f"loads sly_nb_tls and trusts {len(self.certificates)} certificate(s)"
            )
        return f"✓ Uninstalled from scope {self.scope} ({self.directory})"

    def _lines(self) -> list[str]:
        out = [f"certificate: {c}" for c in self.certificates]
        out += [f"{'wrote' if self.installed else 'removed'}: {f}" for f in self.changed]
        return out + self.notes

    def __str__(self) -> str:
        lines = [self._headline(), *(f"  {visible(x)}" for x in self._lines())]
        return "\n".join(lines + ([str(self.server)] if self.server is not None else []))

    def _repr_html_(self) -> str:
        html = html_table([], [], title=self._headline(), title_class="ok", notes=self._lines())
        return html + (self.server._repr_html_() if self.server is not None else "")

    def to_dict(self) -> dict[str, Any]:
        return {
            "scope": self.scope,
            "directory": self.directory,
            "installed": self.installed,
            "certificates": [certificate_dict(c) for c in self.trusted],
            "changed": list(self.changed),
            "notes": list(self.notes),
            "server": getattr(self.server, "to_dict", lambda: None)(),
        }


@dataclass(repr=False)
class TrustStatus(Rendered):
    """A snapshot of what this kernel trusts beyond its defaults, and how to undo it."""

    active: bool = False
    certificates: list[TrustedCertificate] = field(default_factory=list)
    variables: list[EnvVarState] = field(default_factory=list)
    bundle_path: str | None = None
    hooks: list[str] = field(default_factory=list)
    swapped: list[str] = field(default_factory=list)
    #: live client contexts given the extras (by the hooks or in place) that still exist
    live_contexts: int = 0
    #: live contexts that trust a certificate no longer registered, by the library that built them
    holding: dict[str, int] = field(default_factory=dict)
    #: live client contexts pinned to a CA set of their own: never given the extras
    pinned: int = 0
    #: this kernel's child processes started before the last `add` ("pid command"); None: cannot tell here
    children_before_add: list[str] | None = field(default_factory=list)
    #: filled by ``status(clients=True)``
    clients: list[ClientTrust] = field(default_factory=list)
    #: what loading the extension applied by itself, one record per source
    at_start: list[StartRecord] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: the admin's policy in force (`_policy`): None where `status` was not asked
    policy: Policy | None = None
    #: fingerprint -> where it came from (files, "<PEM text>", an install scope's store)
    origins: dict[str, list[str]] = field(default_factory=dict)
    #: CA variables a Jupyter server's sly_nb_tls set before it started this kernel: (variable, server pid)
    inherited: list[tuple[str, int]] = field(default_factory=list)
    #: with ``server=True``: what the Jupyter server that started this kernel trusts
    server: Rendered | None = None
    #: the front-end voice `status` ran in
    voice: str = spoken()

    @property
    def changed_by_other(self) -> list[str]:
        return [v.name for v in self.variables if v.changed_by_other]

    def _headline(self) -> str:
        if not self.active and self.holding:
            return "No extra certificates are trusted by new connections (some live clients still are)."
        if not self.active and self.inherited:
            return f"No extra certificates added in {where(self.voice)}: its trust comes from the Jupyter server."
        if not self.active:
            return "No extra certificates are trusted (sly_nb_tls changed nothing)."
        return f"{len(self.certificates)} extra certificate(s) trusted in {where(self.voice)}"

    def _variables_title(self) -> str:
        where = shown_path(os.path.dirname(self.bundle_path)) if self.bundle_path else "the per-user directory"
        return f"each variable names its own file in {where}: what its readers trusted before, plus the extras"

    def _variable_rows(self) -> list[list[str]]:
        rows = []
        for v in self.variables:
            if v.ours is None:
                continue
            file = os.path.basename(v.file or v.ours)
            if v.changed_by_other:
                file = f"changed by something else: {redact(v.current or '', ())}"
            rows.append([v.name, _readers(v.name), v.base, f"+{v.extras}", file])
        return rows

    def _notes(self) -> list[str]:
        if not self.active:
            return (
                self._start_lines()
                + _holding_note(self.holding, "certificates removed earlier")
                + self._children_notes()
            )
        out = self._start_lines()
        if self.hooks:
            out.append("new client contexts: " + ", ".join(self.hooks))
        if self.swapped:
            out.append("swapped shared contexts: " + ", ".join(self.swapped))
        if self.live_contexts:
            out.append(f"live client contexts given the extras: {self.live_contexts}")
        if self.pinned:
            out.append(f"pinned: left alone: {self.pinned} live client context(s) trust a CA set of their own")
        out.extend(_holding_note(self.holding, "removed certificates"))
        out.extend(self._children_notes())
        out.extend(_undo(self.voice))
        return out

    def _start_lines(self) -> list[str]:
        lines = [f"at start: {r.added} new certificate(s) from {r.source}" for r in self.at_start if not r.problem]
        for pid in sorted({pid for _, pid in self.inherited}):
            names = ", ".join(name for name, p in self.inherited if p == pid)
            lines.append(
                f"from the Jupyter server (pid {pid}) that started this kernel: {names} name its bundles, "
                f"whose extras this kernel trusts too ({say(command('status', server=True), self.voice)})"
            )
        if self.policy is not None and self.policy.path is not None:
            lines.append(self.policy.summary)
        return lines

    def to_dict(self) -> dict[str, Any]:
        return {
            "active": self.active,
            "certificates": [certificate_dict(c) | {"from": self.origins.get(c.sha256, [])} for c in self.certificates],
            "variables": {v.name: v.ours for v in self.variables if v.ours is not None},
            "policy": self.policy.to_dict() if self.policy is not None else None,
            "inherited_from_server": [name for name, _ in self.inherited],
            "server": getattr(self.server, "to_dict", lambda: None)(),
            "warnings": list(self.warnings),
        }

    def _children_notes(self) -> list[str]:
        if self.children_before_add is None:
            return ["child processes started before add: cannot tell on this system; recreate any pool or worker"]
        if not self.children_before_add:
            return []
        return [
            f"{len(self.children_before_add)} child process(es) started before the last add do not trust the "
            "extras (pool workers, a forkserver): recreate them: " + "; ".join(self.children_before_add[:5])
        ]

    def __str__(self) -> str:
        lines = [self._headline()]
        if self.certificates:
            lines.append(_cert_table(self.certificates))
        rows = self._variable_rows()
        if rows:
            lines.append(f"  {self._variables_title()}:")
            lines.append(text_table(_VARIABLE_HEADERS, rows, "    "))
        if self.clients:
            lines.append("  each HTTPS library here, and the trust it uses now:")
            lines.append(text_table(_CLIENT_TRUST_HEADERS, (c.row() for c in self.clients), "    "))
        lines += [f"  ! {visible(w)}" for w in self.warnings]
        lines += [f"  {visible(n)}" for n in self._notes()]
        if self.server is not None:
            lines.append(str(self.server))
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        html = html_table(
            _CERT_HEADERS,
            _cert_rows(self.certificates),
            title=self._headline(),
            warnings=self.warnings,
            notes=self._notes(),
        )
        if self.server is not None:
            html += self.server._repr_html_()
        rows = self._variable_rows()
        if rows:
            html += html_table(
                _VARIABLE_HEADERS,
                rows,
                title=self._variables_title(),
            )
        if self.clients:
            html += html_table(
                _CLIENT_TRUST_HEADERS,
                [c.row() for c in self.clients],
                title="each HTTPS library here, and its trust now",
            )
        return html


def _shown_source(source: str) -> str:
    """A certificate's source as shown: a path under the working directory or ~ shortened."""
    return shown_path(source) if source.startswith("/") else source


def _readers(variable: str) -> str:
    from ..clients import variables

    return next((v.readers for v in variables() if v.name == variable), "")
