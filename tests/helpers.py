"""Helpers the tests share: the CA variables, a controlled environment, and the oracle for bundles.

Plain functions and constants, imported by test modules as `from .helpers import …`;
the fixtures and hooks that use them live in conftest.py, which pytest loads itself.
"""

from __future__ import annotations

import base64
import datetime
import functools
import hashlib
import http.server
import io
import os
import re
import shutil
import ssl
import threading
import warnings
import zipfile
from collections.abc import Callable, Iterator
from concurrent import futures
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

import sly_nb_tls
from sly_nb_tls.trust.environ import VARIABLES_READ

if TYPE_CHECKING:
    from cryptography import x509

    from sly_nb_tls.demo import DemoServer, IssuedCert, Response

#: Every variable some client reads trust from (or that `test` reads): tests set or clear
#: all of them.  SSL_CERT_DIR and the proxy variables are read, never managed, by the package.
CA_VARIABLES = VARIABLES_READ
SYSTEM_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
PRESET = {
    "REQUESTS_CA_BUNDLE": SYSTEM_BUNDLE,
    "SSL_CERT_FILE": SYSTEM_BUNDLE,
    "CURL_CA_BUNDLE": SYSTEM_BUNDLE,
    "SSL_CERT_DIR": "/etc/ssl/certs",
    "GIT_SSL_CAINFO": SYSTEM_BUNDLE,
    "PIP_CERT": SYSTEM_BUNDLE,
    "NODE_EXTRA_CA_CERTS": SYSTEM_BUNDLE,
    "WEBSOCKET_CLIENT_CA_BUNDLE": SYSTEM_BUNDLE,
}


def ssl_hooks() -> tuple[object, ...]:
    """Everything sly_nb_tls may patch in the ssl module, as it is now."""
    return (
        ssl.SSLContext,
        ssl.SSLContext.load_default_certs,
        ssl.SSLContext.__dict__.get("load_verify_locations"),
        ssl.create_default_context,
        ssl._create_default_https_context,
    )


ORIGINAL_SSL = ssl_hooks()


def controlled_env(preset: bool, base: dict[str, str] | None = None) -> dict[str, str]:
    """A copy of `base` (default os.environ) with every CA variable set or cleared."""
    env = dict(os.environ if base is None else base)
    for var in CA_VARIABLES:
        env.pop(var, None)
    if preset:
        env.update(PRESET)
    return env


def apply_env(monkeypatch: pytest.MonkeyPatch, preset: bool) -> None:
    for var in CA_VARIABLES:
        monkeypatch.delenv(var, raising=False)
    if preset:
        for k, v in PRESET.items():
            monkeypatch.setenv(k, v)


def has_tool(name: str) -> bool:
    return shutil.which(name) is not None


def variables_we_set() -> dict[str, str]:
    """The CA variables `status` marks as ours, each with the value we set (through the public API)."""
    return {v.name: v.ours for v in sly_nb_tls.status().variables if v.ours is not None}


# -- the oracle for "each client keeps exactly its own roots, plus the extras" -----------------
def pem_shas(path: str | os.PathLike[str]) -> set[str]:
    p = Path(path)
    if p.is_dir():
        return {sha for f in sorted(p.iterdir()) if f.is_file() for sha in _file_shas(str(f))}
    return set(_file_shas(str(p))) if p.is_file() else set()


JVM_VARIABLE = "JAVA_TOOL_OPTIONS"


def truststore_path(options: str) -> str:
    """The file ``-Djavax.net.ssl.trustStore=`` names in JVM options ("" if none)."""
    import shlex

    found = [w.split("=", 1)[1] for w in shlex.split(options) if w.startswith("-Djavax.net.ssl.trustStore=")]
    return found[-1] if found else ""


def truststore_shas(path: str | os.PathLike[str], password: bytes = b"changeit") -> set[str]:
    """The fingerprints of a PKCS#12 truststore's trusted certificates (read by cryptography, not by us)."""
    import hashlib

    from cryptography.hazmat.primitives.serialization import Encoding, pkcs12

    with warnings.catch_warnings():  # a JDK's old roots with a negative serial number
        warnings.simplefilter("ignore")
        store = pkcs12.load_pkcs12(Path(path).read_bytes(), password)
    return {hashlib.sha256(c.certificate.public_bytes(Encoding.DER)).hexdigest() for c in store.additional_certs}


