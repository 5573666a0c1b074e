"""The network steps of a connection test: resolve, connect, TLS handshake, HTTP — under one deadline.

Verification is never turned off: the handshake verifies with the trust
requests would use right now, and the presented chain is read from the same
handshake even when verification fails.  What went wrong is recorded here as
facts (`Probe`, `HttpAnswer`); naming the problem is `classify`'s job.  The
tunnel through a proxy is `tunnel`'s; the one time bound, `deadline`'s.
"""

from __future__ import annotations

import errno
import http.client
import os
import socket
import ssl
import time
from dataclasses import dataclass, field
from typing import Any

from .._bounded import MAX_BODY, wait_for
from .._certs import Certificate
from .._tls import unhooked_create_default_context
from ..clients.requests import ca_file_now
from .deadline import Deadline, DeadlineSocket
from .proxy import Proxy, Route
from .results import Step
from .target import Target
from .tunnel import TunnelledTls, ask_for_tunnel

__all__ = ["USERS_ME", "HttpAnswer", "Probe", "connect_tls", "http_exchange", "resolve", "strict_retry_ok"]

USERS_ME = "/public/api/v3/users.me"


def verifying_context() -> ssl.SSLContext:
    """A context that trusts what requests trusts right now, and nothing more."""
    bundle = ca_file_now()
    create = unhooked_create_default_context()
    if os.path.isdir(bundle):
        return create(capath=bundle)
    return create(cafile=bundle)


def _chain_of(sock: Any, verified: bool = False) -> list[bytes]:
    """The chain of an SSLSocket or a TunnelledTls, verified or as presented."""
    name = "get_verified_chain" if verified else "get_unverified_chain"
    sock = getattr(sock, "sslobj", sock)  # a TunnelledTls: its SSLObject
    getter = getattr(sock, name, None)  # public from Python 3.13
    if getter is None:
        sslobj = getattr(sock, "_sslobj", None)
        getter = getattr(sslobj, name, None)
    if getter is None:
        return []
    try:
        items = getter() or []
    except (ValueError, ssl.SSLError):
        return []
    # 3.13's Certificate objects give PEM by default; the public converter makes it DER.
    return [c if isinstance(c, bytes) else ssl.PEM_cert_to_DER_cert(c.public_bytes()) for c in items]


def _certs(ders: list[bytes]) -> list[Certificate]:
    from cryptography import x509

    out = []
    for der in ders:
        try:
            out.append(Certificate.from_x509(x509.load_der_x509_certificate(der), "presented"))
        except ValueError:
            continue
    return out


