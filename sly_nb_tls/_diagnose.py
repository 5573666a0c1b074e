"""Test a connection step by step, classify what is wrong, and say how to fix it.

In [1]: r = sly_nb_tls.test_connection("https://sly.corp")
In [2]: r.ok, r.problem
Out[2]: (False, 'untrusted_root')
In [3]: print(r)
✗ untrusted_root — https://sly.corp
  The server's chain ends at "Corp Root CA" (SHA-256 3F:9A:…), which this kernel does not trust.
  Fix: %sly_tls fetch https://sly.corp --save corp-chain.crt, check the fingerprint with your admin,
       then %sly_tls add corp-chain.crt
In [4]: sly_nb_tls.fetch_chain("https://sly.corp").chain     # what the server presents

Steps: resolve → TCP connect → TLS handshake (verifying with the trust
requests would use now; the presented chain is captured even when
verification fails, so one connection gives verdict and chain) → HTTP over
that same verified connection.  Never retries, never follows redirects, and
the whole test is bounded by `timeout`.  Verification is never turned off.

`.problem` is one code from `PROBLEMS` — what a verifying client hits first
(chain trust, then validity, then the name, as OpenSSL checks); any other
defect visible in the presented chain goes to `.warnings`.
"""

from __future__ import annotations

import datetime as dt
import errno
import http.client
import ipaddress
import json
import os
import socket
import ssl
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ._certs import Certificate
from ._envfile import redact, secret_values
from ._errors import FetchError, UrlError
from ._render import Table, esc, html_block, html_table, visible

__all__ = [
    "PROBLEMS",
    "ChainReport",
    "ConnectionReport",
    "Step",
    "fetch_chain",
    "parse_server_url",
    "test_connection",
]

#: The public contract: every `.problem` is one of these.
PROBLEMS = {
    "dns_failure": "the host name does not resolve",
    "connection_refused": "nothing accepts connections on that host and port",
    "timeout": "no answer within the time limit",
    "not_tls": "the port does not speak TLS",
    "untrusted_root": "the chain leads to a CA this kernel does not trust",
    "missing_intermediate": "the server sent only its leaf, and the leaf's issuer is not trusted",
    "self_signed_leaf": "the server's certificate is self-signed",
    "expired": "the server's certificate has expired",
    "not_yet_valid": "the server's certificate is not valid yet",
    "hostname_mismatch": "the certificate is for other names",
    "strict_rejected": "Python 3.13+'s strict X.509 checks reject the chain",
    "unauthorized": "users.me answered 401/403: the API token is wrong or missing",
    "http_error": "the server answered with an HTTP error",
    "not_supervisely": "the answer is not Supervisely's API (proxy, SSO page, redirect or wrong URL)",
}
USERS_ME = "/public/api/v3/users.me"
_MAX_BODY = 1024 * 1024  # never read more than this from a server
_STRICT_MARKERS = (
    "not marked critical",
    "key usage",
    "Key Identifier",
    "strict",
    "RFC 5280",
)


@dataclass
class Step:
    name: str
    ok: bool
    elapsed: float
    detail: str = ""


@dataclass
class _Url:
    text: str
    host: str
    port: int
    base_path: str

    @property
    def display(self) -> str:
        return self.text