@functools.lru_cache(maxsize=1)
def jdk_root_shas() -> frozenset[str]:
    """The JDK's own roots, as its keytool lists them from cacerts."""
    import subprocess

    out = subprocess.run(["keytool", "-list", "-rfc", "-cacerts", "-storepass", "changeit"], capture_output=True,
                         timeout=120, env={k: v for k, v in os.environ.items() if k != JVM_VARIABLE})  # fmt: skip
    return frozenset(_shas_of_pem(out.stdout))


def _shas_of_pem(data: bytes) -> list[str]:
    import hashlib

    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        certs = x509.load_pem_x509_certificates(data)
    return [hashlib.sha256(c.public_bytes(Encoding.DER)).hexdigest() for c in certs]


def variable_shas(var: str, value: str) -> set[str]:
    """What the file a CA variable's value names holds: a PEM bundle, or the JVM's truststore."""
    return truststore_shas(truststore_path(value)) if var == JVM_VARIABLE else pem_shas(value)


def variable_file(var: str, value: str) -> str:
    """The file a CA variable's value names."""
    return truststore_path(value) if var == JVM_VARIABLE else value


def _file_shas(path: str) -> frozenset[str]:
    st = os.stat(path)
    return _file_shas_cached(path, st.st_mtime_ns, st.st_size)


@functools.lru_cache(maxsize=256)
def _file_shas_cached(path: str, mtime: int, size: int) -> frozenset[str]:
    """Parsed once per content: the model test checks every bundle after every step."""
    from sly_nb_tls._pem import certificate_blocks

    return frozenset(sha for sha, _ in certificate_blocks(Path(path).read_bytes()))


def _grpc_roots() -> str | None:
    import importlib.util

    spec = importlib.util.find_spec("grpc")
    if spec is None or not spec.origin:
        return None
    roots = Path(spec.origin).parent / "_cython" / "_credentials" / "roots.pem"
    return str(roots) if roots.is_file() else None


def _botocore_ca_bundle() -> str | None:
    try:
        import botocore.session
    except ImportError:
        return None
    return botocore.session.Session().get_config_variable("ca_bundle")  # type: ignore[no-any-return]


def _tool_answer(*args: str) -> str | None:
    """What git or npm itself says (an oracle independent of the package), cached per config location."""
    where = tuple(os.environ.get(v) for v in ("HOME", "NPM_CONFIG_USERCONFIG", "GIT_CONFIG_GLOBAL"))
    return _tool_answer_cached(args, where, os.getcwd())


@functools.lru_cache(maxsize=64)
def _tool_answer_cached(args: tuple[str, ...], where: object, cwd: str) -> str | None:
    import subprocess

    if not shutil.which(args[0]):
        return None
    return subprocess.run(args, capture_output=True, text=True, timeout=60).stdout.strip() or None


def expected_base(var: str, before: dict[str, str]) -> set[str] | None:
    """What `var`'s readers trusted before `add`, written out from each client's documented rules
    (not from the package's code); None: the variable must stay untouched."""
    import certifi

    openssl = ssl.get_default_verify_paths().openssl_cafile
    preset = before.get(var)
    if var == JVM_VARIABLE:  # the JVM: the JDK's own cacerts (these machines' options name no truststore)
        return set(jdk_root_shas()) if shutil.which("java") else None
    if var == "WGETRC":
        return set()  # no wgetrc of the user's sets a ca_certificate on these machines
    if preset and os.path.isdir(preset):
        return None  # a directory in a file variable: left alone
    if preset:
        return pem_shas(preset)
    if var == "REQUESTS_CA_BUNDLE":  # requests: REQUESTS_CA_BUNDLE, else CURL_CA_BUNDLE, else certifi
        return pem_shas(before.get("CURL_CA_BUNDLE") or certifi.where())
    if var == "AWS_CA_BUNDLE":  # botocore's own answer: the profile's ca_bundle, else REQUESTS_CA_BUNDLE, else certifi
        configured = _botocore_ca_bundle()
        return pem_shas(configured or before.get("REQUESTS_CA_BUNDLE") or certifi.where())
    if var == "GIT_SSL_CAINFO":  # git's own answer: its configured CA file, else the system's
        configured = _tool_answer("git", "config", "--get", "http.sslCAInfo")
        return pem_shas(os.path.expanduser(configured) if configured else openssl)
    if var == "npm_config_cafile":  # npm's own answer, from all its config files
        configured = _tool_answer("npm", "config", "get", "cafile")
        return pem_shas(os.path.expanduser(configured)) if configured not in (None, "", "null") else None
    if var in ("SSL_CERT_FILE", "CURL_CA_BUNDLE"):
        return pem_shas(openssl)
    if var == "HTTPLIB2_CA_CERTS":
        return pem_shas(certifi.where())
    if var == "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH":
        roots = _grpc_roots()
        return pem_shas(roots) if roots else None
    if var in ("NODE_EXTRA_CA_CERTS", "SLY_EXTRA_CA_CERTS"):
        return set()  # additive: the extras alone
    return None  # PIP_CERT, WEBSOCKET_CLIENT_CA_BUNDLE: only when preset


