"""The ipywidgets panel: the same operations as %sly_tls, with clicks.

A view, nothing more: every handler (`_on_<widget>_<event>`) reads the
widgets' values at click time, calls the public API, and shows the result
object's own HTML.  While an action runs its buttons are disabled and the
result area says what is happening; errors appear in the panel as one line,
never as a traceback.  The API token is never put into a widget (widget
values travel to the browser and can be saved in the notebook): an empty
token field means "use API_TOKEN from the environment".
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import ipywidgets as w

from .. import _api as api
from .. import _secrets
from .._expiry import EXPIRY_WARNING_DAYS, expiry_warning
from .._render import esc, html_block, visible
from ..diagnose import results as _results
from ..errors import PolicyError, SlyTlsError
from .voices import speaking

__all__ = ["Panel", "panel"]

_UPLOAD_TYPES = ".crt,.pem,.cer,.der,.p7b"


def _message(text: str, kind: str = "bad") -> str:
    return html_block(f'<div class="{kind}">{esc(text)}</div>')


class Panel:
    """Holds the widgets; display it (it renders as its root VBox)."""

    #: bumped whenever the panel's layout changes: the README's screenshots must be retaken
    #: (``SLY_UPDATE_SCREENSHOTS=1``), and a test compares the version they were taken at
    LAYOUT_VERSION = 3

    def __init__(self) -> None:
        self._make_environment()
        self._make_certificates()
        self._make_connection()
        self._make_status()
        #: the result object of the last action (what its HTML shows), for code and tests
        self.last_result: Any = None
        #: the last connection test, for the header line
        self.last_test: Any = None
        self._fetched: _results.ChainReport | None = None
        self._remove_buttons: dict[str, w.Button] = {}

        self._connect_handlers()
        self.widget = self._layout()
        self.widget.add_class("sly-nb-tls-panel")
        self._sync()

    def _make_environment(self) -> None:
        # Every placeholder must be readable at 800 px (the browser test measures them): wide
        # fields, short texts, and rows that wrap.
        wide = w.Layout(width="430px")
        self.header = w.HTML()
        self.env_files = w.Text(placeholder="local.env .env ~/supervisely.env", description="Env files", layout=wide)
        self.env_override = w.Checkbox(value=False, description="override", indent=False)
        self.env_load = w.Button(description="Load", icon="file-import", tooltip="load the env files")
        self.env_result = w.HTML()

    def _make_certificates(self) -> None:
        wide = w.Layout(width="430px")
        self.cert_path = w.Text(placeholder="a .crt / .pem file or a folder", description="Certificate", layout=wide)
        self.cert_upload = w.FileUpload(accept=_UPLOAD_TYPES, multiple=True, description="Upload")
        self.cert_add = w.Button(description="Add", button_style="primary", icon="plus")
        self.cert_persist = w.Checkbox(
            value=False, description="every new kernel too", indent=False,
            tooltip="also install them for every new kernel of yours (python -m sly_nb_tls install --scope user)",
        )  # fmt: skip
        self.cert_server = w.Checkbox(
            value=False, description="the Jupyter server too", indent=False,
            tooltip="also the Jupyter server that started this kernel: its terminals, LSP servers and new kernels",
        )  # fmt: skip
        self.cert_system = w.Button(
            description="Add system store", icon="server", layout=w.Layout(width="170px"),
            tooltip="trust this machine's system store in every client (requests reads only certifi): widens trust",
        )  # fmt: skip
        self.cert_list = w.VBox()
        self.reset_all = w.Button(description="Reset all", button_style="warning", icon="undo")
        self.cert_result = w.HTML()

    def _make_connection(self) -> None:
        wide = w.Layout(width="430px")
        self.url = w.Text(
            value=os.environ.get("SERVER_ADDRESS", ""), placeholder="https://sly.corp", description="Server",
            layout=wide,
        )  # fmt: skip
        self.token = w.Password(placeholder=self._token_placeholder(), description="API token", layout=wide)
        self.timeout = w.BoundedFloatText(value=10.0, min=0.5, max=120.0, step=0.5, description="Timeout (s)")
        self.test = w.Button(description="Test", button_style="info", icon="stethoscope")
        self.check_clients = w.Checkbox(
            value=False, description="check each client", indent=False,
            tooltip="also send one request with requests, urllib, urllib3, httpx, aiohttp, the SDK and curl",
        )  # fmt: skip
        self.fetch = w.Button(description="Fetch chain", icon="download")
        self.trust = w.Button(description="Trust this chain", icon="check", layout=w.Layout(display="none"))
        self.find_root = w.Button(
            description="Find the root", icon="search", layout=w.Layout(display="none"),
            tooltip="the server does not send its root: show where it was found (this machine, AIA), then trust it",
        )  # fmt: skip
        self.trust_confirm = w.Button(
            description="Yes, trust these", button_style="danger", layout=w.Layout(display="none")
        )
        self.trust_cancel = w.Button(description="Cancel", layout=w.Layout(display="none"))
        self.connection_result = w.HTML()

    def _make_status(self) -> None:
        self.refresh = w.Button(
            description="Refresh",
            icon="refresh",
            tooltip="show changes made in other cells",
            layout=w.Layout(width="110px", min_width="110px"),
        )
        self.show_clients = w.Button(
            description="Clients", icon="list", layout=w.Layout(width="110px", min_width="110px"),
            tooltip="each HTTPS library here, the trust it uses now, and which will not see the extras",
        )  # fmt: skip
        self.show_audit = w.Button(
            description="Audit", icon="history", layout=w.Layout(width="110px", min_width="110px"),
            tooltip="the audit log's last records: who added, removed or was refused what, and when",
        )  # fmt: skip
        self.status_line = w.HTML()

    def _connect_handlers(self) -> None:
        self.env_load.on_click(self._on_env_load_click)
        self.cert_add.on_click(self._on_cert_add_click)
        self.cert_system.on_click(self._on_cert_system_click)
        self.find_root.on_click(self._on_find_root_click)
        self.reset_all.on_click(self._on_reset_all_click)
        self.test.on_click(self._on_test_click)
        self.fetch.on_click(self._on_fetch_click)
        self.trust.on_click(self._on_trust_click)
        self.trust_confirm.on_click(self._on_trust_confirm_click)
        self.trust_cancel.on_click(self._on_trust_cancel_click)
        self.refresh.on_click(self._on_refresh_click)
        self.show_clients.on_click(self._on_show_clients_click)
        self.show_audit.on_click(self._on_show_audit_click)
        self.cert_upload.observe(self._on_cert_upload_change, names="value")

    def _layout(self) -> w.VBox:
        section = w.HTML
        rows = w.Layout(flex_flow="row wrap")
        return w.VBox(
            [
                self.header,
                section("<b>Environment</b>"),
                w.HBox([self.env_files, self.env_override, self.env_load], layout=rows),
                self.env_result,
                section("<b>Certificates</b>"),
                w.HBox(
                    [
                        self.cert_path,
                        self.cert_upload,
                        self.cert_add,
                        self.cert_persist,
                        self.cert_server,
                        self.cert_system,
                    ],
                    layout=rows,
                ),
                self.cert_result,
                self.cert_list,
                self.reset_all,
                section("<b>Connection</b>"),
                w.HBox([self.url, self.token], layout=rows),
                w.HBox([self.timeout, self.test, self.check_clients, self.fetch], layout=rows),
                self.connection_result,
                w.HBox([self.trust, self.find_root, self.trust_confirm, self.trust_cancel]),
                w.HBox([self.refresh, self.show_clients, self.show_audit, self.status_line]),
            ]
        )

    # -- display --------------------------------------------------------
    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        bundle = self.widget._repr_mimebundle_(**kwargs)
        if isinstance(bundle, dict):
            # Where widgets do not render (VS Code's ipywidgets 8.1.9, nbconvert, a saved notebook
            # on GitHub) the text form is all there is: the state and the last result, not the
            # widget's own listing of every child.
            bundle["text/plain"] = str(self)
        return bundle

    def __repr__(self) -> str:
        return "<sly_nb_tls panel>"

    def __str__(self) -> str:
        st = api.status()
        lines = [
            "sly_nb_tls panel (its widgets need a live Jupyter front-end; the state when it was shown:)",
            f"  {_header_text(st, self.last_test, self.url.value.strip() or None)}",
            *(f"  {'! ' if kind != 'note' else ''}{line}" for kind, line in _header_notes(st)),
            f"  {_status_text(st)}",
        ]
        if self.last_result is not None:
            lines.append(f"  last result: {str(self.last_result).splitlines()[0]}")
        return "\n".join(visible(line) for line in lines)

    # -- helpers --------------------------------------------------------
    @staticmethod
    def _token_placeholder() -> str:
        token = os.environ.get("API_TOKEN")
        if token:
            return f"API_TOKEN from the environment ({len(token)} chars)"
        return "optional: also checks the API"

    @contextmanager
    def _reporting(self, area: w.HTML) -> Iterator[None]:
        """Show any error of the block in `area` as one line: a panel never shows a traceback."""
        try:
            with speaking("panel"):  # a fix names the panel's buttons and fields
                yield
        except SlyTlsError as exc:
            area.value = _message(str(exc))
        except Exception as exc:  # noqa: BLE001 - whatever it is, the user sees it here
            text = _secrets.redact(
                f"unexpected error: {type(exc).__name__}: {exc}", _secrets.secret_values(extra=[self.token.value])
            )
            area.value = _message(text)

    @contextmanager
    def _busy(self, buttons: list[w.Button], area: w.HTML, working: str) -> Iterator[None]:
        """Disable `buttons`, say what is happening, show errors as one line, re-enable, redraw."""
        for b in buttons:
            b.disabled = True
        area.value = _message(working, "warn")
        try:
            with self._reporting(area):
                yield
        finally:
            for b in buttons:
                b.disabled = False
            with self._reporting(area):
                self._sync()

    def _sync(self) -> None:
        """Redraw the certificate list and the status line from `status()`."""
        st = api.status()
        self.token.placeholder = self._token_placeholder()
        rows: list[w.Widget] = []
        buttons: dict[str, w.Button] = {}
        for cert in st.certificates:
            label = w.HTML(
                html_block(
                    f"{esc(cert.common_name)} · {esc(cert.kind)} · expires {cert.not_after:%Y-%m-%d} · "
                    f"<code>{esc(cert.short_fingerprint)}</code>"
                    + "".join(f'<div class="warn">⚠ {esc(x)}</div>' for x in cert.warnings)
                )
            )
            button = self._remove_buttons.get(cert.sha256) or w.Button(description="Remove", icon="trash")
            if cert.sha256 not in self._remove_buttons:
                button.on_click(self._remove_handler(cert.sha256))
            buttons[cert.sha256] = button
            rows.append(w.HBox([button, label]))
        self._remove_buttons = buttons
        self.cert_list.children = tuple(rows)
        self.reset_all.disabled = not st.active
        self.status_line.value = html_block(f"<span>{esc(_status_text(st))}</span>")
        notes = "".join(
            f'<div class="{kind}">{"" if kind == "note" else "⚠ "}{esc(line)}</div>' for kind, line in _header_notes(st)
        )
        self.header.value = html_block(
            f"<b>{esc(_header_text(st, self.last_test, self.url.value.strip() or None))}</b>{notes}"
        )

    def _remove_handler(self, sha256: str) -> Callable[[w.Button], None]:
        def _on_remove_click(button: w.Button) -> None:
            with self._busy([button, self.reset_all], self.cert_result, "removing…"):
                self.last_result = api.remove(sha256)
                self.cert_result.value = self.last_result._repr_html_()

        return _on_remove_click

    # -- handlers -------------------------------------------------------
    def _on_env_load_click(self, button: w.Button) -> None:
        with self._busy([button], self.env_result, "loading env files…"):
            try:
                files = shlex.split(self.env_files.value)
            except ValueError as exc:  # an unbalanced quote
                raise _PanelInputError(f"env files: {exc}; quote paths with spaces in pairs") from None
            result = self.last_result = api.load_env(*files, override=self.env_override.value)
            self.env_result.value = result._repr_html_()
            if os.environ.get("SERVER_ADDRESS") and not self.url.value.strip():
                self.url.value = os.environ["SERVER_ADDRESS"]

    def _on_cert_upload_change(self, change: dict[str, Any]) -> None:
        with self._reporting(self.cert_result):
            names = [str(f["name"]) for f in change["new"]]
            if names:
                self.cert_result.value = _message(
                    f"ready to add {len(names)} uploaded file(s): {', '.join(names)} — click Add", "warn"
                )

    def _on_cert_add_click(self, button: w.Button) -> None:
        with self._busy([button, self.reset_all], self.cert_result, "adding…"):
            path = self.cert_path.value.strip()
            uploads = [bytes(f["content"]) for f in self.cert_upload.value]
            if not path and not uploads:
                raise _PanelInputError("type a certificate path or upload a file first")
            sources: list[str | bytes] = ([path] if path else []) + uploads
            result = self.last_result = api.add_certs(
                *sources, persist=self.cert_persist.value, server=self.cert_server.value
            )
            self.cert_result.value = result._repr_html_()
            self.cert_upload.value = ()

    def _on_cert_system_click(self, button: w.Button) -> None:
        with self._busy([button, self.reset_all], self.cert_result, "adding the system store…"):
            result = self.last_result = api.add_certs(system=True)
            self.cert_result.value = result._repr_html_()

    def _on_reset_all_click(self, button: w.Button) -> None:
        with self._busy([button], self.cert_result, "resetting…"):
            self.last_result = api.reset()
            self.cert_result.value = self.last_result._repr_html_()

    def _connection_buttons(self) -> list[w.Button]:
        return [self.test, self.fetch, self.trust]

    def _on_test_click(self, button: w.Button) -> None:
        url, token, timeout = self.url.value.strip() or None, self.token.value or None, self.timeout.value
        where = url or os.environ.get("SERVER_ADDRESS") or "SERVER_ADDRESS"
        with self._busy(
            self._connection_buttons(), self.connection_result, f"⋯ testing {where} (at most {timeout:g} s)…"
        ):
            report = self.last_result = self.last_test = api.test_connection(
                url, token=token, timeout=timeout, clients=self.check_clients.value
            )
            self.connection_result.value = report._repr_html_()

    def _on_fetch_click(self, button: w.Button) -> None:
        url, timeout = self.url.value.strip() or None, self.timeout.value
        self._show_trust(False)
        with self._busy(self._connection_buttons(), self.connection_result, "⋯ fetching the chain…"):
            self._fetched = self.last_result = api.fetch_chain(url, timeout=timeout)
            self.connection_result.value = self._fetched._repr_html_()
            completion = self._fetched.completion
            found_root = completion is not None and completion.root is not None and bool(completion.completed)
            self.trust.layout.display = "" if self._fetched.chain and not found_root else "none"
            self.find_root.layout.display = "" if found_root else "none"

    def _trust_candidates(self) -> list[Any]:
        if self._fetched is None:
            return []
        return list(self._fetched.to_trust)

    def _on_find_root_click(self, button: w.Button) -> None:
        """Where each certificate the server does not send came from, then the same confirm-to-trust step."""
        with self._reporting(self.connection_result):
            fetched = self._fetched
            if fetched is None or fetched.completion is None:
                raise _PanelInputError("nothing fetched: click Fetch chain first")
            # exactly what the confirm step will trust, nothing else
            rows = "".join(
                f"<li>{esc(c.common_name)} ({esc(c.kind)}) — from <code>{esc(c.source)}</code><br>"
                f"<code>{esc(c.fingerprint)}</code></li>"
                for c in self._trust_candidates()
            )
            picture = _results.path_picture(fetched.completion)
            self.connection_result.value = (
                html_block(
                    "<div class='warn'>The server does not send these; they were found as shown. Trust them in "
                    f"this kernel? Check the SHA-256 fingerprints with your admin first.</div><ul>{rows}</ul>"
                )
                + picture
            )
            self._show_trust(True)

    def _on_trust_click(self, button: w.Button) -> None:
        with self._reporting(self.connection_result):
            certs = self._trust_candidates()
            rows = "".join(
                f"<li>{esc(c.common_name)} ({esc(c.kind)})<br><code>{esc(c.fingerprint)}</code></li>" for c in certs
            )
            self.connection_result.value = html_block(
                f"<div class='warn'>Trust these {len(certs)} certificate(s) in this kernel? "
                "Check the SHA-256 fingerprints with your admin first.</div>"
                f"<ul>{rows}</ul>"
            )
            self._show_trust(True)

    def _on_trust_confirm_click(self, button: w.Button) -> None:
        with self._busy([button, self.trust_cancel], self.connection_result, "adding…"):
            certs = self._trust_candidates()
            if not certs:
                raise _PanelInputError("nothing fetched: click Fetch chain first")
            result = self.last_result = api.add_certs("".join(c.pem for c in certs))
            self.connection_result.value = result._repr_html_()
            self._show_trust(False)
            self.trust.layout.display = "none"
            self.find_root.layout.display = "none"

    def _on_trust_cancel_click(self, button: w.Button) -> None:
        self._show_trust(False)
        self.connection_result.value = _message("not trusted; nothing changed", "warn")

    def _on_refresh_click(self, button: w.Button) -> None:
        with self._busy([button], self.cert_result, "refreshing…"):
            self.cert_result.value = ""

    def _on_show_clients_click(self, button: w.Button) -> None:
        with self._busy([button], self.cert_result, "looking at each client…"):
            self.last_result = api.status(clients=True)
            self.cert_result.value = self.last_result._repr_html_()

    def _on_show_audit_click(self, button: w.Button) -> None:
        with self._busy([button], self.cert_result, "reading the audit log…"):
            self.last_result = api.audit()
            self.cert_result.value = self.last_result._repr_html_()

    def _show_trust(self, confirming: bool) -> None:
        self.trust_confirm.layout.display = "" if confirming else "none"
        self.trust_cancel.layout.display = "" if confirming else "none"


def _status_text(st: Any) -> str:
    """One line for the status bar and the text form: what is trusted, and which variables are ours."""
    if not st.active:
        return "no extra certificates trusted; nothing changed"
    ours = [v.name for v in st.variables if v.ours is not None and not v.changed_by_other]
    text = f"{len(st.certificates)} extra certificate(s) trusted · set: {', '.join(ours)}"
    if st.changed_by_other:
        text += " · changed by something else: " + ", ".join(st.changed_by_other)
    return text


def _header_text(st: Any, last_test: Any, url: str | None) -> str:
    """The state at a glance: extras and where they came from, the proxy, the last test."""
    parts = [f"{r.added} at start from {r.source}" for r in st.at_start if not r.problem]
    at_start = sum(r.added for r in st.at_start)
    if len(st.certificates) > at_start:
        parts.append(f"{len(st.certificates) - at_start} added in this kernel")
    trusted = f"Trusted: {len(st.certificates)} extra certificate(s)" + (f" ({', '.join(parts)})" if parts else "")
    # The proxy `test` would use (requests' own rules, NO_PROXY included): a guess made here
    # another way could name a proxy the test does not use.
    proxy = api.proxy_for(url)
    route = f"proxy {proxy}" if proxy else "no proxy"
    if last_test is None:
        test = "last test: not run"
    elif last_test.ok:
        test = f"last test: ✓ {last_test.url}"
    else:
        test = f"last test: ✗ {last_test.problem} ({last_test.url})"
    return f"{trusted} · {route} · {test}"


def _header_notes(st: Any) -> list[tuple[str, str]]:
    """The header's lines under its first: the policy in force (when a file sets one), each trusted extra
    that expires within the policy's `expiry_warning_days` (or has expired), and a policy that cannot be read."""
    notes: list[tuple[str, str]] = []
    if st.policy is not None and st.policy.path is not None:
        notes.append(("note", st.policy.summary))
    else:  # no policy file, or one that cannot be read: `status` stood in the defaults for the latter
        try:
            api.policy()
        except PolicyError as exc:  # fail closed: the panel says so where the policy would be
            notes.append(("bad", f"{exc}: until it is fixed, nothing more may be trusted"))
    days = st.policy.expiry_warning_days if st.policy is not None else EXPIRY_WARNING_DAYS
    for cert in st.certificates:
        line = expiry_warning(cert.common_name, cert.not_after, days)
        if line:
            notes.append(("warn", line))
    return notes


class _PanelInputError(SlyTlsError):
    """Something the panel needs before it can act."""


def panel() -> Panel:
    """The interactive panel; display it in a notebook cell."""
    return Panel()