def parse_server_url(url: str | None) -> _Url:
    """`url`, or SERVER_ADDRESS; no scheme means https.  Raises `UrlError`."""
    if url is None or not str(url).strip():
        url = os.environ.get("SERVER_ADDRESS", "")
        if not url.strip():
            raise UrlError(
                "no URL given and SERVER_ADDRESS is not set: pass one (%sly_tls test https://host) "
                "or load your env file first (%sly_tls env)"
            )
    text = str(url).strip()
    if any(c.isspace() for c in text):
        raise UrlError(f"{visible(text)!r}: a URL cannot contain spaces")
    if "://" not in text:
        text = "https://" + text
    parts = urlsplit(text)
    if parts.scheme.lower() != "https":
        raise UrlError(
            f"{visible(text)}: unsupported scheme {parts.scheme!r}; only https:// URLs use TLS"
            + (" (plain http needs no certificates)" if parts.scheme.lower() == "http" else "")
        )
    try:
        port = parts.port if parts.port is not None else 443  # not `or`: port 0 must be rejected
    except ValueError:
        raise UrlError(f"{visible(text)}: the port must be a number from 1 to 65535") from None
    if not 1 <= port <= 65535:
        raise UrlError(f"{visible(text)}: the port must be a number from 1 to 65535")
    host = parts.hostname or ""
    if not host:
        raise UrlError(f"{visible(text)}: no host name in the URL")
    if parts.username or parts.password:
        raise UrlError("put credentials in API_TOKEN, not in the URL; the URL was not used")
    base = parts.path.rstrip("/")
    clean = f"https://{parts.netloc}{base}"
    return _Url(clean, host, port, base)


def _requests_ca_bundle() -> str:
    """The CA file requests would use right now (REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE, certifi)."""
    for var in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        value = os.environ.get(var)
        if value:
            return value
    import certifi

    return certifi.where()


def _verifying_context() -> ssl.SSLContext:
    bundle = _requests_ca_bundle()
    if os.path.isdir(bundle):
        return ssl.create_default_context(capath=bundle)
    return ssl.create_default_context(cafile=bundle)


def _chain_of(sock: ssl.SSLSocket, verified: bool = False) -> list[bytes]:
    name = "get_verified_chain" if verified else "get_unverified_chain"
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
    return [c if isinstance(c, bytes) else c.public_bytes(ssl._ssl.ENCODING_DER) for c in items]  # type: ignore[attr-defined]


def _certs(ders: list[bytes]) -> list[Certificate]:
    from cryptography import x509

    out = []
    for der in ders:
        try:
            out.append(Certificate.from_x509(x509.load_der_x509_certificate(der), "presented by the server"))
        except ValueError:
            continue
    return out