def assert_each_variable_holds_its_base_plus(extras: set[str], before: dict[str, str]) -> None:
    """Every CA variable names a file holding exactly its readers' previous roots plus `extras`."""
    from sly_nb_tls.trust.environ import MANAGED_VARIABLES

    for var in MANAGED_VARIABLES:
        base = expected_base(var, before)
        if base is None:
            assert os.environ.get(var) == before.get(var), f"{var} should be left alone"
            continue
        value = os.environ.get(var)
        assert value and value != before.get(var), f"{var} was not pointed at a bundle"
        if var == "WGETRC":
            lines = [ln for ln in Path(value).read_text().splitlines() if ln.startswith("ca_certificate")]
            assert len(lines) == 1, lines
            value = lines[0].split("=", 1)[1].strip()
        assert variable_shas(var, value) == base | extras, f"{var}: not exactly its base plus the extras"


@contextmanager
def grpc_echo(server: DemoServer) -> Iterator[str]:
    """A gRPC echo service (``/demo.Echo/Ping``) on 127.0.0.1 under the demo server's PKI: its target."""
    import grpc

    pki = server.pki
    handler = grpc.method_handlers_generic_handler(
        "demo.Echo", {"Ping": grpc.unary_unary_rpc_method_handler(lambda request, context: request)}
    )
    g = grpc.server(futures.ThreadPoolExecutor(2))
    g.add_generic_rpc_handlers([handler])
    # The key goes to gRPC in memory, never to a file.
    creds = grpc.ssl_server_credentials([(pki.leaf._key_pem(), (pki.leaf.pem + pki.intermediate.pem).encode())])
    port = g.add_secure_port("127.0.0.1:0", creds)
    g.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        g.stop(0)


# -- files the native clients fetch (uv, polars, pyarrow) -------------------------------------
MATRIX_CSV = b"a,b\n1,hello\n"
MATRIX_PACKAGE = "matrix-hello"


def _http_date() -> str:
    return "Thu, 01 Jan 2026 00:00:00 GMT"


def ranged_file(data: bytes, content_type: str = "text/csv") -> Callable[[Any], Response]:
    """A demo-server answer for a file that honours ``Range`` (object_store and the AWS SDK ask for ranges)
    and carries what an S3 GetObject/HeadObject answer does (ETag, Last-Modified)."""
    from sly_nb_tls.demo import Response

    def answer(handler: Any) -> Response:
        headers = {"Content-Type": content_type, "Last-Modified": _http_date(), "ETag": '"matrix"',
                   "Accept-Ranges": "bytes"}  # fmt: skip
        m = re.fullmatch(r"bytes=(\d+)-(\d*)", handler.headers.get("Range") or "")
        if m and handler.command == "GET" and int(m.group(1)) < len(data):
            first = int(m.group(1))
            last = min(int(m.group(2)) if m.group(2) else len(data) - 1, len(data) - 1)
            headers["Content-Range"] = f"bytes {first}-{last}/{len(data)}"
            return Response(206, data[first : last + 1], headers)
        return Response(200, data, headers)

    return answer


class _Witness(http.server.ThreadingHTTPServer):
    daemon_threads = True
    context: ssl.SSLContext
    answer: Callable[[Any], Response]
    log: Path

    def get_request(self) -> tuple[Any, Any]:
        raw, address = self.socket.accept()
        raw.settimeout(10)
        try:
            tls = self.context.wrap_socket(raw, server_side=True)
        except OSError as exc:  # ssl.SSLError among them: the client's alert is its reason
            self._record(getattr(exc, "reason", None) or type(exc).__name__)
            raw.close()
            raise
        self._record("ok")
        return tls, address

    def _record(self, outcome: str) -> None:
        with self.log.open("a") as f:
            f.write(outcome + "\n")


