"""A private PKI and a loopback HTTPS server that answers like Supervisely's API.

In [1]: from sly_nb_tls.demo import DemoServer
In [2]: server = DemoServer().start()
In [3]: server.url, server.root_path
Out[3]: ('https://127.0.0.1:40731', '/home/me/.cache/sly-nb-tls/demo-…/root.pem')
In [4]: %sly_tls test {server.url}          # untrusted_root, until:
In [5]: %sly_tls add {server.root_path}

The PKI is root → intermediate → leaf (for 127.0.0.1 and localhost), made
with `cryptography`.  Private keys live only in memory: OpenSSL's
``load_cert_chain`` wants a path, so the key is handed over through a pipe
(``/dev/fd/N``) instead of a file.  The server binds 127.0.0.1 only and
presents leaf + intermediate, as a typical corporate server does.

It answers what the SDK's `api.user.get_my_info()` sends
(``POST /public/api/v3/users.me`` with ``x-api-key``; 401 without) and
``POST /public/api/v3/instance.version``.  `responses` overrides any path,
which the tests use to play proxies, login pages and broken servers.
"""

from __future__ import annotations

import datetime as dt
import http.server
import ipaddress
import json
import os
import shutil
import ssl
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

__all__ = ["DEMO_LOGIN", "DemoPKI", "DemoServer", "IssuedCert", "Response", "server_context"]

DEMO_LOGIN = "alice"
_USERS_ME = "/public/api/v3/users.me"
_VERSION = "/public/api/v3/instance.version"


@dataclass
class IssuedCert:
    """A certificate and its in-memory key."""

    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey = field(repr=False)

    @property
    def pem(self) -> str:
        return self.cert.public_bytes(serialization.Encoding.PEM).decode("ascii")

    def _key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def issue(
    common_name: str,
    *,
    issuer: IssuedCert | None = None,
    ca: bool = False,
    names: Sequence[str] = (),
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
    strict_compliant: bool = True,
    organization: str = "sly_nb_tls demo",
    ca_issuers: Sequence[str] = (),
    key: ec.EllipticCurvePrivateKey | None = None,
) -> IssuedCert:
    """Issue one certificate; `issuer=None` makes it self-signed.

    `strict_compliant=False` makes the kind of CA older tooling produced and
    Python 3.13 rejects: no Authority/Subject Key Identifier, basicConstraints
    not critical, no keyUsage.  `ca_issuers`: Authority Information Access URLs
    where the issuer's certificate can be fetched.  `key`: reuse a key (to
    cross-sign, or to re-issue a CA under another issuer).
    """
    key = key or ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )
    signer_key = issuer.key if issuer else key
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.cert.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or _now() - dt.timedelta(hours=1))
        .not_valid_after(not_after or _now() + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=strict_compliant)
    )
    if strict_compliant:
        builder = _strict_extensions(builder, key, signer_key, ca)
    if ca_issuers:
        builder = builder.add_extension(
            x509.AuthorityInformationAccess(
                [x509.AccessDescription(AuthorityInformationAccessOID.CA_ISSUERS, x509.UniformResourceIdentifier(u))
                 for u in ca_issuers]
            ),
            critical=False,
        )  # fmt: skip
    if names:
        builder = _server_names(builder, names)
    return IssuedCert(builder.sign(signer_key, hashes.SHA256()), key)


def _strict_extensions(
    builder: x509.CertificateBuilder, key: ec.EllipticCurvePrivateKey, signer_key: ec.EllipticCurvePrivateKey, ca: bool
) -> x509.CertificateBuilder:
    """The key identifiers and keyUsage Python 3.13's strict checks require."""
    builder = builder.add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    builder = builder.add_extension(
        x509.AuthorityKeyIdentifier.from_issuer_public_key(signer_key.public_key()), critical=False
    )
    usage = x509.KeyUsage(
        digital_signature=True, content_commitment=False, key_encipherment=not ca, data_encipherment=False,
        key_agreement=False, key_cert_sign=ca, crl_sign=ca, encipher_only=False, decipher_only=False,
    )  # fmt: skip
    return builder.add_extension(usage, critical=True)