def resolve(host: str, port: int, deadline: Deadline) -> list[Any]:
    """getaddrinfo has no timeout of its own: run it in a daemon thread and wait."""

    def work() -> list[Any]:
        try:
            return list(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
        except UnicodeError as exc:  # a name IDNA cannot encode ("ä..com"): it cannot resolve
            raise socket.gaierror(socket.EAI_NONAME, f"not a valid host name ({exc})") from None

    return wait_for(work, deadline.left(), "name resolution")


@dataclass
class Probe:
    """What one TLS connection told us: steps, the chain, and how it failed (if it did).

    `failure` is set for failures before verification (dns_failure,
    connection_refused, timeout, not_tls, and the proxy_* codes) with its
    `cause`; a verification failure leaves `verify_code`/`verify_message`
    for `classify`.
    """

    route: Route
    steps: list[Step] = field(default_factory=list)
    chain: list[Certificate] = field(default_factory=list)
    verified_chain: list[Certificate] = field(default_factory=list)
    sock: ssl.SSLSocket | TunnelledTls | None = None
    tls_version: str | None = None
    failure: str | None = None
    cause: str = ""
    verify_code: int | None = None
    verify_message: str = ""
    address: str = ""
    #: what the proxy answered to CONNECT: (status, reason, Proxy-Authenticate scheme)
    connect_status: tuple[int, str, str] | None = None

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def step(self, name: str, t0: float, ok: bool, detail: str = "") -> None:
        self.steps.append(Step(name, ok, time.perf_counter() - t0, detail))

    def fail(self, failure: str, cause: str) -> None:
        self.failure, self.cause = failure, cause


def _open_tcp(probe: Probe, host: str, port: int, deadline: Deadline, proxied: bool) -> socket.socket | None:
    """Resolve and connect; on failure record it (as proxy_unreachable for a proxy) and return None."""
    what = "proxy " if proxied else ""
    t0 = time.perf_counter()
    try:
        infos = resolve(host, port, deadline)
    except socket.gaierror as exc:
        probe.step(f"resolve {what}".strip(), t0, False, str(exc))
        if proxied:
            probe.fail("proxy_unreachable", f'the proxy host "{host}" does not resolve ({exc.strerror or exc})')
        else:
            probe.fail("dns_failure", f'"{host}" does not resolve ({exc.strerror or exc})')
        return None
    except TimeoutError:
        probe.step(f"resolve {what}".strip(), t0, False, "timed out")
        probe.fail("proxy_unreachable" if proxied else "timeout", f'resolving "{host}" took longer than the time limit')
        return None
    family, socktype, proto, _canon, sockaddr = infos[0]
    address = str(sockaddr[0])
    probe.step(f"resolve {what}".strip(), t0, True, address)
    if not proxied:
        probe.address = address

    t0 = time.perf_counter()
    name = "connect to proxy" if proxied else "connect"
    raw = socket.socket(family, socktype, proto)
    try:
        raw.settimeout(deadline.left())
        raw.connect(sockaddr)
    except TimeoutError:
        raw.close()
        probe.step(name, t0, False, "timed out")
        if proxied:
            probe.fail("proxy_unreachable", f"the proxy {address} port {port} did not answer in time")
        else:
            probe.fail("timeout", f"connecting to {address} port {port} timed out")
        return None
    except OSError as exc:
        raw.close()
        probe.step(name, t0, False, exc.strerror or str(exc))
        if proxied:
            probe.fail("proxy_unreachable", f"nothing accepts connections on the proxy {address} port {port} "
                                            f"({exc.strerror or exc})")  # fmt: skip
        elif exc.errno == errno.ECONNRESET:
            # Accepted, then reset before connect() returned: something listens
            # there, but it hangs up instead of speaking TLS.
            probe.fail("not_tls", f"port {port} accepted the connection and reset it at once; it does not speak TLS")
        else:
            probe.fail("connection_refused", f"nothing accepts connections on {address} port {port} "
                                             f"({exc.strerror or exc})")  # fmt: skip
        return None
    probe.step(name, t0, True, f"{address}:{port}")
    # As urllib3 does: http.client sends headers and body in two writes, and with
    # Nagle on the body waits for a delayed ACK (~40 ms).
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return raw


def _open_tunnel(
    probe: Probe, target: Target, proxy: Proxy, deadline: Deadline, ctx: ssl.SSLContext
) -> socket.socket | None:
    """Connect to the proxy (over verified TLS for https://) and ask it for a tunnel to the origin."""
    raw = _open_tcp(probe, proxy.host, proxy.port, deadline, proxied=True)
    if raw is None:
        return None
    return ask_for_tunnel(probe, raw, target, proxy, deadline, ctx)


def connect_tls(
    target: Target, deadline: Deadline, route: Route | None = None, ctx: ssl.SSLContext | None = None
) -> Probe:
    """Reach the origin (directly or through the route's proxy) and handshake, verifying.

    `ctx` is the verifying context to use (one per test: building one costs ~25 ms);
    by default the trust requests would use now.  The connection stays open in
    `probe.sock` on success.
    """
    route = route or Route(None, "direct")
    ctx = ctx or verifying_context()
    probe = Probe(route)
    if route.proxy is not None:
        raw = _open_tunnel(probe, target, route.proxy, deadline, ctx)
    else:
        raw = _open_tcp(probe, target.host, target.port, deadline, proxied=False)
    if raw is None:
        return probe

    t0 = time.perf_counter()
    sock: ssl.SSLSocket | TunnelledTls | socket.socket = raw
    try:
        if isinstance(raw, ssl.SSLSocket):  # an https:// proxy: TLS inside TLS
            sock = TunnelledTls(raw, ctx, target.host, deadline)
            sock.do_handshake()
        else:
            # wrap_socket itself reads (3.11+ checks for early data), so it is inside the try.
            # Its handshake timeout is a deadline for the whole handshake (CPython's ssl
            # recomputes what is left on every wait), so no drip can stretch it.
            sock = ctx.wrap_socket(raw, server_hostname=target.host, do_handshake_on_connect=False)
            sock.settimeout(deadline.left())
            sock.do_handshake()
    except ssl.SSLCertVerificationError as exc:
        probe.chain = _certs(_chain_of(sock))
        probe.verify_code = exc.verify_code
        probe.verify_message = exc.verify_message or str(exc)
        probe.step("TLS handshake", t0, False,
                   f"certificate verify failed: {probe.verify_message} (code {exc.verify_code})")  # fmt: skip
        sock.close()
        return probe
    except TimeoutError:
        sock.close()
        probe.step("TLS handshake", t0, False, "timed out")
        probe.fail("timeout", "the TLS handshake did not finish in time (the server accepted but never answered)")
        return probe
    except (ssl.SSLError, OSError) as exc:
        sock.close()
        reason = getattr(exc, "reason", None) or exc.strerror or str(exc) or type(exc).__name__
        probe.step("TLS handshake", t0, False, str(reason))
        probe.fail("not_tls", f"port {target.port} did not complete a TLS handshake ({reason}); "
                              "it may speak plain HTTP, or a firewall cut it")  # fmt: skip
        return probe
    assert not isinstance(sock, socket.socket) or isinstance(sock, ssl.SSLSocket)
    probe.chain = _certs(_chain_of(sock))
    probe.verified_chain = _certs(_chain_of(sock, verified=True))
    probe.tls_version = sock.version()
    anchor = probe.verified_chain[-1].common_name if probe.verified_chain else "a trusted CA"
    probe.step("TLS handshake", t0, True, f"{probe.tls_version}, verified by {anchor}")
    probe.sock = sock
    return probe


def strict_retry_ok(target: Target, deadline: Deadline, route: Route) -> bool:
    """On 3.13+, does the chain verify once the strict flag is off?  (The same route: behind a proxy, too.)"""
    strict = getattr(ssl, "VERIFY_X509_STRICT", 0)
    ctx = verifying_context()
    if not strict or not ctx.verify_flags & strict:
        return False
    ctx.verify_flags &= ~strict
    retry = connect_tls(target, deadline, route, ctx)
    retry.close()
    return retry.failure is None and retry.verify_code is None


@dataclass
class HttpAnswer:
    """What one HTTP request over the verified connection got back."""

    name: str
    elapsed: float = 0.0
    status: int | None = None
    reason: str = ""
    content_type: str = ""
    location: str = ""
    body: bytes = b""
    timed_out: bool = False
    error: str = ""


def http_exchange(probe: Probe, target: Target, token: str | None, deadline: Deadline) -> HttpAnswer:
    """One request over the probe's verified socket: ``POST users.me`` with a token, else ``GET /``."""
    assert probe.sock is not None
    answer = HttpAnswer("users.me" if token else "HTTP GET /")
    conn = http.client.HTTPConnection(target.host, target.port)
    conn.sock = DeadlineSocket(probe.sock, deadline)  # type: ignore[assignment]  # no second handshake
    host_header = target.host if target.port == 443 else f"{target.host}:{target.port}"
    t0 = time.perf_counter()
    try:
        if token:
            headers = {"Host": host_header, "x-api-key": token, "Content-Type": "application/json"}
            conn.request("POST", target.base_path + USERS_ME, body=b"{}", headers=headers | {"Connection": "close"})
        else:
            conn.request("GET", target.base_path + "/", headers={"Host": host_header, "Connection": "close"})
        response = conn.getresponse()
        answer.status, answer.reason = response.status, response.reason
        answer.content_type = response.getheader("Content-Type", "") or ""
        answer.location = response.getheader("Location", "") or ""
        answer.body = response.read(MAX_BODY)
    except TimeoutError:
        answer.name, answer.timed_out = "HTTP", True
    except (http.client.HTTPException, OSError) as exc:
        answer.name, answer.error = "HTTP", str(exc) or type(exc).__name__
    finally:
        answer.elapsed = time.perf_counter() - t0
        conn.close()
    return answer
