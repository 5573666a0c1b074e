"""Loopback servers that misbehave in one specific way each (127.0.0.1 only)."""

from __future__ import annotations

import http.server
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def closed_port() -> Iterator[int]:
    """A port on 127.0.0.1 that nothing listens on."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    yield port


@contextmanager
def tcp_server(handle: Callable[[socket.socket], None]) -> Iterator[int]:
    """A loopback TCP server that hands every accepted connection to `handle`; yields its port."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    stop = threading.Event()

    def loop() -> None:
        s.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = s.accept()
            except OSError:
                continue
            handle(conn)

    t = threading.Thread(target=loop, daemon=True)
    t.start()
    try:
        yield s.getsockname()[1]
    finally:
        stop.set()
        t.join(2)
        s.close()


@contextmanager
def silent_listener() -> Iterator[int]:
    """Accepts TCP connections and never sends a byte (a stalled handshake)."""
    held: list[socket.socket] = []
    try:
        with tcp_server(held.append) as port:
            yield port
    finally:
        for conn in held:
            conn.close()


def _reset(conn: socket.socket) -> None:
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close = RST
    conn.close()


def _garbage(conn: socket.socket) -> None:
    conn.settimeout(2)
    try:
        conn.recv(4096)
        conn.sendall(b"SSH-2.0-OpenSSH_9.2\r\n" + b"\x00garbage" * 64)
    except OSError:
        pass
    conn.close()


@contextmanager
def raw_server(behaviour: str) -> Iterator[int]:
    """'reset': RST on connect; 'garbage': sends junk instead of a ServerHello."""
    with tcp_server({"reset": _reset, "garbage": _garbage}[behaviour]) as port:
        yield port


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        body = b"<h1>plain http</h1>"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@contextmanager
def plain_http_server() -> Iterator[int]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Quiet)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    try:
        yield httpd.server_address[1]
    finally:
        httpd.shutdown()
        httpd.server_close()


@contextmanager
def http_files(
    files: dict[str, bytes], delay: float = 0.0, drip: float = 0.0, hung_up: threading.Event | None = None
) -> Iterator[str]:
    """Plain HTTP on 127.0.0.1 serving `files` by path (404 otherwise); yields its base URL.

    `delay`: wait before answering; `drip`: send the body one byte at a time, this far apart;
    `hung_up`: set when a client closes its connection before the whole body was sent.
    """

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            time.sleep(delay)
            body = files.get(self.path)
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Length", str(len(body or b"")))
            self.end_headers()
            try:
                if not drip:
                    self.wfile.write(body or b"")
                for i in range(len(body or b"") if drip else 0):
                    self.wfile.write((body or b"")[i : i + 1])
                    self.wfile.flush()
                    time.sleep(drip)
            except OSError:
                if hung_up is not None:
                    hung_up.set()

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def stop_process(proc: subprocess.Popen[bytes], seconds: float = 10) -> None:
    """Terminate, wait, and kill what does not go."""
    proc.terminate()
    try:
        proc.wait(seconds)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