def _server_names(builder: x509.CertificateBuilder, names: Sequence[str]) -> x509.CertificateBuilder:
    """subjectAltName (IP addresses as such) and the serverAuth extended key usage."""
    sans: list[x509.GeneralName] = []
    for name in names:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            sans.append(x509.DNSName(name))
    builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)


@dataclass
class DemoPKI:
    """Root → intermediate → leaf for 127.0.0.1 and localhost."""

    root: IssuedCert
    intermediate: IssuedCert
    leaf: IssuedCert

    @classmethod
    def create(
        cls,
        names: Sequence[str] = ("127.0.0.1", "localhost"),
        *,
        org: str = "sly_nb_tls demo",
        root_name: str = "sly_nb_tls Demo Root CA",
        strict_compliant: bool = True,
        leaf_not_before: dt.datetime | None = None,
        leaf_not_after: dt.datetime | None = None,
    ) -> DemoPKI:
        root = issue(root_name, ca=True, strict_compliant=strict_compliant, organization=org)
        inter = issue(
            "sly_nb_tls Demo Intermediate CA", issuer=root, ca=True, strict_compliant=strict_compliant, organization=org
        )
        leaf = issue(
            names[0] if names else "demo",
            issuer=inter,
            names=names,
            not_before=leaf_not_before,
            not_after=leaf_not_after,
            organization=org,
        )
        return cls(root, inter, leaf)

    @property
    def chain_pem(self) -> str:
        """Intermediate + root: what an admin hands users as "the chain"."""
        return self.intermediate.pem + self.root.pem

    def write(self, directory: str | os.PathLike[str]) -> tuple[str, str]:
        """Write root.pem and chain.pem (certificates only, never a key)."""
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        (d / "root.pem").write_text(self.root.pem)
        (d / "chain.pem").write_text(self.chain_pem)
        return str(d / "root.pem"), str(d / "chain.pem")


