"""Every result object users see: data first, then text and escaped HTML.

In [1]: r = sly_nb_tls.add_certs("corp-chain.crt")
In [2]: r.added[0].common_name, r.warnings
Out[2]: ('Corp Root CA', [])
In [3]: print(r)
✓ Trusted 2 new certificate(s) in this kernel ...

Every object has `__str__` (terminals, logs) and an escaped `_repr_html_`
(notebooks); IPython's pretty printer uses the text form.  The objects:
`AddResult`, `RemoveResult`, `ResetResult`, `TrustStatus` (trust changes),
`EnvResult` (env files), `ConnectionReport` and `ChainReport` (test and fetch).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ._render import Rendered, Table, esc, html_block, html_table, shown_path, visible

if TYPE_CHECKING:
    from ._certs import Certificate
    from ._complete import Completion
    from ._environ import EnvVarState

__all__ = [
    "AddResult",
    "ChainReport",
    "ClientCheck",
    "ClientTrust",
    "ConnectionReport",
    "EnvKey",
    "EnvResult",
    "Interception",
    "RemoveResult",
    "ResetResult",
    "Step",
    "TrustStatus",
]

_CERT_HEADERS = ["certificate", "kind", "expires", "SHA-256"]


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


def _cert_rows(certs: list[Certificate]) -> list[list[str]]:
    rows = [c.summary_row() for c in certs[:_SHOWN_CERTS]]
    if len(certs) > _SHOWN_CERTS:
        rows.append([f"… and {len(certs) - _SHOWN_CERTS} more", "", "", ""])
    return rows


def _cert_table(certs: list[Certificate], indent: str = "  ") -> str:
    t = Table(_CERT_HEADERS)
    for row in _cert_rows(certs):
        t.add(row)
    return t.render(indent)


@dataclass(repr=False)
class AddResult(Rendered):
    """What one `add` changed."""

    added: list[Certificate] = field(default_factory=list)
    already_trusted: list[Certificate] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    bundle_path: str = ""
    variables_set: list[str] = field(default_factory=list)
    live_updated: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    total_trusted: int = 0
    #: with ``persist=True``: what `install` wrote for every new kernel
    installed: Any = None

    @property
    def certificates(self) -> list[Certificate]:
        return self.added + self.already_trusted

    def _headline(self) -> str:
        if not self.added:
            return f"✓ Nothing new: all {len(self.already_trusted)} certificate(s) were already trusted"
        return (
            f"✓ Trusted {len(self.added)} new certificate(s) in this kernel and its child processes "
            f"({self.total_trusted} extra in all)"
        )

    def _details(self) -> list[str]:
        out = []
        if self.variables_set:
            where = shown_path(os.path.dirname(self.bundle_path)) if self.bundle_path else "the per-user directory"
            out.append(
                "set " + ", ".join(self.variables_set) + f" to files in {where}: each variable's readers keep "
                "what they trusted before and gain the extras (details: %sly_tls status)"
            )
        if self.live_updated:
            out.append("updated live clients: " + ", ".join(self.live_updated))
        out.extend(self.notes)
        if self.installed is not None:
            out.append(f"persisted: {self.installed._headline().removeprefix('✓ ')}")
        out.append("undo: %sly_tls remove <fingerprint> · %sly_tls reset")
        if self.installed is not None:
            out.append("undo the persistence: %sly_tls uninstall")
        return out

    def __str__(self) -> str:
        lines = [self._headline()]
        certs = self.added or self.already_trusted
        if certs:
            lines.append(_cert_table(certs))
        lines += [f"  ! {visible(w)}" for w in self.warnings]
        lines += [f"  {visible(d)}" for d in self._details()]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        certs = self.added or self.already_trusted
        return html_table(
            _CERT_HEADERS,
            _cert_rows(certs),
            title=self._headline(),
            title_class="ok",
            warnings=self.warnings,
            notes=self._details(),
        )


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
                f"restored {', '.join(names)} = {value}"
                if value is not None
                else f"unset {', '.join(names)} (unset before, as now)"
            )
        for var, value in self.left:
            out.append(f"left {var} = {value}: something else changed it after add; not overwritten")
        out.extend(self.notes)
        out.extend(_holding_note(self.holding, "the removed certificates"))
        return out

    def __str__(self) -> str:
        lines = self._lines()
        return "\n".join([lines[0]] + [f"  {visible(x)}" for x in lines[1:]])

    def _repr_html_(self) -> str:
        lines = self._lines()
        return html_table([], [], title=lines[0], title_class="ok", notes=lines[1:])


@dataclass(repr=False)
class RemoveResult(Rendered):
    removed: list[Certificate] = field(default_factory=list)
    remaining: list[Certificate] = field(default_factory=list)
    reset: ResetResult | None = None
    holding: dict[str, int] = field(default_factory=dict)

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
        lines += [f"  {visible(n)}" for n in self._notes()]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return html_table(
            _CERT_HEADERS,
            _cert_rows(self.removed),
            title=self._headline(),
            title_class="ok",
            notes=self._notes(),
        )


_VARIABLE_HEADERS = ["variable", "read by", "trusted before (base)", "+extras", "file"]
_CLIENT_TRUST_HEADERS = ["client", "trust it uses now", "sees the extras"]


@dataclass
class ClientTrust:
    """One HTTPS library importable here and the trust it will use right now (`status --clients`)."""

    client: str
    trust: str
    #: True: sees the extras; False: will not (see `why`); None: not loaded/used here
    sees_extras: bool | None
    why: str = ""

    def row(self) -> list[str]:
        mark = {True: "✓ yes", False: "✗ no", None: "–"}[self.sees_extras]
        return [self.client, self.trust, f"{mark}{': ' + self.why if self.why else ''}"]


@dataclass(repr=False)
class TrustStatus(Rendered):
    """A snapshot of what this kernel trusts beyond its defaults, and how to undo it."""

    active: bool = False
    certificates: list[Certificate] = field(default_factory=list)
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
    #: what loading the extension applied by itself: "N certificate(s) from <source>"
    at_start: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def live_contexts_holding_removed(self) -> int:
        return sum(self.holding.values())

    @property
    def changed_by_other(self) -> list[str]:
        return [v.name for v in self.variables if v.changed_by_other]

    def _headline(self) -> str:
        if not self.active and self.holding:
            return "No extra certificates are trusted by new connections (some live clients still are)."
        if not self.active:
            return "No extra certificates are trusted (sly_nb_tls changed nothing)."
        return f"{len(self.certificates)} extra certificate(s) trusted in this kernel"

    def _variables_title(self) -> str:
        where = shown_path(os.path.dirname(self.bundle_path)) if self.bundle_path else "the per-user directory"
        return f"each variable names its own file in {where}: what its readers trusted before, plus the extras"

    def _variable_rows(self) -> list[list[str]]:
        rows = []
        for v in self.variables:
            if v.ours is None:
                continue
            file = os.path.basename(v.ours) if not v.changed_by_other else f"changed by something else: {v.current}"
            rows.append([v.name, _readers(v.name), v.base, f"+{v.extras}", file])
        return rows

    def _notes(self) -> list[str]:
        if not self.active:
            return self.at_start + _holding_note(self.holding, "certificates removed earlier") + self._children_notes()
        out = list(self.at_start)
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
        out.append("undo: %sly_tls remove <fingerprint> · %sly_tls reset")
        return out

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
            t = Table(_VARIABLE_HEADERS)
            for row in rows:
                t.add(row)
            lines.append(t.render("    "))
        if self.clients:
            lines.append("  each HTTPS library here, and the trust it uses now:")
            t = Table(_CLIENT_TRUST_HEADERS)
            for c in self.clients:
                t.add(c.row())
            lines.append(t.render("    "))
        lines += [f"  ! {visible(w)}" for w in self.warnings]
        lines += [f"  {visible(n)}" for n in self._notes()]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        html = html_table(
            _CERT_HEADERS,
            _cert_rows(self.certificates),
            title=self._headline(),
            warnings=self.warnings,
            notes=self._notes(),
        )
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
    from ._environ import CA_VARIABLES

    return next((v.readers for v in CA_VARIABLES if v.name == variable), "")


# -- env files ------------------------------------------------------------
@dataclass
class EnvKey:
    name: str
    action: str  # "set", "kept" (environment wins), "overridden", "registered"
    shown: str  # the value as it may be displayed (masked for secrets)
    source: str


@dataclass(repr=False)
class EnvResult(Rendered):
    files_read: list[str] = field(default_factory=list)
    files_missing: list[str] = field(default_factory=list)
    keys: list[EnvKey] = field(default_factory=list)
    certificates: AddResult | None = None
    override: bool = False

    @property
    def set_keys(self) -> list[str]:
        return [k.name for k in self.keys if k.action in ("set", "overridden")]

    def _headline(self) -> str:
        if not self.files_read:
            return "No env file found (looked for " + ", ".join(map(shown_path, self.files_missing)) + ")"
        return "✓ Read " + ", ".join(map(shown_path, self.files_read))

    def _rows(self) -> list[list[str]]:
        return [[k.name, k.action, k.shown, shown_path(k.source) if k.source else ""] for k in self.keys]

    def _notes(self) -> list[str]:
        out = []
        if self.files_read and self.files_missing:
            out.append("not found (skipped): " + ", ".join(map(shown_path, self.files_missing)))
        if any(k.action == "kept" for k in self.keys):
            out.append("'kept': already set in the kernel; use --override to take the file's value")
        return out

    def __str__(self) -> str:
        lines = [self._headline()]
        if self.keys:
            t = Table(["key", "action", "value", "from"])
            for row in self._rows():
                t.add(row)
            lines.append(t.render("  "))
        lines += [f"  {visible(n)}" for n in self._notes()]
        if self.certificates is not None:
            lines.append(str(self.certificates))
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        html = html_table(["key", "action", "value", "from"], self._rows(), title=self._headline(), notes=self._notes())
        if self.certificates is not None:
            html += self.certificates._repr_html_()
        return html


# -- connection test and fetch --------------------------------------------
@dataclass
class Step:
    name: str
    ok: bool
    elapsed: float
    detail: str = ""


@dataclass(frozen=True)
class Interception:
    """What re-signs the server's chain on the way: the CA, the product if known, and the evidence."""

    ca: str
    product: str | None
    evidence: str
    #: True when only the issuer's name suggests it (the direct path could not be compared)
    hint_only: bool = False

    def __str__(self) -> str:
        product = f" ({self.product})" if self.product else ""
        return f'TLS inspection by "{self.ca}"{product}: {self.evidence}'

    def to_dict(self) -> dict[str, Any]:
        return {"ca": self.ca, "product": self.product, "evidence": self.evidence, "hint_only": self.hint_only}


