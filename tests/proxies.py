"""Real proxies on 127.0.0.1: mitmproxy (inspecting, or a plain CONNECT tunnel) and a small CONNECT proxy.

mitmproxy pins older cryptography/h11/tornado than the suite uses, so it lives in a
venv of its own, made once per user in ~/.cache/sly-nb-tls-tests (a lock keeps the
xdist workers and nested runs from making it twice).  Its CA is one the test
generates; the key reaches mitmproxy through a FIFO, so no private key is written
to disk (as the demo server does with its own key).
"""

from __future__ import annotations

import fcntl
import os
import select
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sly_nb_tls.demo import IssuedCert

from .servers import stop_process

CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "sly-nb-tls-tests"


def mitmdump() -> str:
    """The mitmdump of the suite's mitmproxy venv, made on first use (any Python's will do)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / "mitmproxy.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another worker, or a nested run, may be making it right now
        for existing in sorted(CACHE.glob("mitmproxy-*/bin/mitmdump")):
            return str(existing)
        venv = CACHE / f"mitmproxy-py{sys.version_info.major}{sys.version_info.minor}"
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                        "mitmproxy"], check=True)  # fmt: skip
        return str(venv / "bin" / "mitmdump")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_listening(port: int, proc: subprocess.Popen[bytes], log: Path, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"mitmdump exited: {log.read_text(errors='replace')[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("mitmdump did not start listening in time")


@contextmanager
def mitmproxy(
    workdir: Path,
    *,
    ca: IssuedCert,
    upstream_root: str,
    inspect: bool = True,
    proxyauth: str | None = None,
) -> Iterator[str]:
    """mitmdump on 127.0.0.1; yields its URL (``http://127.0.0.1:PORT``).

    `inspect`: re-sign every server with `ca` (verifying the real server against
    `upstream_root`); otherwise a plain CONNECT tunnel.  `proxyauth`: "user:pass".
    """
    confdir = workdir / "mitm-conf"
    confdir.mkdir()
    fifo = confdir / "mitmproxy-ca.pem"
    os.mkfifo(fifo, 0o600)
    ca_pem = ca._key_pem() + ca.pem.encode()

    stop = threading.Event()

    def feed() -> None:
        # mitmproxy reads its CA file more than once: serve every read until it stops.  Between
        # two writers, wait: a reader that has not closed yet would read the next copy too, and
        # `read_bytes()` would never see its end.
        while not stop.is_set():
            try:
                with open(fifo, "wb") as fh:  # blocks until a reader opens it
                    if not stop.is_set():
                        fh.write(ca_pem)
            except BrokenPipeError:
                pass  # a reader that only looked
            stop.wait(0.5)

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    port = _free_port()
    args = [mitmdump(), "--listen-host", "127.0.0.1", "-p", str(port), "--set", f"confdir={confdir}", "-q",
            "--set", f"ssl_verify_upstream_trusted_ca={upstream_root}"]  # fmt: skip
    if os.environ.get("SLY_NB_TLS_DEBUG_MITM"):
        args.remove("-q")
    if not inspect:
        args += ["--ignore-hosts", ".*"]
    if proxyauth:
        args += ["--proxyauth", proxyauth]
    env = {k: v for k, v in os.environ.items() if "PROXY" not in k.upper()}
    out = None if os.environ.get("SLY_NB_TLS_DEBUG_MITM") else subprocess.DEVNULL
    log = open(workdir / "mitmdump.log", "wb")  # a file, not a pipe nobody drains: mitmdump must never block
    proc = subprocess.Popen(args, stdout=out, stderr=log, env=env)
    try:
        _wait_listening(port, proc, workdir / "mitmdump.log")
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_process(proc)
        log.close()
        stop.set()
        with open(os.open(fifo, os.O_RDONLY | os.O_NONBLOCK), "rb"):  # releases a feeder waiting for a reader
            pass
        feeder.join(5)


def _relay(a: socket.socket, b: socket.socket) -> None:
    try:
        while True:
            ready, _, _ = select.select([a, b], [], [], 5)
            if not ready:
                return
            for s in ready:
                data = s.recv(65536)
                if not data:
                    return
                (b if s is a else a).sendall(data)
    except OSError:
        pass
    finally:
        a.close()
        b.close()


@contextmanager
def connect_proxy(
    *, answer: bytes | None = None, tls: ssl.SSLContext | None = None, credentials: str | None = None
) -> Iterator[tuple[int, list[bytes]]]:
    """A small CONNECT proxy on 127.0.0.1; yields (port, the request heads it received).

    `answer`: send this instead of opening the tunnel (e.g. a 403).  `tls`: speak TLS
    to the client first (an https:// proxy).  `credentials`: "Basic …" it requires (407 otherwise).
    """
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.1)
    stop = threading.Event()
    heads: list[bytes] = []

    def serve(conn: socket.socket) -> None:
        try:
            if tls is not None:
                conn = tls.wrap_socket(conn, server_side=True)
            conn.settimeout(10)
            head = b""
            while b"\r\n\r\n" not in head and len(head) < 65536:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                head += chunk
            heads.append(head)
            if answer is not None:
                conn.sendall(answer)
                return
            if credentials is not None and f"Proxy-Authorization: {credentials}".encode() not in head:
                conn.sendall(b'HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="t"\r\n'
                             b"Content-Length: 0\r\n\r\n")  # fmt: skip
                return
            host, _, port = head.split(b" ", 2)[1].decode().rpartition(":")
            upstream = socket.create_connection((host.strip("[]"), int(port)), timeout=10)
            conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            _relay(conn, upstream)
        except (OSError, ValueError):
            pass
        finally:
            conn.close()

    def loop() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    t = threading.Thread(target=loop, daemon=True)
    t.start()
    try:
        yield listener.getsockname()[1], heads
    finally:
        stop.set()
        t.join(2)
        listener.close()