def server_context(presented: Sequence[IssuedCert], key_of: IssuedCert) -> ssl.SSLContext:
    """A server context presenting `presented` (leaf first) with `key_of`'s key.

    The key and chain go to OpenSSL through pipes, so no key touches the disk.
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    chain = "".join(c.pem for c in presented).encode("ascii")
    with _pipe_path(chain) as cert_path, _pipe_path(key_of._key_pem()) as key_path:
        ctx.load_cert_chain(cert_path, key_path)
    return ctx


class _pipe_path:
    """A readable path (/dev/fd/N) whose content lives only in a kernel pipe."""

    def __init__(self, data: bytes):
        if len(data) > 60_000:  # stay below the pipe buffer: the write must not block
            raise ValueError("too much data for a pipe")
        self.data = data

    def __enter__(self) -> str:
        self.r, w = os.pipe()
        try:
            os.write(w, self.data)
        finally:
            os.close(w)
        return f"/dev/fd/{self.r}"

    def __exit__(self, *exc: object) -> None:
        os.close(self.r)


@dataclass
class Response:
    status: int = 200
    body: bytes | str | dict[str, Any] = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    #: seconds between the body's bytes (a server that drips its answer)
    drip: float = 0.0

    def encoded(self) -> tuple[bytes, str]:
        if isinstance(self.body, dict):
            return json.dumps(self.body).encode(), "application/json"
        if isinstance(self.body, str):
            return self.body.encode("utf-8"), "text/html; charset=utf-8"
        return self.body, "application/octet-stream"


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _HTTPServer
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle on, a keep-alive client
    # waits ~40 ms (delayed ACK) for the body, which no production server does.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        pass  # a demo server that prints every request drowns the notebook

    def _send(self, response: Response) -> None:
        if response.delay:
            time.sleep(response.delay)
        body, ctype = response.encoded()
        self.send_response(response.status)
        headers = {"Content-Type": ctype, "Content-Length": str(len(body)), **response.headers}
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        if self.command == "HEAD":
            return
        if not response.drip:
            self.wfile.write(body)
            return
        self.wfile.flush()
        for i in range(len(body)):
            time.sleep(response.drip)
            self.wfile.write(body[i : i + 1])
            self.wfile.flush()

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(min(length, 1 << 20))
        path = self.path.split("?", 1)[0]
        self.server.requests.append((self.command, path))
        override = self.server.responses.get(path)
        if override is not None:
            self._send(override(self) if callable(override) else override)
            return
        if path == _USERS_ME and self.command == "POST":
            token = self.headers.get("x-api-key")
            expected = self.server.token
            if not token or (expected is not None and token != expected):
                self._send(Response(401, {"error": "Unauthorized", "details": "invalid api token"}))
                return
            self._send(Response(200, {"id": 1, "login": DEMO_LOGIN, "name": "Alice Demo", "role": "admin"}))
        elif path == _VERSION and self.command == "POST":
            self._send(Response(200, {"version": "6.12.0-demo"}))
        elif path == "/":
            self._send(Response(200, "<!doctype html><title>Supervisely (demo)</title><p>demo server</p>"))
        else:
            self._send(Response(404, {"error": "Not found"}))

    do_GET = do_POST = do_HEAD = _answer


class _HTTPServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    token: str | None
    responses: dict[str, Response | Callable[[Any], Response]]
    requests: list[tuple[str, str]]

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up early (a bounded read, a failed handshake) is
        # normal here; anything else is still reported.
        import sys

        if isinstance(sys.exc_info()[1], (ConnectionError, ssl.SSLError, TimeoutError)):
            return
        super().handle_error(request, client_address)


class DemoServer:
    """HTTPS on 127.0.0.1 with a private PKI; a context manager, or start()/stop().

    `presented` picks what the server sends: "leaf+intermediate" (default),
    "leaf", or "full" (leaf + intermediate + root).  `token=None` accepts any
    non-empty ``x-api-key``.
    """

    def __init__(
        self,
        pki: DemoPKI | None = None,
        *,
        presented: str = "leaf+intermediate",
        token: str | None = None,
        responses: dict[str, Response | Callable[[Any], Response]] | None = None,
        directory: str | None = None,
        port: int = 0,
    ):
        self.pki = pki or DemoPKI.create()
        chains = {
            "leaf": [self.pki.leaf],
            "leaf+intermediate": [self.pki.leaf, self.pki.intermediate],
            "full": [self.pki.leaf, self.pki.intermediate, self.pki.root],
        }
        if presented not in chains:
            raise ValueError(f"presented must be one of {sorted(chains)}, not {presented!r}")
        self._context = server_context(chains[presented], self.pki.leaf)
        self._httpd = _HTTPServer(("127.0.0.1", port), _Handler, bind_and_activate=True)
        self._httpd.token = token
        self._httpd.responses = dict(responses or {})
        self._httpd.requests = []
        self._httpd.socket = self._context.wrap_socket(self._httpd.socket, server_side=True)
        self._thread: threading.Thread | None = None
        self._own_dir = directory is None
        self.directory = directory or tempfile.mkdtemp(prefix="sly-nb-tls-demo-")
        self.root_path, self.chain_path = self.pki.write(self.directory)

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def responses(self) -> dict[str, Response | Callable[[Any], Response]]:
        return self._httpd.responses

    @property
    def requests(self) -> list[tuple[str, str]]:
        return self._httpd.requests

    def start(self) -> DemoServer:
        if self._thread is None:
            # `stop` waits for the loop's next poll: at the default 0.5 s, every stop took half a second.
            self._thread = threading.Thread(
                target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="sly-nb-tls-demo", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(5)
            self._thread = None
        self._httpd.server_close()
        if self._own_dir:
            shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> DemoServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