@dataclass(frozen=True)
class ClientCheck:
    """One HTTPS client's own attempt: `problem` is None when it got through."""

    client: str
    problem: str | None
    detail: str
    #: the proxy this client used as it is configured here, or "direct"
    route: str = ""

    @property
    def ok(self) -> bool:
        return self.problem is None

    def row(self) -> list[str]:
        return [self.client, "✓ ok" if self.ok else f"✗ {self.problem}", self.route, self.detail]

    def to_dict(self) -> dict[str, Any]:
        return {"client": self.client, "ok": self.ok, "problem": self.problem, "detail": self.detail,
                "route": self.route}  # fmt: skip


def _path_lines(completion: Completion | None) -> list[str]:
    """The path as one text line, and what the search ran into."""
    if completion is None or not completion.path:
        return []
    out = [f"path: {completion.picture()}"]
    out += [f"AIA: {p}" for p in completion.aia_problems]
    return out


_HOW_STYLE = {
    "presented": "border:1px solid #888",
    "found": "border:1px dashed #1a7f37",
    "fetched": "border:1px dashed #0969da",
    "missing": "border:1px dashed #cf222e;color:#cf222e",
}


def path_picture(completion: Completion | None) -> str:
    """The path in HTML: leaf → … → root, each link marked presented / found / fetched / missing, and trusted."""
    if completion is None or not completion.path:
        return ""
    boxes = []
    for cert, how, trusted in completion.links():
        mark = " ✓ trusted" if trusted else ""
        boxes.append(
            f'<span style="{_HOW_STYLE[how]};padding:1px 6px;border-radius:4px;display:inline-block">'
            f"{esc(cert.common_name)}<br><small>{esc(how)}: {esc(_shown_source(cert.source))}{mark}</small></span>"
        )
    if completion.missing is not None:
        boxes.append(
            f'<span style="{_HOW_STYLE["missing"]};padding:1px 6px;border-radius:4px;display:inline-block">'
            f"{esc(completion.missing)}<br><small>missing: found nowhere</small></span>"
        )
    problems = "".join(f'<li class="warn">{esc("AIA: " + p)}</li>' for p in completion.aia_problems)
    return html_block(
        '<div style="margin:4px 0">' + " → ".join(boxes) + "</div>" + (f"<ul>{problems}</ul>" if problems else "")
    )


