"""The bad-input catalogue, through every front-end: the API, the magic, the CLI and the panel.

Each case must give one line that names the input and what is wrong — a
`SlyTlsError` in the API, a `UsageError` in the magic, exit status 2 in the CLI,
a message in the panel — and leave the environment, the bundle files and the
ssl hooks exactly as they were.  Every case runs with something already
registered, so "as before" is a non-trivial state.
"""

from __future__ import annotations

import contextlib
import html
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID
from IPython.core.interactiveshell import InteractiveShell

import sly_nb_tls
from sly_nb_tls.demo import issue

from .helpers import controlled_env, ssl_hooks


@dataclass
class Case:
    id: str
    kind: str  # "cert" (a certificate source), "env" (an env file), "url", "magic" (a raw magic line)
    make: Callable[[Path], str]  # builds the input in a folder, returns the path / URL / line
    fragment: str  # must appear in the one-line error


def _write(name: str, data: bytes | str) -> Callable[[Path], str]:
    def make(d: Path) -> str:
        p = d / name
        p.write_bytes(data if isinstance(data, bytes) else data.encode())
        return str(p)

    return make


def _key(kind: str) -> bytes:
    if kind == "rsa":
        k: object = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    else:
        k = ec.generate_private_key(ec.SECP256R1())
    enc = serialization.BestAvailableEncryption(b"pw") if kind == "encrypted" else serialization.NoEncryption()
    fmt = serialization.PrivateFormat.PKCS8 if kind == "encrypted" else serialization.PrivateFormat.TraditionalOpenSSL
    return k.private_bytes(serialization.Encoding.PEM, fmt, enc)  # type: ignore[attr-defined]


def _csr() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "req")]))
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM)


def _p12() -> bytes:
    leaf = issue("p12")
    return pkcs12.serialize_key_and_certificates(b"x", leaf.key, leaf.cert, None, serialization.NoEncryption())


GOOD = issue("Catalogue CA", ca=True).pem


def _empty_dir(d: Path) -> str:
    (d / "nocerts").mkdir()
    (d / "nocerts" / "readme.txt").write_text("no certificates here")
    return str(d / "nocerts")


def _symlink_loop(d: Path) -> str:
    os.symlink(d / "loop-b.crt", d / "loop-a.crt")
    os.symlink(d / "loop-a.crt", d / "loop-b.crt")
    return str(d / "loop-a.crt")


def _huge(d: Path) -> str:
    p = d / "huge.pem"
    with open(p, "wb") as fh:
        fh.truncate(50 * 1024 * 1024)  # sparse: nothing is written, nothing must be read
    return str(p)


