"""The Jupyter server that started this process: found by its server-info file, asked over its REST API."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._render import Rendered, html_table, text_table, visible
from .errors import NoServerError, SlyTlsError

__all__ = ["JupyterServer", "ServerTrust", "ask_server", "find_server"]

#: the extension's REST endpoints, under the server's base URL
ROUTE = "sly-tls"
_MAX_INFO_BYTES = 64 * 1024
_TIMEOUT = 30.0


@dataclass(frozen=True)
class JupyterServer:
    """One running Jupyter server, as its ``jpserver-<pid>.json`` describes it."""

    pid: int
    url: str
    info_file: str
    token: str = field(default="", repr=False)


def _runtime_dir() -> Path:
    try:
        from jupyter_core.paths import jupyter_runtime_dir
    except ImportError:  # no Jupyter here at all: no server can have started us
        return Path(os.environ.get("JUPYTER_RUNTIME_DIR") or "~/.local/share/jupyter/runtime").expanduser()
    return Path(jupyter_runtime_dir())


def _lineage() -> list[int]:
    """Who may have started us, nearest first: the kernel's ``JPY_PARENT_PID``, then our ancestors
    (a terminal's shell is the server's child, and so is a CLI run from it)."""
    from .trust.processes import proc_stat

    out: list[int] = []
    named = os.environ.get("JPY_PARENT_PID", "")
    if named.isdigit():
        out.append(int(named))
    pid = os.getppid()
    for _ in range(32):
        if pid <= 1 or pid in out:
            break
        out.append(pid)
        info = proc_stat(str(pid))
        if info is None:
            break
        pid = info[0]
    return out


def _servers(runtime: Path) -> dict[int, JupyterServer]:
    from ._readfile import NotReadable, read_regular_file

    found: dict[int, JupyterServer] = {}
    for path in sorted(runtime.glob("jpserver-*.json")):
        try:
            info = json.loads(read_regular_file(path, _MAX_INFO_BYTES))
        except (NotReadable, ValueError):
            continue  # a stale or half-written file is no server
        if isinstance(info, dict) and isinstance(info.get("pid"), int) and isinstance(info.get("url"), str):
            found[info["pid"]] = JupyterServer(info["pid"], info["url"], str(path), str(info.get("token") or ""))
    return found


def find_server() -> JupyterServer:
    """The server that started this process, the way Jupyter tools find one: its info file in the
    runtime directory, matched by our parent process.  Never a guess by port; `SlyTlsError` if none."""
    runtime = _runtime_dir()
    servers = _servers(runtime)
    for pid in _lineage():
        if pid in servers:
            return servers[pid]
    why = "JPY_PARENT_PID is not set" if "JPY_PARENT_PID" not in os.environ else "its process has no info file"
    raise NoServerError(
        f"no Jupyter server started this process ({why}, and no parent process has a jpserver-*.json in "
        f"{runtime}): the server was not changed"
    )


def ask_server(server: JupyterServer, method: str, path: str, pem: str | None = None) -> dict[str, Any]:
    """One call to the extension's endpoint `path` on `server`, authenticated with its token; the JSON answer."""
    import requests

    url = server.url.rstrip("/") + f"/{ROUTE}/{path}"
    # A single-user server under JupyterHub writes no token to its info file: the kernel has the
    # hub's token for it instead.
    token = server.token or os.environ.get("JUPYTERHUB_API_TOKEN", "")
    headers = {"Authorization": f"token {token}"} if token else {}
    if pem is not None:
        headers["Content-Type"] = "application/x-pem-file"
    with requests.Session() as session:
        # Never through a proxy: the server is this machine's, and the token must not travel to one.
        session.trust_env = False
        try:
            answer = session.request(method, url, headers=headers, data=pem, timeout=_TIMEOUT)
        except requests.RequestException as exc:
            raise SlyTlsError(f"the Jupyter server at {server.url} did not answer ({type(exc).__name__})") from None
    if answer.status_code == 403 and not token:
        raise SlyTlsError(
            f"the Jupyter server at {server.url} wants a token: its info file has none, "
            "and JUPYTERHUB_API_TOKEN is not set"
        )
    if answer.status_code == 404:
        raise SlyTlsError(
            f"the Jupyter server at {server.url} does not run the sly_nb_tls extension: "
            "jupyter server extension enable sly_nb_tls, then restart it"
        )
    try:
        payload = answer.json()
    except ValueError:
        payload = {}
    if answer.status_code != 200 or not isinstance(payload, dict):
        message = payload.get("message") if isinstance(payload, dict) else None
        raise SlyTlsError(f"the Jupyter server at {server.url} refused: {message or f'HTTP {answer.status_code}'}")
    return payload


@dataclass(repr=False)
class ServerTrust(Rendered):
    """What the Jupyter server trusts beyond its defaults, as its ``/sly-tls/status`` says."""

    url: str
    certificates: list[dict[str, Any]] = field(default_factory=list)
    variables: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    headline: str = ""

    @classmethod
    def from_answer(cls, server: JupyterServer, answer: dict[str, Any], headline: str = "") -> ServerTrust:
        certs = answer.get("certificates") or answer.get("added") or []
        return cls(
            server.url,
            [c for c in certs if isinstance(c, dict)],
            {str(k): str(v) for k, v in (answer.get("variables") or {}).items()},
            [str(w) for w in answer.get("warnings") or []],
            headline,
        )

    def _title(self) -> str:
        if self.headline:
            return self.headline
        if not self.certificates:
            return f"the Jupyter server ({self.url}) trusts no extra certificate"
        return f"the Jupyter server ({self.url}) trusts {len(self.certificates)} extra certificate(s)"

    _HEADERS = ("certificate", "kind", "expires", "SHA-256", "from")

    def _rows(self) -> list[list[str]]:
        return [
            [
                str(c.get("subject", "")),
                str(c.get("kind", "")),
                str(c.get("not_after", ""))[:10],
                str(c.get("sha256", ""))[:16],
                ", ".join(str(o) for o in c.get("from", []) or []),
            ]
            for c in self.certificates
        ]

    def __str__(self) -> str:
        lines = [self._title()]
        if self.certificates:
            lines.append(text_table(self._HEADERS, self._rows(), "  "))
        if self.variables:
            lines.append("  its processes (terminals, kernels, LSP servers) inherit: " + ", ".join(self.variables))
        lines += [f"  ! {visible(w)}" for w in self.warnings]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        notes = ["its processes (terminals, kernels, LSP servers) inherit: " + ", ".join(self.variables)]
        return html_table(
            self._HEADERS,
            self._rows(),
            title=self._title(),
            warnings=self.warnings,
            notes=notes if self.variables else [],
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "certificates": self.certificates,
            "variables": self.variables,
            "warnings": self.warnings,
        }