def _names_match(host: str, names: tuple[str, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    for name in names:
        if ip is not None:
            try:
                if ipaddress.ip_address(name) == ip:
                    return True
            except ValueError:
                continue
            continue
        n, h = name.lower().rstrip("."), host.lower().rstrip(".")
        if n == h:
            return True
        if n.startswith("*.") and "." in h and h.split(".", 1)[1] == n[2:]:
            return True
    return False


class _Deadline:
    """The one time bound of a test or fetch; rejects a bound that is not a positive number."""

    def __init__(self, seconds: float):
        if not seconds or seconds <= 0:
            raise UrlError(f"timeout must be a positive number of seconds, not {seconds!r}")
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        remaining = self.end - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("time limit reached")
        return remaining


def _resolve(host: str, port: int, deadline: _Deadline) -> list[Any]:
    """getaddrinfo has no timeout of its own: run it in a daemon thread and wait."""
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            box["result"] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            box["error"] = exc

    worker = threading.Thread(target=work, name="sly-nb-tls-resolve", daemon=True)
    worker.start()
    worker.join(deadline.left())
    if worker.is_alive():
        raise TimeoutError("name resolution did not finish in time")
    if "error" in box:
        raise box["error"]
    return list(box["result"])


@dataclass
class _Probe:
    """What one TLS connection told us."""

    steps: list[Step] = field(default_factory=list)
    chain: list[Certificate] = field(default_factory=list)
    verified_chain: list[Certificate] = field(default_factory=list)
    sock: ssl.SSLSocket | None = None
    tls_version: str | None = None
    problem: str | None = None
    cause: str = ""
    verify_code: int | None = None
    verify_message: str = ""
    address: str = ""


def _probe(url: _Url, deadline: _Deadline) -> _Probe:
    probe = _Probe()

    def step(name: str, t0: float, ok: bool, detail: str = "") -> None:
        probe.steps.append(Step(name, ok, time.perf_counter() - t0, detail))

    t0 = time.perf_counter()
    try:
        infos = _resolve(url.host, url.port, deadline)
    except socket.gaierror as exc:
        step("resolve", t0, False, str(exc))
        probe.problem, probe.cause = "dns_failure", f'"{url.host}" does not resolve ({exc.strerror or exc})'
        return probe
    except TimeoutError:
        step("resolve", t0, False, "timed out")
        probe.problem, probe.cause = "timeout", f'resolving "{url.host}" took longer than the time limit'
        return probe
    family, socktype, proto, _canon, sockaddr = infos[0]
    probe.address = str(sockaddr[0])
    step("resolve", t0, True, probe.address)

    t0 = time.perf_counter()
    raw = socket.socket(family, socktype, proto)
    try:
        raw.settimeout(deadline.left())
        raw.connect(sockaddr)
    except TimeoutError:
        raw.close()
        step("connect", t0, False, "timed out")
        probe.problem, probe.cause = "timeout", f"connecting to {probe.address} port {url.port} timed out"
        return probe
    except OSError as exc:
        raw.close()
        step("connect", t0, False, exc.strerror or str(exc))
        if exc.errno == errno.ECONNRESET:
            # Accepted, then reset before connect() returned: something listens
            # there, but it hangs up instead of speaking TLS.
            probe.problem = "not_tls"
            probe.cause = f"port {url.port} accepted the connection and reset it at once; it does not speak TLS"
            return probe
        probe.problem = "connection_refused"
        probe.cause = f"nothing accepts connections on {probe.address} port {url.port} ({exc.strerror or exc})"
        return probe
    step("connect", t0, True, f"{probe.address}:{url.port}")
    # As urllib3 does: http.client sends headers and body in two writes, and with
    # Nagle on the body waits for a delayed ACK (~40 ms).
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    t0 = time.perf_counter()
    ctx = _verifying_context()
    sock: ssl.SSLSocket | socket.socket = raw
    try:
        # wrap_socket itself reads (3.11+ checks for early data), so it is inside the try.
        sock = ctx.wrap_socket(raw, server_hostname=url.host, do_handshake_on_connect=False)
        sock.settimeout(deadline.left())
        sock.do_handshake()
    except ssl.SSLCertVerificationError as exc:
        assert isinstance(sock, ssl.SSLSocket)
        probe.chain = _certs(_chain_of(sock))
        probe.verify_code = exc.verify_code
        probe.verify_message = exc.verify_message or str(exc)
        step("TLS handshake", t0, False, f"certificate verify failed: {probe.verify_message} (code {exc.verify_code})")
        sock.close()
        return probe
    except TimeoutError:
        sock.close()
        step("TLS handshake", t0, False, "timed out")
        probe.problem, probe.cause = (
            "timeout",
            "the TLS handshake did not finish in time (the server accepted but never answered)",
        )
        return probe
    except (ssl.SSLError, OSError) as exc:
        sock.close()
        reason = getattr(exc, "reason", None) or exc.strerror or str(exc) or type(exc).__name__
        step("TLS handshake", t0, False, str(reason))
        probe.problem = "not_tls"
        probe.cause = (
            f"port {url.port} did not complete a TLS handshake ({reason}); "
            "it may speak plain HTTP, or a firewall cut it"
        )
        return probe
    assert isinstance(sock, ssl.SSLSocket)
    probe.chain = _certs(_chain_of(sock))
    probe.verified_chain = _certs(_chain_of(sock, verified=True))
    probe.tls_version = sock.version()
    anchor = probe.verified_chain[-1].common_name if probe.verified_chain else "a trusted CA"
    step("TLS handshake", t0, True, f"{probe.tls_version}, verified by {anchor}")
    probe.sock = sock
    return probe


def _strict_retry_ok(url: _Url, address: str, deadline: _Deadline) -> bool:
    """On 3.13+, does the chain verify once the strict flag is off?"""
    strict = getattr(ssl, "VERIFY_X509_STRICT", 0)
    ctx = _verifying_context()
    if not strict or not ctx.verify_flags & strict:
        return False
    ctx.verify_flags &= ~strict
    try:
        with socket.create_connection((address, url.port), timeout=deadline.left()) as raw:
            with ctx.wrap_socket(raw, server_hostname=url.host):
                return True
    except (OSError, ssl.SSLError):
        return False


@dataclass
class ConnectionReport:
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
        }

    def __str__(self) -> str:
        lines = [visible(self.headline())]
        if not self.ok:
            lines.append(f"  {visible(self.cause)}")
            lines.append(f"  Fix: {visible(self.fix)}")
        lines.append("  steps:")
        t = Table(["", "step", "time", "detail"])
        for s in self.steps:
            t.add(["✓" if s.ok else "✗", s.name, f"{s.elapsed * 1000:.1f} ms", s.detail])
        lines.append(t.render("    "))
        if self.chain:
            lines.append("  chain presented by the server:")
            t = Table(["#", "certificate", "issuer", "kind", "expires", "SHA-256"])
            for i, c in enumerate(self.chain):
                t.add([i, c.common_name, c.issuer_common_name, c.kind, f"{c.not_after:%Y-%m-%d}", c.short_fingerprint])
            lines.append(t.render("    "))
        lines += [f"  ! {visible(w)}" for w in self.warnings]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        cls = "ok" if self.ok else "bad"
        parts = [f'<div class="{cls}">{esc(self.headline())}</div>']
        if not self.ok:
            parts.append(f"<div>{esc(self.cause)}</div>")
            parts.append(f"<div><b>Fix:</b> <code>{esc(self.fix)}</code></div>")
        html = html_block("".join(parts))
        html += html_table(
            ["", "step", "time", "detail"],
            [["✓" if s.ok else "✗", s.name, f"{s.elapsed * 1000:.1f} ms", s.detail] for s in self.steps],
            warnings=self.warnings,
        )
        if self.chain:
            # Folded: the verdict and the fix matter first; the chain is the evidence.
            table = html_table(
                ["#", "certificate", "issuer", "kind", "expires", "SHA-256"],
                [
                    [i, c.common_name, c.issuer_common_name, c.kind, f"{c.not_after:%Y-%m-%d}", c.short_fingerprint]
                    for i, c in enumerate(self.chain)
                ],
            )
            html += html_block(
                f"<details><summary>chain presented by the server ({len(self.chain)} certificates)</summary>"
                f"{table}</details>"
            )
        return html

    def _repr_pretty_(self, p: object, cycle: bool) -> None:
        p.text(str(self))  # type: ignore[attr-defined]


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
    }