def _completion_dict(completion: Completion | None) -> dict[str, Any] | None:
    if completion is None:
        return None
    return {
        "path": [dict(_cert_dict(c), how=how, trusted=trusted) for c, how, trusted in completion.links()],
        "missing": completion.missing,
        "searched": list(completion.searched),
        "aia_problems": list(completion.aia_problems),
        "aia_fetches": completion.fetches,
    }


_CLIENT_HEADERS = ["client", "result", "route", "detail"]
_STEP_HEADERS = ["", "step", "time", "detail"]
_CHAIN_HEADERS = ["#", "certificate", "issuer", "kind", "expires", "SHA-256"]


def _chain_rows(chain: list[Certificate]) -> list[list[object]]:
    return [
        [i, c.common_name, c.issuer_common_name, c.kind, f"{c.not_after:%Y-%m-%d}", c.short_fingerprint]
        for i, c in enumerate(chain)
    ]


@dataclass(repr=False)
class ConnectionReport(Rendered):
    """The outcome of `test_connection`: a verdict, its cause, the fix, the evidence."""

    url: str
    ok: bool = False
    problem: str | None = None
    cause: str = ""
    fix: str = ""
    warnings: list[str] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    chain: list[Certificate] = field(default_factory=list)
    elapsed: float = 0.0
    tls_version: str | None = None
    verified_by: str | None = None
    login: str | None = None
    api_checked: bool = False
    http_status: int | None = None
    #: the proxy used, without credentials (``http://***@host:port``), or None for direct
    proxy: str | None = None
    #: how and why: "via proxy …" or "direct (NO_PROXY matched '…')"
    route: str = "direct"
    interception: Interception | None = None
    #: with ``clients=True``: each HTTPS client's own attempt
    clients: list[ClientCheck] = field(default_factory=list)
    #: where the clients disagree, and why
    client_notes: list[str] = field(default_factory=list)
    #: the path to a root, completed from this machine's stores or AIA (when the chain did not verify)
    completion: Completion | None = None

    def headline(self) -> str:
        if self.ok:
            parts = [self.tls_version or "TLS", f"verified by {self.verified_by}"]
            if self.api_checked:
                parts.append(f'users.me → login "{self.login}"' if self.login else "users.me → ok")
            else:
                parts.append(f"HTTP {self.http_status} (API check skipped: no API token)")
            parts.append(f"{self.elapsed * 1000:.0f} ms")
            return "✓ " + " · ".join(parts)
        return f"✗ {self.problem} — {self.url}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "ok": self.ok,
            "problem": self.problem,
            "cause": self.cause,
            "fix": self.fix,
            "warnings": list(self.warnings),
            "steps": [
                {"name": s.name, "ok": s.ok, "elapsed": round(s.elapsed, 6), "detail": s.detail} for s in self.steps
            ],
            "chain": [_cert_dict(c) for c in self.chain],
            "elapsed": round(self.elapsed, 6),
            "tls_version": self.tls_version,
            "verified_by": self.verified_by,
            "login": self.login,
            "api_checked": self.api_checked,
            "http_status": self.http_status,
            "proxy": self.proxy,
            "route": self.route,
            "interception": self.interception.to_dict() if self.interception else None,
            "clients": [c.to_dict() for c in self.clients],
            "client_notes": list(self.client_notes),
            "completion": _completion_dict(self.completion),
        }

    def _chain_title(self) -> str:
        return "chain presented through the proxy" if self.proxy else "chain presented by the server"

    def _context_lines(self) -> list[str]:
        out = [f"route: {self.route}"]
        if self.interception is not None:
            out.append(f"⚠ {self.interception}")
        return out + _path_lines(self.completion)

    def __str__(self) -> str:
        lines = [visible(self.headline())]
        if not self.ok:
            lines.append(f"  {visible(self.cause)}")
            lines.append(f"  Fix: {visible(self.fix)}")
        lines += [f"  {visible(x)}" for x in self._context_lines()]
        lines.append("  steps:")
        t = Table(_STEP_HEADERS)
        for s in self.steps:
            t.add(["✓" if s.ok else "✗", s.name, f"{s.elapsed * 1000:.1f} ms", s.detail])
        lines.append(t.render("    "))
        if self.clients:
            lines.append("  each client, with its own trust and proxy rules:")
            t = Table(_CLIENT_HEADERS)
            for c in self.clients:
                t.add(c.row())
            lines.append(t.render("    "))
            lines += [f"    {visible(n)}" for n in self.client_notes]
        if self.chain:
            lines.append(f"  {self._chain_title()}:")
            t = Table(_CHAIN_HEADERS)
            for row in _chain_rows(self.chain):
                t.add(row)
            lines.append(t.render("    "))
        lines += [f"  ! {visible(w)}" for w in self.warnings]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        cls = "ok" if self.ok else "bad"
        parts = [f'<div class="{cls}">{esc(self.headline())}</div>']
        if not self.ok:
            parts.append(f"<div>{esc(self.cause)}</div>")
            parts.append(f"<div><b>Fix:</b> <code>{esc(self.fix)}</code></div>")
        parts += [f"<div>{esc(x)}</div>" for x in self._context_lines() if not x.startswith(("path: ", "AIA: "))]
        html = html_block("".join(parts)) + path_picture(self.completion)
        html += html_table(
            _STEP_HEADERS,
            [["✓" if s.ok else "✗", s.name, f"{s.elapsed * 1000:.1f} ms", s.detail] for s in self.steps],
            warnings=self.warnings,
        )
        if self.clients:
            html += html_table(
                _CLIENT_HEADERS,
                [c.row() for c in self.clients],
                title="each client, with its own trust and proxy rules",
                notes=self.client_notes,
            )
        if self.chain:
            # Folded: the verdict and the fix matter first; the chain is the evidence.
            table = html_table(_CHAIN_HEADERS, _chain_rows(self.chain))
            html += html_block(
                f"<details><summary>{esc(self._chain_title())} ({len(self.chain)} certificates)</summary>"
                f"{table}</details>"
            )
        return html


