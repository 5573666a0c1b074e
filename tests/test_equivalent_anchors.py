"""Equivalent anchors: a root strict X.509 checks reject for its own structure is trusted with only that corrected.

The unit properties first (the same name, key, serial, validity and constraints; the defects
corrected; the same bytes every time; the original's signature algorithm; never an intermediate or
a leaf), then `add`, `status`, `remove` and the policy, then real handshakes against a loopback
server whose chain ends at a root with a non-critical basicConstraints and no SKI: in this Python
with ``VERIFY_X509_STRICT``, in Python 3.10-3.13 children, and in curl, git, node, wget and a JVM.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import ssl
import subprocess
import sys
import textwrap
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID, NameOID

import sly_nb_tls
from sly_nb_tls._anchors import equivalent_anchor
from sly_nb_tls._certs import Certificate
from sly_nb_tls.demo import DemoPKI, DemoServer, issue
from sly_nb_tls.errors import PolicyError

from .helpers import SYSTEM_BUNDLE, has_tool, pem_shas

_NOW = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
_ALL_DEFECTS = (
    "basicConstraints is not marked critical",
    "a CA without a keyUsage extension",
    "a CA without a Subject Key Identifier",
)


_SHA256 = hashes.SHA256()


def _lax_root(key: object, algorithm: hashes.HashAlgorithm | None = _SHA256, **kw: object) -> x509.Certificate:
    """A root with basicConstraints not critical (path length 1), no keyUsage, no SKI; name constraints and an
    extended key usage it must keep."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Lax Inspection Root")])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())  # type: ignore[attr-defined]
        .serial_number(0x5EED)
        .not_valid_before(_NOW)
        .not_valid_after(_NOW + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=False)
        .add_extension(x509.NameConstraints([x509.DNSName("example.test")], None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    )
    return builder.sign(key, algorithm, **kw)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def originals() -> dict[str, x509.Certificate]:
    return {
        "rsa": _lax_root(rsa.generate_private_key(65537, 2048)),
        "p256": _lax_root(ec.generate_private_key(ec.SECP256R1())),
        "p384": _lax_root(ec.generate_private_key(ec.SECP384R1()), hashes.SHA384()),
        "ed25519": _lax_root(ed25519.Ed25519PrivateKey.generate(), None),
    }


def _ext(cert: x509.Certificate, oid: x509.ObjectIdentifier) -> x509.Extension[x509.ExtensionType]:
    return cert.extensions.get_extension_for_oid(oid)


@pytest.mark.parametrize("kind", ["rsa", "p256", "p384", "ed25519"])
def test_an_equivalent_keeps_the_root_and_corrects_only_the_defects(
    originals: dict[str, x509.Certificate], kind: str
) -> None:
    raw = originals[kind]
    original = Certificate.from_x509(raw, "root.pem")
    assert original.strict_defects == _ALL_DEFECTS
    equivalent = equivalent_anchor(original)
    assert equivalent is not None
    new = x509.load_der_x509_certificate(equivalent.der)
    # the same name, key, serial, validity and constraints
    assert (new.subject, new.issuer, new.serial_number) == (raw.subject, raw.issuer, raw.serial_number)
    assert new.public_key() == raw.public_key()
    assert (new.not_valid_before_utc, new.not_valid_after_utc) == (raw.not_valid_before_utc, raw.not_valid_after_utc)
    for oid in (ExtensionOID.NAME_CONSTRAINTS, ExtensionOID.EXTENDED_KEY_USAGE):
        assert _ext(new, oid) == _ext(raw, oid)
    bc = _ext(new, ExtensionOID.BASIC_CONSTRAINTS)
    assert bc.critical and bc.value == x509.BasicConstraints(ca=True, path_length=1)
    # the defects corrected
    assert equivalent.strict_defects == () and equivalent.is_ca and equivalent.kind == "root CA"
    assert _ext(new, ExtensionOID.SUBJECT_KEY_IDENTIFIER).value == x509.SubjectKeyIdentifier.from_public_key(
        raw.public_key()  # type: ignore[arg-type]
    )
    usage = _ext(new, ExtensionOID.KEY_USAGE)
    assert usage.critical and usage.value.key_cert_sign and usage.value.crl_sign  # type: ignore[attr-defined]
    # the original's signature algorithm (so OpenSSL sees a self-signed certificate) and signature value
    assert new.signature_algorithm_oid == raw.signature_algorithm_oid
    assert new.signature == raw.signature
    # the original's extensions in their order, then the additions in a fixed one
    assert [e.oid for e in new.extensions] == [e.oid for e in raw.extensions] + [
        ExtensionOID.SUBJECT_KEY_IDENTIFIER,
        ExtensionOID.KEY_USAGE,
    ]
    assert (equivalent.original_sha256, equivalent.original_defects) == (original.sha256, _ALL_DEFECTS)
    assert equivalent.spki_sha256 == original.spki_sha256 and equivalent.source == "root.pem"
    # an equivalent needs nothing more: it is not rewritten again
    assert equivalent_anchor(equivalent) is None


def test_the_same_original_gives_the_same_bytes_in_every_process(originals: dict[str, x509.Certificate]) -> None:
    pems = {k: v.public_bytes(serialization.Encoding.PEM).decode() for k, v in originals.items()}
    here = {}
    for kind, pem in pems.items():
        first = equivalent_anchor(Certificate.from_x509(originals[kind]))
        second = equivalent_anchor(Certificate.from_x509(x509.load_pem_x509_certificate(pem.encode())))
        assert first is not None and second is not None and first.der == second.der
        here[kind] = first.sha256
    child = textwrap.dedent("""
        import json, sys
        from cryptography import x509
        from sly_nb_tls._anchors import equivalent_anchor
        from sly_nb_tls._certs import Certificate
        pems = json.load(sys.stdin)
        print(json.dumps({k: equivalent_anchor(Certificate.from_x509(x509.load_pem_x509_certificate(v.encode()))).sha256
                          for k, v in pems.items()}))
    """)
    out = subprocess.run([sys.executable, "-c", child], input=json.dumps(pems), capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == here


def test_only_a_root_with_only_structural_defects_is_rewritten(originals: dict[str, x509.Certificate]) -> None:
    lax = issue("Lax Root", ca=True, strict_compliant=False)
    # an intermediate and a leaf with strict defects: named, never rewritten
    intermediate = issue("Lax Intermediate", issuer=lax, ca=True, strict_compliant=False)
    leaf = issue("lax.example.test", issuer=intermediate, names=["lax.example.test"], strict_compliant=False)
    for cert in (intermediate, leaf):
        parsed = Certificate.from_x509(cert.cert)
        assert parsed.strict_defects and equivalent_anchor(parsed) is None
    # a self-signed leaf is not a CA; a compliant root needs nothing
    self_signed_leaf = issue("self.example.test", names=["self.example.test"], strict_compliant=False)
    assert equivalent_anchor(Certificate.from_x509(self_signed_leaf.cert)) is None
    assert equivalent_anchor(Certificate.from_x509(issue("Good Root", ca=True).cert)) is None
    # RSA-PSS: its parameters would have to be written exactly as they were; left as it is
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
    pss_root = _lax_root(rsa.generate_private_key(65537, 2048), hashes.SHA256(), rsa_padding=pss)
    assert Certificate.from_x509(pss_root).strict_defects and equivalent_anchor(Certificate.from_x509(pss_root)) is None


# -- add, status, remove, the policy -------------------------------------------------------------
@pytest.fixture(scope="module")
def lax_pki() -> DemoPKI:
    """A chain for 127.0.0.1 that ends at a root with basicConstraints not critical, no keyUsage and no SKI."""
    root = issue("Lax Inspection Root", ca=True, strict_compliant=False)
    intermediate = issue("Inspection Intermediate", issuer=root, ca=True)
    leaf = issue("127.0.0.1", issuer=intermediate, names=["127.0.0.1", "localhost"])
    return DemoPKI(root, intermediate, leaf)


@pytest.fixture(scope="module")
def lax_server(lax_pki: DemoPKI) -> Iterator[DemoServer]:
    with DemoServer(lax_pki) as server:
        yield server


def _original_and_equivalent(pki: DemoPKI) -> tuple[Certificate, Certificate]:
    original = Certificate.from_x509(pki.root.cert)
    equivalent = equivalent_anchor(original)
    assert equivalent is not None
    return original, equivalent


def test_add_trusts_the_equivalent_says_so_and_remove_takes_either_fingerprint(
    lax_server: DemoServer, lax_pki: DemoPKI
) -> None:
    original, equivalent = _original_and_equivalent(lax_pki)
    added = sly_nb_tls.add_certs(lax_server.root_path)
    assert [c.sha256 for c in added.added] == [equivalent.sha256]
    [line] = [w for w in added.warnings if "equivalent anchor" in w]
    assert equivalent.short_fingerprint in line and original.short_fingerprint in line and "not marked critical" in line
    assert pem_shas(os.environ["SSL_CERT_FILE"]) >= {equivalent.sha256}
    assert original.sha256 not in pem_shas(os.environ["SSL_CERT_FILE"])
    status = sly_nb_tls.status()
    assert f"equivalent of {original.short_fingerprint}" in str(status)
    assert f"equivalent of {original.short_fingerprint}" in status._repr_html_()
    [shown] = status.to_dict()["certificates"]
    assert shown["sha256"] == equivalent.sha256
    assert shown["equivalent_of"] == {"sha256": original.sha256, "corrected": list(_ALL_DEFECTS)}
    # the same file again: already trusted, the same fingerprint
    assert [c.sha256 for c in sly_nb_tls.add_certs(lax_server.root_path).already_trusted] == [equivalent.sha256]
    removed = sly_nb_tls.remove(original.sha256[:16])  # the original's fingerprint names its equivalent
    assert [c.sha256 for c in removed.removed] == [equivalent.sha256]
    sly_nb_tls.add_certs(lax_server.root_path)
    assert [c.sha256 for c in sly_nb_tls.remove(equivalent.fingerprint).removed] == [equivalent.sha256]
    sly_nb_tls.add_certs(lax_server.root_path)
    assert [c.sha256 for c in sly_nb_tls.remove(lax_server.root_path).removed] == [equivalent.sha256]


def test_as_is_trusts_the_original(lax_server: DemoServer, lax_pki: DemoPKI) -> None:
    original, _ = _original_and_equivalent(lax_pki)
    added = sly_nb_tls.add_certs(lax_server.root_path, as_is=True)
    assert [c.sha256 for c in added.added] == [original.sha256]
    assert any("strict X.509 checks reject it" in w for w in added.warnings)
    assert not any("equivalent anchor" in w for w in added.warnings)


def test_in_a_chain_only_the_root_is_replaced(tmp_path: Path) -> None:
    pki = DemoPKI.create(strict_compliant=False)  # root and intermediate both without SKI, keyUsage, critical BC
    chain = tmp_path / "chain.pem"
    chain.write_text(pki.chain_pem)
    added = sly_nb_tls.add_certs(str(chain))
    intermediate = Certificate.from_x509(pki.intermediate.cert)
    original, equivalent = _original_and_equivalent(pki)
    assert {c.sha256 for c in added.added} == {intermediate.sha256, equivalent.sha256}
    assert any("Demo Intermediate CA: Python 3.13+ strict X.509 checks reject it" in w for w in added.warnings)
    assert original.sha256 not in {c.sha256 for c in added.added}


def test_a_base_that_holds_the_original_holds_the_equivalent_in_its_place(
    lax_server: DemoServer, lax_pki: DemoPKI, tmp_path: Path
) -> None:
    original, equivalent = _original_and_equivalent(lax_pki)
    store = tmp_path / "store.pem"
    store.write_text(Path(SYSTEM_BUNDLE).read_text() + lax_pki.root.pem)
    os.environ["SSL_CERT_FILE"] = os.environ["REQUESTS_CA_BUNDLE"] = str(store)
    sly_nb_tls.add_certs(lax_server.root_path)
    for var in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"):
        held = pem_shas(os.environ[var])
        assert equivalent.sha256 in held and original.sha256 not in held, var
        assert len(held) == len(pem_shas(store))  # the rest of the base is all there
    sly_nb_tls.reset()
    assert os.environ["SSL_CERT_FILE"] == str(store)


def test_an_installed_equivalent_still_knows_its_root_at_start(
    lax_pki: DemoPKI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The store holds the equivalent; its DER cannot say which root it stands for (its signature is the
    original's), so install writes that above the PEM block, and the start reads it without parsing."""
    from sly_nb_tls.trust.scopes import installed_stores
    from sly_nb_tls.trust.stored import read_stored

    original, equivalent = _original_and_equivalent(lax_pki)
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    sly_nb_tls.install(lax_pki.root.pem, scope="user")
    [store] = [d for s, d in installed_stores() if s == "user"]
    stored = read_stored([str(p) for p in sorted(store.glob("*.pem"))])
    [cert] = stored.certificates
    assert (cert.sha256, cert.original_sha256) == (equivalent.sha256, original.sha256)
    assert cert.summary_row()[1].startswith("root CA, equivalent of")  # parsed on first use, still a root
    assert cert.equivalent_of == {"sha256": original.sha256, "corrected": list(_ALL_DEFECTS)}
    # A base holding the original gets the equivalent in its place at start too.
    base = tmp_path / "base.pem"
    base.write_text(Path(SYSTEM_BUNDLE).read_text() + lax_pki.root.pem)
    os.environ["SSL_CERT_FILE"] = str(base)
    from sly_nb_tls.trust.startup import apply_at_start, forget

    forget()
    apply_at_start()
    held = pem_shas(os.environ["SSL_CERT_FILE"])
    assert equivalent.sha256 in held and original.sha256 not in held


def _policy(tmp_path: Path, text: str) -> None:
    path = tmp_path / "policy.toml"
    path.write_text(text)
    os.environ["SLY_NB_TLS_POLICY"] = str(path)


def test_the_policy_names_an_equivalent_by_either_fingerprint(
    lax_server: DemoServer, lax_pki: DemoPKI, tmp_path: Path
) -> None:
    original, equivalent = _original_and_equivalent(lax_pki)
    for denied in (original.sha256, original.sha256[:16], equivalent.sha256):
        _policy(tmp_path, f'deny = ["{denied}"]\n')
        with pytest.raises(PolicyError, match="deny list"):
            sly_nb_tls.add_certs(lax_server.root_path)
        assert not sly_nb_tls.status().certificates
    for allowed in (original.sha256, equivalent.sha256):
        _policy(tmp_path, f'allow = ["{allowed}"]\n')
        assert [c.sha256 for c in sly_nb_tls.add_certs(lax_server.root_path).added] == [equivalent.sha256]
        sly_nb_tls.reset()
    _policy(tmp_path, f'allow = ["{"0" * 64}"]\n')
    with pytest.raises(PolicyError, match="allow list"):
        sly_nb_tls.add_certs(lax_server.root_path)


# -- real handshakes -------------------------------------------------------------------------------
def _handshake(url: str, strict: bool) -> str:
    """urllib with a context made now (after add), strict or lax on any Python (3.13's default is
    strict): "ok", or OpenSSL's reason."""
    context = ssl.create_default_context()
    if strict:
        context.verify_flags |= ssl.VERIFY_X509_STRICT
    else:
        context.verify_flags &= ~ssl.VERIFY_X509_STRICT
    try:
        with urllib.request.urlopen(url + "/", context=context, timeout=10):
            return "ok"
    except urllib.error.HTTPError:
        return "ok"  # an HTTP answer: the handshake verified
    except urllib.error.URLError as exc:
        return str(getattr(exc.reason, "verify_message", exc.reason))


def _requests_strict(url: str) -> str:
    import requests
    from requests.adapters import HTTPAdapter

    class _Strict(HTTPAdapter):
        def init_poolmanager(self, *args: object, **kwargs: object) -> None:
            context = ssl.create_default_context()
            context.verify_flags |= ssl.VERIFY_X509_STRICT
            kwargs["ssl_context"] = context
            super().init_poolmanager(*args, **kwargs)  # type: ignore[arg-type]

    with requests.Session() as session:
        session.mount("https://", _Strict())
        try:
            session.get(url + "/", timeout=10)  # any HTTP answer: the handshake verified
            return "ok"
        except requests.exceptions.SSLError as exc:
            return str(exc)


def test_strict_and_lax_handshakes_here_before_and_after_add(lax_server: DemoServer) -> None:
    # Before: the original trusted as it is (the variable names it): lax accepts it, strict refuses it.
    os.environ["SSL_CERT_FILE"] = lax_server.root_path
    assert _handshake(lax_server.url, strict=False) == "ok"
    assert "not marked critical" in _handshake(lax_server.url, strict=True)
    assert "not marked critical" in _requests_strict(lax_server.url)
    sly_nb_tls.add_certs(lax_server.root_path)
    assert _handshake(lax_server.url, strict=True) == "ok"
    assert _handshake(lax_server.url, strict=False) == "ok"
    assert _requests_strict(lax_server.url) == "ok"
    import requests

    assert requests.get(lax_server.url + "/", timeout=10).status_code
    report = sly_nb_tls.test_connection(lax_server.url)
    assert report.ok and "via the equivalent anchor" in str(report), report


_CHILD_PYTHON = textwrap.dedent("""
    import json, os, ssl, sys, urllib.error, urllib.request
    import requests
    import sly_nb_tls
    url, root = sys.argv[1], sys.argv[2]
    path = "/"

    def context():
        c = ssl.create_default_context()
        if sys.version_info < (3, 13):
            c.verify_flags |= ssl.VERIFY_X509_STRICT
        return c

    def fetch(**kw):
        try:
            with urllib.request.urlopen(url + path, timeout=10, **kw):
                return "ok"
        except urllib.error.HTTPError:
            return "ok"  # an HTTP answer: the handshake verified
        except Exception as exc:
            return str(getattr(getattr(exc, "reason", None), "verify_message", exc))

    out = {"version": list(sys.version_info[:2]), "before": {}, "after": {}}
    # the original trusted as it is, as a store that holds it would (requests' variable: what `test` checks)
    os.environ["SSL_CERT_FILE"] = os.environ["REQUESTS_CA_BUNDLE"] = root
    before = sly_nb_tls.test_connection(url)
    out["before"] = {"test": before.problem or "ok", "strict": fetch(context=context())}
    added = sly_nb_tls.add_certs(root)
    after = sly_nb_tls.test_connection(url)
    out["after"] = {
        "test": after.problem or "ok",
        "test_text": str(after),
        "strict": fetch(context=context()),
        "urllib": fetch(),
        "requests": "ok" if requests.get(url + path, timeout=10).status_code else "error",
        "default_context_flags": int(ssl.create_default_context().verify_flags),
    }
    print(json.dumps(out))
""")


def _nox_python(version: str) -> str:
    path = Path(__file__).parent / ".nox" / f"tests-{version.replace('.', '-')}" / "bin" / "python"
    if not path.exists():
        pytest.skip(f"no nox venv for Python {version} ({path})")
    return str(path)


@pytest.mark.slow
@pytest.mark.parametrize("version", ["3.13", "3.12", "3.10"])
def test_python_children_under_strict_checks(lax_server: DemoServer, version: str) -> None:
    """3.13's default context is strict; 3.10-3.12 get VERIFY_X509_STRICT set by hand."""
    python = _nox_python(version)
    env = {k: v for k, v in os.environ.items() if k not in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE")}
    env["PYTHONPATH"] = str(Path(sly_nb_tls.__file__).parent.parent)
    done = subprocess.run(
        [python, "-c", _CHILD_PYTHON, lax_server.url, lax_server.root_path],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["version"] == [int(p) for p in version.split(".")]
    assert "not marked critical" in out["before"]["strict"]
    if version == "3.13":
        assert out["before"]["test"] == "strict_rejected"
        assert out["after"]["default_context_flags"] & ssl.VERIFY_X509_STRICT
    after = out["after"]
    assert (after["test"], after["strict"], after["urllib"], after["requests"]) == ("ok", "ok", "ok", "ok"), after
    assert "via the equivalent anchor" in after["test_text"]


def _tool_commands(url: str) -> dict[str, list[str]]:
    node = (
        f"require('https').get('{url}/public/api/v3/instance.version', "
        "r => { console.log(r.statusCode); r.resume(); process.exit(0); })"
        ".on('error', e => { console.error(e.code || e.message); process.exit(3); })"
    )
    return {
        "curl": ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", url + "/public/api/v3/instance.version"],
        "node": ["node", "-e", node],
        "wget": ["wget", "-q", "-O", "/dev/null", url + "/public/api/v3/instance.version"],
        "git": ["git", "ls-remote", url + "/repo.git"],
    }


def _run_tool(tool: str, url: str, env: dict[str, str]) -> tuple[bool, str]:
    """(the TLS handshake verified, what the tool said)."""
    done = subprocess.run(_tool_commands(url)[tool], capture_output=True, text=True, env=env, timeout=60)
    said = (done.stdout + done.stderr).strip()
    if tool == "git":  # no repository there: a 404 after a verified handshake
        return "not found" in said or "error: 404" in said, said
    if tool == "wget":  # 8: the server answered with an error status (after a verified handshake); 5: TLS failed
        return done.returncode in (0, 8), said
    return done.returncode == 0, said


@pytest.mark.slow
@pytest.mark.parametrize("tool", ["curl", "git", "node", "wget"])
def test_child_tools_after_add(lax_server: DemoServer, tool: str) -> None:
    if not has_tool(tool):
        pytest.skip(f"{tool} is not installed")
    home = {"HOME": os.environ.get("HOME", "/tmp"), "PATH": os.environ["PATH"], "GIT_TERMINAL_PROMPT": "0"}
    ok, said = _run_tool(tool, lax_server.url, home)
    assert not ok, said  # the root is trusted nowhere yet
    sly_nb_tls.add_certs(lax_server.root_path)
    ok, said = _run_tool(tool, lax_server.url, {**os.environ, "GIT_TERMINAL_PROMPT": "0"})
    assert ok, said


_JAVA_CLIENT = """
import java.net.URL;
import javax.net.ssl.HttpsURLConnection;

public class Fetch {
    public static void main(String[] args) throws Exception {
        HttpsURLConnection c = (HttpsURLConnection) new URL(args[0]).openConnection();
        try {
            System.out.println(c.getResponseCode());
        } catch (javax.net.ssl.SSLException e) {
            System.out.println("TLS: " + e.getMessage());
            System.exit(3);
        }
    }
}
"""


@pytest.mark.slow
def test_a_jvm_trusts_the_equivalent_anchor(lax_server: DemoServer, tmp_path: Path) -> None:
    """A child JVM, through the truststore `add` names in JAVA_TOOL_OPTIONS (the JDK's roots plus the equivalent)."""
    if not (has_tool("java") and has_tool("javac")):
        pytest.skip("no JDK")
    (tmp_path / "Fetch.java").write_text(_JAVA_CLIENT)
    subprocess.run(["javac", "-d", str(tmp_path), str(tmp_path / "Fetch.java")], check=True, timeout=120)
    url = lax_server.url + "/public/api/v3/instance.version"

    def fetch() -> str:  # a child of this process: it inherits os.environ, JAVA_TOOL_OPTIONS included
        done = subprocess.run(["java", "-cp", str(tmp_path), "Fetch", url], capture_output=True, text=True,
                              timeout=120)  # fmt: skip
        return done.stdout.strip() or done.stderr.strip()

    os.environ.pop("JAVA_TOOL_OPTIONS", None)
    assert fetch().startswith("TLS:")
    result = sly_nb_tls.add_certs(lax_server.root_path)
    assert result.added[0].equivalent_of is not None  # the JVM got the equivalent, not the original
    assert fetch().isdigit()  # an HTTP answer
    sly_nb_tls.reset()
    assert fetch().startswith("TLS:")


def test_openssl_sees_the_equivalent_as_self_signed(lax_pki: DemoPKI, tmp_path: Path) -> None:
    """`openssl verify -x509_strict`: the original fails for its basicConstraints, its equivalent verifies."""
    if not has_tool("openssl"):
        pytest.skip("no openssl")
    original, equivalent = _original_and_equivalent(lax_pki)
    (tmp_path / "orig.pem").write_text(original.pem)
    (tmp_path / "equiv.pem").write_text(equivalent.pem)
    (tmp_path / "inter.pem").write_text(lax_pki.intermediate.pem)

    def verify(anchor: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["openssl", "verify", "-x509_strict", "-CAfile", str(tmp_path / anchor),
                               str(tmp_path / "inter.pem")], capture_output=True, text=True)  # fmt: skip

    assert verify("orig.pem").returncode != 0
    assert verify("equiv.pem").returncode == 0, verify("equiv.pem").stderr
    assert shutil.which("openssl")