def _chain_warnings(url: _Url, chain: list[Certificate], problem: str | None) -> list[str]:
    """Every defect visible in the presented chain that is not already `.problem`."""
    out: list[str] = []
    if not chain:
        return out
    now = dt.datetime.now(dt.timezone.utc)
    leaf = chain[0]
    if problem != "expired" and leaf.not_after < now:
        out.append(f'the server\'s certificate "{leaf.common_name}" expired on {leaf.not_after:%Y-%m-%d}')
    elif problem != "not_yet_valid" and leaf.not_before > now:
        out.append(f'the server\'s certificate "{leaf.common_name}" is not valid until {leaf.not_before:%Y-%m-%d}')
    elif leaf.not_after - now < dt.timedelta(days=30) and leaf.not_after >= now:
        out.append(f'the server\'s certificate "{leaf.common_name}" expires soon, on {leaf.not_after:%Y-%m-%d}')
    if problem != "hostname_mismatch" and not _names_match(url.host, leaf.names):
        out.append(
            f'the server\'s certificate is not valid for "{url.host}"; it names: {", ".join(leaf.names) or "no names"}'
        )
    for cert in chain[1:]:
        if cert.not_after < now:
            out.append(f'CA certificate "{cert.common_name}" in the chain expired on {cert.not_after:%Y-%m-%d}')
    return out


