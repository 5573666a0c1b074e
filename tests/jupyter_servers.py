"""Real Jupyter servers for tests: their own config, runtime, IPython dir and home; terminals and kernels via REST."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

import sly_nb_tls

from .helpers import controlled_env

TESTS = Path(__file__).resolve().parent
PACKAGE_ROOT = str(Path(sly_nb_tls.__file__).resolve().parents[1])
TOKEN = "sly-test-token-" + uuid.uuid4().hex[:8]


@dataclass
class RunningServer:
    """A `jupyter server` started by a test; `stop()` ends it (and so its terminals and kernels)."""

    proc: subprocess.Popen[bytes]
    url: str
    pid: int
    runtime: Path
    log: Path
    env: dict[str, str] = field(repr=False, default_factory=dict)
    token: str = field(repr=False, default=TOKEN)

    def api(self, method: str, path: str, token: str | None = TOKEN, **kwargs: Any) -> requests.Response:
        headers = dict(kwargs.pop("headers", {}))
        if token:
            headers["Authorization"] = f"token {token}"
        with requests.Session() as session:
            session.trust_env = False  # the server is on 127.0.0.1: never through a test's proxy variables
            return session.request(method, self.url + path, headers=headers, timeout=60, **kwargs)

    def terminal(self, command: str, timeout: float = 60) -> tuple[int, str]:
        """Open a new terminal through the REST API, run `command` in it over its websocket: (exit code, output)."""
        name = self.api("POST", "api/terminals").json()["name"]
        try:
            return asyncio.run(_in_terminal(self.url, name, command, timeout))
        finally:
            self.api("DELETE", f"api/terminals/{name}")

    def kernel(self, code: str, kernel_name: str = "python3", timeout: float = 120) -> str:
        """Start a kernel through the REST API, run `code` in it, return its stdout (an error raises)."""
        from jupyter_client.blocking.client import BlockingKernelClient

        kernel_id = self.api("POST", "api/kernels", json={"name": kernel_name}).json()["id"]
        client = BlockingKernelClient(connection_file=str(self.runtime / f"kernel-{kernel_id}.json"))
        client.load_connection_file()
        client.start_channels()
        out: list[str] = []

        def collect(msg: dict[str, Any]) -> None:
            if msg["msg_type"] == "stream":
                out.append(msg["content"]["text"])
            elif msg["msg_type"] == "error":
                out.append("\n".join(msg["content"]["traceback"]))

        try:
            client.wait_for_ready(timeout=timeout)
            reply = client.execute_interactive(code, output_hook=collect, timeout=timeout)
        finally:
            client.stop_channels()
            self.api("DELETE", f"api/kernels/{kernel_id}")
        text = "".join(out)
        assert reply["content"]["status"] == "ok", text
        return text

    def stop(self) -> str:
        """Stop the server; its log."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.log.read_text(errors="replace")


async def _in_terminal(url: str, name: str, command: str, timeout: float) -> tuple[int, str]:
    from tornado.websocket import websocket_connect

    ws_url = url.replace("http://", "ws://") + f"terminals/websocket/{name}?token={TOKEN}"
    conn = await websocket_connect(ws_url)
    marker = f"__SLY_DONE_{uuid.uuid4().hex[:8]}__"
    # The marker's digits appear only once the command has run: the typed line has "$?" there.
    await conn.write_message(json.dumps(["stdin", f"{command}; echo {marker}$?\r"]))
    seen = ""
    deadline = time.monotonic() + timeout
    try:
        while True:
            message = await asyncio.wait_for(conn.read_message(), max(0.1, deadline - time.monotonic()))
            if message is None:
                raise AssertionError(f"the terminal closed before the command ended:\n{seen}")
            kind, *rest = json.loads(message)
            if kind == "stdout":
                seen += rest[0]
                done = re.search(re.escape(marker) + r"(\d+)", seen)
                if done:
                    return int(done.group(1)), seen[: done.start()]
    finally:
        conn.close()


def start_server(
    tmp: Path,
    env: dict[str, str] | None = None,
    extensions: dict[str, bool] | None = None,
    args: list[str] | None = None,
) -> RunningServer:
    """A real `jupyter server` on 127.0.0.1 with a fresh config dir, runtime dir, IPython dir and home."""
    for name in ("home", "config", "runtime", "ipython", "state", "userdir"):
        (tmp / name).mkdir(parents=True, exist_ok=True)
    server_env = controlled_env(False) | {
        "HOME": str(tmp / "home"),
        "JUPYTER_CONFIG_DIR": str(tmp / "config"),
        "JUPYTER_RUNTIME_DIR": str(tmp / "runtime"),
        "IPYTHONDIR": str(tmp / "ipython"),
        "XDG_STATE_HOME": str(tmp / "state"),
        "SLY_NB_TLS_DIR": str(tmp / "userdir"),
        "SHELL": "/bin/bash",
        # tests/ for the test-only extension that fetches a URL with the server's own clients; the
        # package under test first, as the tests import it (a worktree's, not the venv's editable one)
        "PYTHONPATH": os.pathsep.join([PACKAGE_ROOT, str(TESTS), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
    }
    server_env.pop("JPY_PARENT_PID", None)
    server_env.update(env or {})
    wanted = {"sly_nb_tls": True, "server_fetch": True} | (extensions or {})
    log = tmp / "server.log"
    command = [
        sys.executable, "-m", "jupyter_server", "--no-browser", "--ServerApp.ip=127.0.0.1", "--ServerApp.port=0",
        f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={tmp}",
        f"--ServerApp.jpserver_extensions={json.dumps(wanted).replace('true', 'True').replace('false', 'False')}",
        *(["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []), *(args or []),
    ]  # fmt: skip
    with open(log, "wb") as out:
        proc = subprocess.Popen(command, env=server_env, stdout=out, stderr=subprocess.STDOUT, cwd=tmp)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        info = tmp / "runtime" / f"jpserver-{proc.pid}.json"
        if info.exists():
            try:
                url = json.loads(info.read_text())["url"]
            except (ValueError, KeyError):
                url = None
            if url:
                server = RunningServer(proc, url, proc.pid, tmp / "runtime", log, server_env)
                try:
                    if server.api("GET", "api/status").ok:
                        return server
                except requests.ConnectionError:
                    pass  # the info file is written a moment before the server listens
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    proc.kill()
    raise AssertionError(f"jupyter server did not start:\n{log.read_text(errors='replace')[-3000:]}")
