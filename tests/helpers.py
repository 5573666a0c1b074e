"""Helpers the tests share: the CA variables, a controlled environment, and the oracle for bundles.

Plain functions and constants, imported by test modules as `from .helpers import …`;
the fixtures and hooks that use them live in conftest.py, which pytest loads itself.
"""

from __future__ import annotations

import datetime
import functools
import os
import shutil
import ssl
import warnings
from collections.abc import Iterator
from concurrent import futures
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

import sly_nb_tls
from sly_nb_tls.trust.environ import VARIABLES_READ

if TYPE_CHECKING:
    from cryptography import x509

    from sly_nb_tls.demo import DemoServer, IssuedCert

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