def _fix_for(problem: str, url: _Url, chain: list[Certificate]) -> str:
    fetch = f"%sly_tls fetch {url.text} --save corp-chain.crt"
    if problem == "untrusted_root":
        return f"{fetch}, check the fingerprint with your admin, then %sly_tls add corp-chain.crt"
    if problem == "missing_intermediate":
        issuer = chain[0].issuer_common_name if chain else "the issuing CA"
        return (
            f'ask the server\'s admin to install the full chain (leaf + "{issuer}"); meanwhile get '
            f'"{issuer}" and its root from your admin and %sly_tls add them'
        )
    if problem == "self_signed_leaf":
        return (
            f"{fetch.replace('corp-chain.crt', 'server.crt')}, check the fingerprint with your admin, then "
            "%sly_tls add server.crt (trusts only this certificate; ask for a CA-issued one)"
        )
    if problem == "expired":
        return "the server's admin must renew its certificate; do not work around an expired certificate"
    if problem == "not_yet_valid":
        now = dt.datetime.now(dt.timezone.utc)
        return f"check this machine's clock (it says {now:%Y-%m-%d %H:%M} UTC) or ask the admin about the certificate"
    if problem == "hostname_mismatch":
        names = chain[0].names if chain else ()
        good = next((n for n in names if not n.startswith("*")), None)
        if good:
            port = "" if url.port == 443 else f":{url.port}"
            return f"use a name the certificate covers, e.g. %sly_tls test https://{good}{port}{url.base_path}"
        return "ask the server's admin for a certificate that names this host"
    if problem == "strict_rejected":
        return (
            "ask your admin to re-issue the CA with RFC 5280 extensions (critical basicConstraints, "
            "keyUsage, Subject/Authority Key Identifiers); Python 3.12 and older still accept it"
        )
    if problem == "dns_failure":
        return f'check the host name "{url.host}" (typo? VPN needed?) and SERVER_ADDRESS'
    if problem == "connection_refused":
        return "check the port and that the server is running; behind a proxy, set HTTPS_PROXY"
    if problem == "timeout":
        return "check VPN/firewall, or retry with a longer limit: %sly_tls test URL --timeout 30"
    if problem == "not_tls":
        return "check the URL: this port may be plain http:// or belong to another service"
    if problem == "unauthorized":
        return "check API_TOKEN (%sly_tls env loads it from your env file; the token is in your Supervisely profile)"
    if problem == "http_error":
        return "the server or a proxy is failing; retry later or ask its admin (details above)"
    if problem == "not_supervisely":
        return "check SERVER_ADDRESS: it must be the Supervisely server itself, not a login page or proxy"
    return ""