def _truncated() -> str:
    return GOOD[: len(GOOD) // 2]


def _broken_body() -> str:
    return GOOD + issue("Second", ca=True).pem.replace("M", "!", 2)


def _env_file(text: str) -> Callable[[Path], str]:
    return _write("bad.env", text)


CASES = [
    Case("missing-path", "cert", lambda d: str(d / "missing.crt"), "no such file"),
    Case("dir-without-certs", "cert", _empty_dir, "no certificate files"),
    Case("empty-file", "cert", _write("empty.crt", b""), "empty"),
    Case("binary-garbage", "cert", _write("garbage.bin", bytes(range(256)) * 16), "not a certificate"),
    Case("text-garbage", "cert", _write("notes.txt", "just some notes\n"), "no certificate"),
    Case("rsa-key", "cert", _write("rsa.key", _key("rsa")), "private key — never share it"),
    Case("ec-key", "cert", _write("ec.key", _key("ec")), "private key — never share it"),
    Case("encrypted-key", "cert", _write("enc.key", _key("encrypted")), "private key — never share it"),
    Case("csr", "cert", _write("req.csr", _csr()), "certificate signing request"),
    Case("pkcs12", "cert", _write("bundle.p12", _p12()), "PKCS#12"),
    Case("truncated-pem", "cert", _write("cut.pem", _truncated()), "truncated"),
    Case("broken-base64", "cert", _write("mixed.pem", _broken_body()), "broken base64"),
    Case("50MB-file", "cert", _huge, "limit"),
    Case("symlink-loop", "cert", _symlink_loop, "symbolic link loop"),
    Case("url-as-path", "cert", lambda d: "https://sly.corp.example", "this is a URL, not a file; to get the chain"),
    Case("crl", "cert", _write("x.crl", "-----BEGIN X509 CRL-----\nMIIB\n-----END X509 CRL-----\n"), "revocation"),
    Case("env-syntax-error", "env", _env_file("GOOD=1\nthis is not an assignment\n"), "bad.env:2: syntax error"),
    Case("env-missing-ca-file", "env", _env_file("SLY_EXTRA_CA_CERTS=/nonexistent/corp.crt\n"), "no such file"),
    Case("env-ca-is-a-key", "env", lambda d: _env_file(f"SLY_EXTRA_CA_CERTS={_write('k.pem', _key('ec'))(d)}\n")(d),
         "private key"),
    Case("env-missing-file", "env", lambda d: str(d / "nope.env"), "no such file"),
    Case("malformed-url", "url", lambda d: "https://exa mple.com", "spaces"),
    Case("unsupported-scheme", "url", lambda d: "ftp://sly.corp.example", "unsupported scheme"),
    Case("plain-http", "url", lambda d: "http://sly.corp.example", "only https://"),
    Case("port-out-of-range", "url", lambda d: "https://127.0.0.1:65536", "1 to 65535"),
    Case("port-zero", "url", lambda d: "https://127.0.0.1:0", "1 to 65535"),
    Case("no-host", "url", lambda d: "https://:443", "no host"),
    Case("credentials-in-url", "url", lambda d: "https://me:pw@sly.corp.example", "credentials"),
    Case("unknown-subcommand", "magic", lambda d: "frobnicate", "invalid choice"),
    Case("unknown-flag", "magic", lambda d: "add --insecure x.crt", "unrecognized arguments: --insecure"),
    Case("remove-short-prefix", "magic", lambda d: "remove abc", "at least 8 hex digits"),
    Case("timeout-nan", "magic", lambda d: "test https://127.0.0.1:9 --timeout nan", "positive, finite number"),
    Case("timeout-inf", "magic", lambda d: "fetch https://127.0.0.1:9 --timeout inf", "positive, finite number"),
    Case("timeout-negative", "magic", lambda d: "test https://127.0.0.1:9 --timeout -2", "positive, finite number"),
    Case("socks-proxy", "magic", lambda d: "test https://127.0.0.1:9 --proxy socks5://u:pw@127.0.0.1:1080",
         "unsupported scheme 'socks5'"),
    Case("proxy-and-direct", "magic", lambda d: "fetch https://127.0.0.1:9 --direct --proxy http://127.0.0.1:1",
         "not allowed with argument"),
]  # fmt: skip
assert len(CASES) >= 25


def _state() -> tuple[dict[str, str], list[str], tuple[object, ...]]:
    userdir = Path(os.environ["SLY_NB_TLS_DIR"])
    files = sorted(f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in userdir.iterdir())
    return dict(os.environ), files, ssl_hooks()


@pytest.fixture
def registered(tmp_path: Path) -> Iterator[Path]:
    sly_nb_tls.add_certs(GOOD)  # a non-trivial "before"
    yield tmp_path


def _one_line(message: str, case: Case) -> None:
    assert case.fragment in message, (case.id, message)
    assert "\n" not in message.strip(), (case.id, message)
    assert "Traceback" not in message


# -- the API ------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_api(case: Case, registered: Path) -> None:
    arg = case.make(registered)
    before = _state()
    call: Callable[[], object]
    if case.kind == "cert":
        call = lambda: sly_nb_tls.add_certs(arg)  # noqa: E731
    elif case.kind == "env":
        call = lambda: sly_nb_tls.load_env(arg)  # noqa: E731
    elif case.kind == "url":
        call = lambda: sly_nb_tls.test_connection(arg)  # noqa: E731
    else:
        if case.id != "remove-short-prefix":
            pytest.skip("a magic-syntax case")
        call = lambda: sly_nb_tls.remove("abc")  # noqa: E731
    with pytest.raises(sly_nb_tls.SlyTlsError) as info:
        call()
    _one_line(str(info.value), case)
    assert _state() == before


# -- the magic ----------------------------------------------------------------------------------
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_magic(case: Case, registered: Path, capsys: pytest.CaptureFixture[str]) -> None:
    arg = case.make(registered)
    line = {"cert": f'add "{arg}"', "env": f'env "{arg}"', "url": f'test "{arg}"', "magic": arg}[case.kind]
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "sly_nb_tls")
    capsys.readouterr()
    before = _state()
    result = ip.run_cell(f"%sly_tls {line}")
    out = capsys.readouterr()
    assert type(result.error_in_exec).__name__ == "UsageError", (case.id, out)
    _one_line(out.err + out.out, case)
    assert _state() == before