class _WitnessHandler(http.server.BaseHTTPRequestHandler):
    server: _Witness
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _answer(self) -> None:
        response = self.server.answer(self)
        body, content_type = response.encoded()
        self.send_response(response.status)
        for name, value in {"Content-Type": content_type, "Content-Length": str(len(body)), **response.headers}.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_HEAD = _answer


@contextmanager
def handshake_witness(
    server: DemoServer, log: Path, data: bytes = MATRIX_CSV, requests: list[str] | None = None
) -> Iterator[str]:
    """An HTTPS origin of its own under the demo server's PKI, serving `data` at any path, that appends
    each TLS handshake's outcome to `log`: ``ok``, or the alert the client sent (``TLSV1_ALERT_UNKNOWN_CA``:
    it did not trust the chain).  A client that retries a failed handshake for seconds (polars) is judged
    on the wire at its first attempt, from another process too.  `requests` collects "METHOD path" of each
    request.  Yields its URL."""
    from sly_nb_tls.demo import server_context

    pki = server.pki
    httpd = _Witness(("127.0.0.1", 0), _WitnessHandler)
    # The key goes to OpenSSL through a pipe (demo.server_context), never to a file.
    httpd.context = server_context([pki.leaf, pki.intermediate], pki.leaf)
    answer = ranged_file(data)

    def recorded(handler: Any) -> Response:
        if requests is not None:
            requests.append(f"{handler.command} {handler.path}")
        return answer(handler)

    httpd.answer = recorded
    httpd.log = log
    log.write_text("")
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def tiny_wheel(name: str = MATRIX_PACKAGE, version: str = "1.0") -> tuple[str, bytes]:
    """A pure-Python wheel (file name, bytes) whose module holds ``GREETING = 'hello'``, built in memory."""
    module = name.replace("-", "_")
    dist = f"{module}-{version}.dist-info"
    files = {
        f"{module}/__init__.py": b"GREETING = 'hello'\n",
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
        f"{dist}/WHEEL": b"Wheel-Version: 1.0\nGenerator: sly-nb-tls-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = "".join(
        f"{path},sha256={base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},{len(data)}\n"
        for path, data in files.items()
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as wheel:
        for path, data in files.items():
            wheel.writestr(path, data)
        wheel.writestr(f"{dist}/RECORD", record + f"{dist}/RECORD,,\n")
    return f"{module}-{version}-py3-none-any.whl", buffer.getvalue()


def private_index(name: str = MATRIX_PACKAGE) -> dict[str, Response]:
    """A PEP 503 simple index holding one tiny wheel, as demo-server responses (``/simple/<name>/``)."""
    from sly_nb_tls.demo import Response

    filename, wheel = tiny_wheel(name)
    page = (f'<!DOCTYPE html><html><body><a href="/files/{filename}#sha256={hashlib.sha256(wheel).hexdigest()}">'
            f"{filename}</a></body></html>")  # fmt: skip
    return {f"/simple/{name}/": Response(200, page), f"/files/{filename}": Response(200, wheel)}


def root_ca(
    name: str,
    *,
    permitted: list[x509.GeneralName] | None = None,
    excluded: list[x509.GeneralName] | None = None,
    claimed_ski: str = "",
) -> IssuedCert:
    """A self-signed, RFC 5280-strict root CA, its key in memory.  `permitted`, `excluded`: its
    nameConstraints; `claimed_ski`: a Subject Key Identifier it claims that is not its own key's (a
    forged CA copying a trusted CA's)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    from sly_nb_tls.demo import IssuedCert

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    usage = x509.KeyUsage(
        digital_signature=True, content_commitment=False, key_encipherment=False, data_encipherment=False,
        key_agreement=False, key_cert_sign=True, crl_sign=True, encipher_only=False, decipher_only=False,
    )  # fmt: skip
    ski = x509.SubjectKeyIdentifier(bytes.fromhex(claimed_ski)) if claimed_ski else None
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(ski or x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if permitted is not None or excluded is not None:
        builder = builder.add_extension(x509.NameConstraints(permitted, excluded), critical=True)
    return IssuedCert(builder.sign(key, hashes.SHA256()), key)