def _classify_verify(probe: _Probe, url: _Url, deadline: _Deadline) -> tuple[str, str]:
    code, message, chain = probe.verify_code, probe.verify_message, probe.chain
    top = chain[-1] if chain else None
    leaf = chain[0] if chain else None
    lower = message.lower()

    def name(c: Certificate | None) -> str:
        return f'"{c.common_name}" (SHA-256 {c.short_fingerprint}…)' if c else "an unknown CA"

    if (
        code == 18
        or "self-signed certificate" == lower.strip()
        or (code is None and "self signed certificate" == lower)
    ):
        return "self_signed_leaf", f"the server presents a self-signed certificate {name(leaf)}; no CA vouches for it"
    if code == 19 or "self-signed certificate in certificate chain" in lower or "self signed certificate in" in lower:
        return "untrusted_root", f"the server's chain ends at {name(top)}, which this kernel does not trust"
    if code in (20, 2) or "unable to get" in lower:
        if len(chain) == 1 and leaf is not None and not leaf.is_ca:
            return (
                "missing_intermediate",
                f"the server sent only its own certificate {name(leaf)}, not the intermediate "
                f'"{leaf.issuer_common_name}" that issued it, and this kernel does not trust that issuer',
            )
        if code == 2:
            return (
                "untrusted_root",
                f"this kernel trusts the intermediate {name(top)} but not its root "
                f'"{top.issuer_common_name if top else "?"}"; Python 3.12 and older need the root certificate too',
            )
        sent_root = top is not None and top.self_signed
        if sent_root:
            return "untrusted_root", f"the server's chain ends at {name(top)}, which this kernel does not trust"
        return (
            "untrusted_root",
            f'the server\'s chain ends at {name(top)}, issued by "{top.issuer_common_name if top else "?"}", '
            "a root the server does not send and this kernel does not trust; get that root CA certificate "
            "from your admin (fetch shows the fingerprints of what the server sends)",
        )
    if code == 10 or "expired" in lower:
        return (
            "expired",
            f"the server's certificate {name(leaf)} expired on {leaf.not_after:%Y-%m-%d}"
            if leaf
            else "a certificate expired",
        )
    if code == 9 or "not yet valid" in lower:
        return (
            "not_yet_valid",
            f"the server's certificate {name(leaf)} is valid only from {leaf.not_before:%Y-%m-%d %H:%M} UTC"
            if leaf
            else "a certificate is not valid yet",
        )
    if code in (62, 64) or "mismatch" in lower:
        names = ", ".join(leaf.names) if leaf and leaf.names else "no names"
        return "hostname_mismatch", f'the certificate is not valid for "{url.host}"; it is valid for: {names}'
    if sys.version_info >= (3, 13) and (
        any(m.lower() in lower for m in _STRICT_MARKERS) or _strict_retry_ok(url, probe.address, deadline)
    ):
        return (
            "strict_rejected",
            f"Python {sys.version_info.major}.{sys.version_info.minor}'s strict X.509 checks reject the chain: "
            f"{message} (older Pythons accept it)",
        )
    return "untrusted_root", f"certificate verification failed: {message} (code {code})"