# -- the CLI (it has no `add`: certificate sources go through `test --ca`) ----------------------
@pytest.mark.parametrize(
    "case", [c for c in CASES if c.kind != "magic"], ids=[c.id for c in CASES if c.kind != "magic"]
)
def test_cli(case: Case, tmp_path: Path) -> None:
    arg = case.make(tmp_path)
    args = {
        "cert": ["test", "https://127.0.0.1:9", "--ca", arg],
        "env": ["test", "https://127.0.0.1:9", "--env", arg],
        "url": ["test", arg],
    }[case.kind]
    env = controlled_env(False) | {"SLY_NB_TLS_DIR": str(tmp_path / "cli-userdir")}
    out = subprocess.run(
        [sys.executable, "-m", "sly_nb_tls", *args], capture_output=True, text=True, env=env, timeout=60
    )
    assert out.returncode == 2, (case.id, out.stdout, out.stderr)
    assert out.stdout == ""
    _one_line(out.stderr.removeprefix("error: "), case)
    assert not (tmp_path / "cli-userdir").exists() or list((tmp_path / "cli-userdir").glob("*.pem")) == []


# -- the panel ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "case", [c for c in CASES if c.kind != "magic"], ids=[c.id for c in CASES if c.kind != "magic"]
)
def test_panel(case: Case, registered: Path) -> None:
    arg = case.make(registered)
    p = sly_nb_tls.panel()
    field, button, area = {
        "cert": (p.cert_path, p.cert_add, p.cert_result),
        "env": (p.env_files, p.env_load, p.env_result),
        "url": (p.url, p.test, p.connection_result),
    }[case.kind]
    field.value = f'"{arg}"' if case.kind == "env" else arg
    before = _state()
    button.click()
    text = re.sub(r"<style>.*?</style>|<[^>]+>", "", area.value)
    _one_line(html.unescape(text), case)
    assert not button.disabled
    assert _state() == before


@contextlib.contextmanager
def _as_nobody() -> Iterator[None]:
    os.seteuid(65534)
    try:
        yield
    finally:
        os.seteuid(0)


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_unreadable_file_through_api_magic_and_panel(registered: Path) -> None:
    p = registered / "secret.crt"
    p.write_text(GOOD)
    p.chmod(0o600)
    if os.geteuid() == 0:
        # root reads everything: become `nobody` for the read, as an unprivileged user is
        guard: contextlib.AbstractContextManager[None] = _as_nobody()
        os.chmod(registered, 0o755)
        for parent in registered.parents:
            if str(parent) in ("/", "/tmp"):
                break
            os.chmod(parent, os.stat(parent).st_mode | 0o011)
    else:
        p.chmod(0)
        guard = contextlib.nullcontext()
    before = _state()
    with guard:
        with pytest.raises(sly_nb_tls.errors.CertificateSourceError, match="permission denied"):
            sly_nb_tls.add_certs(str(p))
    assert _state() == before