def _cert_dict(c: Certificate) -> dict[str, Any]:
    return {
        "subject": c.subject,
        "issuer": c.issuer,
        "common_name": c.common_name,
        "not_before": c.not_before.isoformat(),
        "not_after": c.not_after.isoformat(),
        "sha256": c.sha256,
        "is_ca": c.is_ca,
        "self_signed": c.self_signed,
        "names": list(c.names),
        "source": c.source,
    }


@dataclass(repr=False)
class ChainReport(Rendered):
    """The chain a server presents, trusted or not; optionally saved as PEM."""

    url: str
    chain: list[Certificate] = field(default_factory=list)
    verified: bool = False
    verify_message: str = ""
    saved_to: str | None = None
    saved: list[Certificate] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    proxy: str | None = None
    route: str = "direct"
    interception: Interception | None = None
    #: the path to a root when the server does not send it: this machine's stores, then AIA
    completion: Completion | None = None

    @property
    def completed(self) -> list[Certificate]:
        """The certificates the server does not send, found on this machine or fetched (each with `.source`)."""
        return list(self.completion.completed) if self.completion else []

    def next_step(self) -> str:
        if self.saved_to:
            return (
                f"check the SHA-256 fingerprints above with your admin, then: %sly_tls add {shown_path(self.saved_to)}"
            )
        return "to trust it: add --save FILE, check the fingerprints with your admin, then %sly_tls add FILE"

    def headline(self) -> str:
        state = "trusted here" if self.verified else f"not trusted here: {self.verify_message}"
        return f"Chain presented by {self.url} ({len(self.chain)} certificate(s), {state})"

    def _rows(self) -> list[list[object]]:
        return [
            [i, c.common_name, c.issuer_common_name, c.kind, f"{c.not_before:%Y-%m-%d} → {c.not_after:%Y-%m-%d}"]
            for i, c in enumerate(self.chain)
        ]

    def _notes(self) -> list[str]:
        out = [f"route: {self.route}"]
        if self.interception is not None:
            out.append(f"⚠ {self.interception}")
        out += _path_lines(self.completion)
        out += [f"#{i} SHA-256 {c.fingerprint}" for i, c in enumerate(self.chain)]
        out += [
            f"found, not sent: {c.common_name} ({_shown_source(c.source)}) SHA-256 {c.fingerprint}"
            for c in self.completed
        ]
        if self.saved_to:
            out.append(f"saved {len(self.saved)} certificate(s) to {shown_path(self.saved_to)} (certificates only)")
        out.append(self.next_step())
        out.append("fetch never adds trust by itself")
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "verified": self.verified,
            "verify_message": self.verify_message,
            "chain": [_cert_dict(c) for c in self.chain],
            "saved_to": self.saved_to,
            "warnings": list(self.warnings),
            "proxy": self.proxy,
            "route": self.route,
            "interception": self.interception.to_dict() if self.interception else None,
            "completed": [_cert_dict(c) for c in self.completed],
            "completion": _completion_dict(self.completion),
        }

    def __str__(self) -> str:
        t = Table(["#", "certificate", "issuer", "kind", "valid"])
        for row in self._rows():
            t.add(row)
        lines = [visible(self.headline()), t.render("  ")]
        lines += [f"  ! {visible(w)}" for w in self.warnings]
        lines += [f"  {visible(n)}" for n in self._notes()]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return html_table(
            ["#", "certificate", "issuer", "kind", "valid"],
            self._rows(),
            title=self.headline(),
            title_class="ok" if self.verified else "warn",
            warnings=self.warnings,
            notes=[n for n in self._notes() if not n.startswith(("path: ", "AIA: "))],
        ) + path_picture(self.completion)