def _http_check(
    probe: _Probe, url: _Url, token: str | None, deadline: _Deadline, secrets: list[str]
) -> tuple[str | None, str, _HttpOutcome]:
    """One request over the verified socket; returns (problem, cause, patch)."""
    assert probe.sock is not None
    patch = _HttpOutcome()
    conn = http.client.HTTPConnection(url.host, url.port, timeout=deadline.left())
    conn.sock = probe.sock  # reuse the verified TLS connection: no second handshake
    t0 = time.perf_counter()
    host_header = url.host if url.port == 443 else f"{url.host}:{url.port}"
    try:
        probe.sock.settimeout(deadline.left())
        if token:
            conn.request(
                "POST",
                url.base_path + USERS_ME,
                body=b"{}",
                headers={
                    "Host": host_header,
                    "x-api-key": token,
                    "Content-Type": "application/json",
                    "Connection": "close",
                },
            )
            name = "users.me"
        else:
            conn.request("GET", url.base_path + "/", headers={"Host": host_header, "Connection": "close"})
            name = "HTTP GET /"
        response = conn.getresponse()
        body = response.read(_MAX_BODY)
        status = response.status
        ctype = response.getheader("Content-Type", "") or ""
        location = response.getheader("Location", "") or ""
    except TimeoutError:
        probe.steps.append(Step("HTTP", False, time.perf_counter() - t0, "timed out"))
        conn.close()
        return "timeout", "the server completed TLS but did not answer the HTTP request in time", patch
    except (http.client.HTTPException, OSError) as exc:
        probe.steps.append(
            Step("HTTP", False, time.perf_counter() - t0, redact(str(exc) or type(exc).__name__, secrets))
        )
        conn.close()
        return (
            "not_supervisely",
            f"the server did not answer HTTP properly ({redact(str(exc) or type(exc).__name__, secrets)})",
            patch,
        )
    conn.close()
    patch.http_status = status
    snippet = redact(body[:200].decode("utf-8", "replace").strip(), secrets)
    if not token:
        probe.steps.append(Step(name, True, time.perf_counter() - t0, f"HTTP {status}"))
        patch.warnings.append(
            "the API check was skipped: no API token (set API_TOKEN, run %sly_tls env, or pass token=)"
        )
        return None, "", patch
    patch.api_checked = True
    if status in (401, 403):
        probe.steps.append(Step(name, False, time.perf_counter() - t0, f"HTTP {status}"))
        return "unauthorized", f"users.me answered {status}: the server rejected the API token", patch
    if 300 <= status < 400:
        probe.steps.append(Step(name, False, time.perf_counter() - t0, f"HTTP {status} → {redact(location, secrets)}"))
        return (
            "not_supervisely",
            f"users.me answered a redirect ({status}) to {redact(location, secrets) or 'somewhere'}: "
            "a login page or proxy sits in front of the API, or the URL is wrong",
            patch,
        )
    if not 200 <= status < 300:
        probe.steps.append(Step(name, False, time.perf_counter() - t0, f"HTTP {status}"))
        return "http_error", f"users.me answered HTTP {status} {response.reason}: {snippet[:120]!r}", patch
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        probe.steps.append(Step(name, False, time.perf_counter() - t0, f"HTTP {status}, {ctype or 'no content type'}"))
        return (
            "not_supervisely",
            f"users.me answered {status} with {ctype or 'a body'} that is not the API's JSON object: {snippet[:120]!r}",
            patch,
        )
    login = data.get("login")
    patch.login = redact(str(login), secrets) if login is not None else None
    probe.steps.append(Step(name, True, time.perf_counter() - t0, f'HTTP {status}, login "{patch.login}"'))
    return None, "", patch


@dataclass
class _HttpOutcome:
    http_status: int | None = None
    api_checked: bool = False
    login: str | None = None
    warnings: list[str] = field(default_factory=list)


def test_connection(url: str | None = None, token: str | None = None, timeout: float = 10.0) -> ConnectionReport:
    """Check the connection to a (Supervisely) server step by step.

    `url` defaults to SERVER_ADDRESS; `token` to API_TOKEN.  Raises `UrlError`
    for a URL it cannot test; every other outcome is in the returned report.
    """
    deadline = _Deadline(timeout)
    parsed = parse_server_url(url)
    token = token if token is not None else (os.environ.get("API_TOKEN") or None)
    secrets = secret_values(extra=[token])
    started = time.perf_counter()
    report = ConnectionReport(url=parsed.text)
    probe = _probe(parsed, deadline)
    problem, cause = probe.problem, probe.cause
    if problem is None and probe.verify_code is not None:
        problem, cause = _classify_verify(probe, parsed, deadline)
    patch = _HttpOutcome()
    if problem is None and probe.sock is not None:
        try:
            problem, cause, patch = _http_check(probe, parsed, token, deadline, secrets)
        except TimeoutError:
            problem, cause = "timeout", "the test ran out of time before the HTTP answer"
        finally:
            probe.sock.close()
    report.steps = probe.steps
    report.chain = probe.chain
    report.tls_version = probe.tls_version
    report.verified_by = probe.verified_chain[-1].common_name if probe.verified_chain else None
    report.http_status, report.api_checked, report.login = patch.http_status, patch.api_checked, patch.login
    report.problem = problem
    report.ok = problem is None
    report.cause = redact(cause, secrets)
    report.fix = _fix_for(problem, parsed, probe.chain) if problem else ""
    report.warnings = _chain_warnings(parsed, probe.chain, problem) + patch.warnings
    if report.ok and sys.version_info < (3, 13):
        for cert in probe.verified_chain or probe.chain:
            if cert.strict_defects:
                report.warnings.append(
                    f'Python 3.13+ will reject this chain: "{cert.common_name}" has '
                    + "; ".join(cert.strict_defects)
                    + " (this Python accepts it)"
                )
    if os.environ.get("HTTPS_PROXY") or os.environ.get("https_proxy"):
        report.warnings.append("HTTPS_PROXY is set: this test connects directly, while requests would use the proxy")
    report.elapsed = time.perf_counter() - started
    return report


