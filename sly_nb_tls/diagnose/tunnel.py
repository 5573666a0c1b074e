"""The tunnel through a proxy: TLS to an https:// proxy, CONNECT to the origin, and TLS inside TLS.

What goes wrong is recorded on the `Probe` as facts, as the other network
steps do: proxy_unreachable, proxy_auth_required or proxy_rejected, with the
proxy's answer to CONNECT.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import time
from typing import TYPE_CHECKING, Any

from .deadline import Deadline, DeadlineSocket
from .proxy import Proxy, host_port

if TYPE_CHECKING:
    from .probe import Probe
    from .target import Target

__all__ = ["TunnelledTls", "ask_for_tunnel"]


def ask_for_tunnel(
    probe: Probe, raw: socket.socket, target: Target, proxy: Proxy, deadline: Deadline, ctx: ssl.SSLContext
) -> socket.socket | None:
    """Over the connection `raw` to the proxy (verified TLS first for https://), ask for a tunnel to the origin."""
    sock = _tls_to_proxy(probe, raw, proxy, deadline, ctx) if proxy.scheme == "https" else raw
    if sock is None:
        return None
    return _tunnel(probe, sock, target, proxy, deadline)


def _tls_to_proxy(
    probe: Probe, raw: socket.socket, proxy: Proxy, deadline: Deadline, ctx: ssl.SSLContext
) -> socket.socket | None:
    """Does the https:// proxy pass verification, as any server must?  If not, it is unreachable."""
    t0 = time.perf_counter()
    sock: socket.socket = raw
    try:
        sock = ctx.wrap_socket(raw, server_hostname=proxy.host, do_handshake_on_connect=False)
        sock.settimeout(deadline.left())
        sock.do_handshake()  # type: ignore[attr-defined]
    except (ssl.SSLError, OSError) as exc:
        sock.close()
        reason = getattr(exc, "verify_message", None) or getattr(exc, "reason", None) or str(exc) or "no answer"
        probe.step("TLS to proxy", t0, False, str(reason))
        probe.fail("proxy_unreachable", f"the TLS connection to the proxy {proxy.shown} failed: {reason}")
        return None
    probe.step("TLS to proxy", t0, True, str(sock.version()))  # type: ignore[attr-defined]
    return sock


def _tunnel(
    probe: Probe, sock: socket.socket, target: Target, proxy: Proxy, deadline: Deadline
) -> socket.socket | None:
    """Does the proxy open the tunnel?  A 2xx answer to CONNECT leaves `sock` the tunnel; else it is closed."""
    t0 = time.perf_counter()
    authority = host_port(target.host, target.port)
    response = _send_connect(probe, sock, authority, proxy, deadline, t0)
    if response is None:
        return None
    status, reason = response.status, response.reason or ""
    scheme = (response.getheader("Proxy-Authenticate", "") or "").split(" ", 1)[0]
    probe.connect_status = (status, reason, scheme)
    line = f"HTTP {status} {reason}".strip()
    if 200 <= status < 300:
        probe.step(f"CONNECT {authority}", t0, True, line)
        return sock
    sock.close()
    probe.step(f"CONNECT {authority}", t0, False, line)
    _why_refused(probe, proxy, authority, status, scheme, line)
    return None


def _send_connect(
    probe: Probe, sock: socket.socket, authority: str, proxy: Proxy, deadline: Deadline, t0: float
) -> http.client.HTTPResponse | None:
    """Send CONNECT and read the answer's head; no answer in time, or none at all, fails the probe."""
    request = f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n"
    if proxy.authorization:
        request += f"Proxy-Authorization: {proxy.authorization}\r\n"  # to the proxy only
    request += "\r\n"
    name = f"CONNECT {authority}"
    try:
        wrapped = DeadlineSocket(sock, deadline)
        wrapped.sendall(request.encode("ascii"))
        response = http.client.HTTPResponse(wrapped, method="CONNECT")  # type: ignore[arg-type]
        response.begin()
    except TimeoutError:
        sock.close()
        probe.step(name, t0, False, "timed out")
        probe.fail("proxy_unreachable", f"the proxy {proxy.shown} did not answer CONNECT in time")
        return None
    except (http.client.HTTPException, OSError) as exc:
        sock.close()
        detail = str(exc) or type(exc).__name__
        probe.step(name, t0, False, detail)
        probe.fail("proxy_rejected", f"the proxy {proxy.shown} closed the connection instead of answering CONNECT "
                                     f"({detail})")  # fmt: skip
        return None
    return response


def _why_refused(probe: Probe, proxy: Proxy, authority: str, status: int, scheme: str, line: str) -> None:
    """Why the proxy said no to CONNECT: it wants (other) credentials (407), or it will not tunnel there."""
    if status == 407:
        asks = f"; it asks for {scheme}" if scheme else ""
        with_credentials = "the credentials in the proxy URL were refused" if proxy.authorization else "no credentials"
        probe.fail("proxy_auth_required", f"the proxy {proxy.shown} answered 407 Proxy Authentication Required "
                                          f"({with_credentials}){asks}")  # fmt: skip
    else:
        probe.fail("proxy_rejected", f"the proxy {proxy.shown} refused the tunnel to {authority}: {line}")


class TunnelledTls:
    """TLS to the origin inside the TLS connection to an https:// proxy (what urllib3's SSLTransport does).

    An SSLSocket cannot wrap another SSLSocket, so the inner TLS runs on an
    `ssl.SSLObject` over memory BIOs, fed from the outer socket.  Every
    receive gets only what is left of the deadline.
    """

    def __init__(self, outer: ssl.SSLSocket, ctx: ssl.SSLContext, server_hostname: str, deadline: Deadline):
        self.outer = outer
        self.deadline = deadline
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.sslobj = ctx.wrap_bio(self.incoming, self.outgoing, server_hostname=server_hostname)

    def _io(self, operation: Any, *args: Any) -> Any:
        while True:
            try:
                result = operation(*args)
                wants_more = False
            except ssl.SSLWantReadError:
                wants_more = True
            pending = self.outgoing.read()
            if pending:
                self.outer.settimeout(self.deadline.left())
                self.outer.sendall(pending)
            if not wants_more:
                return result
            self.outer.settimeout(self.deadline.left())
            chunk = self.outer.recv(16384)
            if chunk:
                self.incoming.write(chunk)
            else:
                self.incoming.write_eof()

    def do_handshake(self) -> None:
        self._io(self.sslobj.do_handshake)

    def settimeout(self, seconds: float | None) -> None:
        self.outer.settimeout(seconds)

    def sendall(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = self._io(self.sslobj.write, view)
            view = view[written:]

    def recv_into(self, buffer: Any) -> int:
        try:
            count: int = self._io(self.sslobj.read, len(buffer), buffer)
            return count
        except ssl.SSLZeroReturnError:
            return 0

    def version(self) -> str | None:
        return self.sslobj.version()

    def close(self) -> None:
        self.outer.close()
