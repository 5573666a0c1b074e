"""The results of `test` and `fetch`: steps, client attempts, the chain and its path, as text and escaped HTML.

`ConnectionReport` (test) and `ChainReport` (fetch); `__str__` for terminals, `_repr_html_` for notebooks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .._fixes import Fix, command, fix, spoken
from .._render import Rendered, esc, html_block, html_table, shown_path, text_table, visible

if TYPE_CHECKING:
    from .._certs import Certificate
    from .anchors import Rotation
    from .issuers import Completion

__all__ = ["ChainReport", "ClientCheck", "ConnectionReport", "Interception", "Step"]


def _shown_source(source: str) -> str:
    """A certificate's source as shown: a path under the working directory or ~ shortened."""
    return shown_path(source) if source.startswith("/") else source


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
    """The outcome of `test_connection`: a verdict, its cause, the fix, the evidence.

    `remedy` is the fix as data (what to do, with which arguments); `fix` says it in the words of the
    front-end the test ran from.
    """

    url: str
    ok: bool = False
    problem: str | None = None
    cause: str = ""
    remedy: Fix | None = None
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
    #: a certificate trusted here that the chain names, re-keyed: both fingerprints, the old one's expiry
    rotation: Rotation | None = None
    #: the front-end voice the test ran in: its commands are said in that front-end's words
    voice: str = spoken()

    @property
    def fix(self) -> str:
        """What to do next, as the front-end that ran the test says it ("" when nothing is wrong)."""
        return self.remedy.render(self.voice) if self.remedy else ""

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
            "fix_detail": self.remedy.to_dict(self.voice) if self.remedy else None,
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
            "rotation": self.rotation.to_dict() if self.rotation else None,
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
        if self.rotation is not None:
            lines.append(_indented(self.rotation))
        lines += [f"  {visible(x)}" for x in self._context_lines()]
        lines.append("  steps:")
        lines.append(
            text_table(
                _STEP_HEADERS,
                (["✓" if s.ok else "✗", s.name, f"{s.elapsed * 1000:.1f} ms", s.detail] for s in self.steps),
                "    ",
            )
        )
        if self.clients:
            lines.append("  each client, with its own trust and proxy rules:")
            lines.append(text_table(_CLIENT_HEADERS, (c.row() for c in self.clients), "    "))
            lines += [f"    {visible(n)}" for n in self.client_notes]
        if self.chain:
            lines.append(f"  {self._chain_title()}:")
            lines.append(text_table(_CHAIN_HEADERS, _chain_rows(self.chain), "    "))
        lines += [f"  ! {visible(w)}" for w in self.warnings]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        cls = "ok" if self.ok else "bad"
        parts = [f'<div class="{cls}">{esc(self.headline())}</div>']
        if not self.ok:
            parts.append(f"<div>{esc(self.cause)}</div>")
            parts.append(f"<div><b>Fix:</b> {self.remedy.html(self.voice) if self.remedy else ''}</div>")
        parts += [f"<div>{esc(x)}</div>" for x in self._context_lines() if not x.startswith(("path: ", "AIA: "))]
        html = html_block("".join(parts)) + (self.rotation._repr_html_() if self.rotation else "")
        html += path_picture(self.completion)
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


def _indented(rotation: Rotation) -> str:
    """The rotation's lines (already made visible) under a report's first line."""
    return "\n".join(f"  {line}" for line in str(rotation).splitlines())


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
    #: what trusting this server takes, what `save` writes: the root it sends or that was found,
    #: else its CA certificates, else its leaf
    to_trust: list[Certificate] = field(default_factory=list)
    #: a certificate trusted here that the chain names, re-keyed: both fingerprints, the old one's expiry
    rotation: Rotation | None = None
    #: the front-end voice the fetch ran in
    voice: str = spoken()

    @property
    def completed(self) -> list[Certificate]:
        """The certificates the server does not send, found on this machine or fetched (each with `.source`)."""
        return list(self.completion.completed) if self.completion else []

    @property
    def remedy(self) -> Fix:
        """How to trust what was fetched, as data (for a rotated CA: the new key, then the old one's removal)."""
        if self.rotation is not None:
            return self.rotation.remedy(self.url, self.saved_to)
        if self.saved_to:
            return fix(
                "check the SHA-256 fingerprints above with your admin, then: ",
                command("add", shown_path(self.saved_to)),
            )
        return fix(
            "to trust it: ", command("fetch", self.url, save="FILE"), ", check the fingerprints with your admin, then ",
            command("add", "FILE"),
        )  # fmt: skip

    def next_step(self) -> str:
        """`remedy` in the words of the front-end the fetch ran from."""
        return self.remedy.render(self.voice)

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
            "next_step": self.remedy.to_dict(self.voice),
            "rotation": self.rotation.to_dict() if self.rotation else None,
        }

    def __str__(self) -> str:
        lines = [
            visible(self.headline()),
            text_table(["#", "certificate", "issuer", "kind", "valid"], self._rows(), "  "),
        ]
        lines += [f"  ! {visible(w)}" for w in self.warnings]
        if self.rotation is not None:
            lines.append(_indented(self.rotation))
        lines += [f"  {visible(n)}" for n in self._notes()]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return (
            html_table(
                ["#", "certificate", "issuer", "kind", "valid"],
                self._rows(),
                title=self.headline(),
                title_class="ok" if self.verified else "warn",
                warnings=self.warnings,
                notes=[n for n in self._notes() if not n.startswith(("path: ", "AIA: "))],
            )
            + (self.rotation._repr_html_() if self.rotation else "")
            + path_picture(self.completion)
        )