@dataclass
class ChainReport:
    """The chain a server presents, trusted or not; optionally saved as PEM."""

    url: str
    chain: list[Certificate] = field(default_factory=list)
    verified: bool = False
    verify_message: str = ""
    saved_to: str | None = None
    saved: list[Certificate] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def next_step(self) -> str:
        if self.saved_to:
            return f"check the SHA-256 fingerprints above with your admin, then: %sly_tls add {self.saved_to}"
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
        out = [f"#{i} SHA-256 {c.fingerprint}" for i, c in enumerate(self.chain)]
        if self.saved_to:
            out.append(f"saved {len(self.saved)} certificate(s) to {self.saved_to} (certificates only)")
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
            notes=self._notes(),
        )

    def _repr_pretty_(self, p: object, cycle: bool) -> None:
        p.text(str(self))  # type: ignore[attr-defined]


def fetch_chain(
    url: str | None = None, save: str | None = None, timeout: float = 10.0, overwrite: bool = False
) -> ChainReport:
    """The certificates the server presents, exactly as sent; saved as PEM if `save`.

    Uses a verifying handshake and reads the chain even when verification
    fails: verification is never switched off, and no data is exchanged.
    Saving writes `trust_candidates(chain)` (the root CA the server sends, or
    else its CA certificates, or else its leaf) and never overwrites a
    different file unless `overwrite`.
    """
    deadline = _Deadline(timeout)
    parsed = parse_server_url(url)
    probe = _probe(parsed, deadline)
    if probe.sock is not None:
        probe.sock.close()
    if probe.problem is not None and not probe.chain:
        raise FetchError(f"{parsed.text}: {probe.problem}: {probe.cause}")
    report = ChainReport(url=parsed.text, chain=probe.chain, verified=probe.verify_code is None)
    report.verify_message = probe.verify_message
    top = probe.chain[-1] if probe.chain else None
    if top is not None and not top.self_signed and top.is_ca:
        report.warnings.append(
            f'the server does not send its root CA "{top.issuer_common_name}"; trusting only the intermediate '
            "works on Python 3.13+ only: ask your admin for the root certificate"
        )
    if save:
        to_save = trust_candidates(probe.chain)
        path = _save_pem(save, to_save, overwrite)
        report.saved_to, report.saved = str(path), to_save
    return report


def trust_candidates(chain: list[Certificate]) -> list[Certificate]:
    """What to trust from a presented chain: as little as makes it verify.

    The root CA if the server sends one (the server sends the intermediates
    itself, so trusting them too would only widen trust, and on Python 3.13
    would make an intermediate the anchor); else the CA certificates it sends
    (the root must then come from the admin on Python 3.12 and older); else
    its own certificate.
    """
    roots = [c for c in chain if c.is_ca and c.self_signed]
    return roots or [c for c in chain if c.is_ca] or list(chain)


def _save_pem(target: str, certs: list[Certificate], overwrite: bool) -> Path:
    from ._bundle import write_pem_file
    from ._certs import resolve_path

    path = resolve_path(target)
    data = "".join(c.pem for c in certs).encode("ascii")
    if path.is_dir():
        raise UrlError(f"{path}: is a directory; give a file name to save the chain to")
    if path.exists() and not overwrite and path.read_bytes() != data:
        raise UrlError(f"{path}: already exists with other content; choose another name or pass --overwrite")
    if not path.parent.is_dir():
        raise UrlError(f"{path.parent}: no such directory")
    write_pem_file(path, data)
    return path
