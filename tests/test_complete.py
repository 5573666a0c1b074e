"""Chain completion: the root a server does not send, found on this machine or through AIA; advice that never loops.

Loopback PKIs only: root → intermediate → leaf, the server sending leaf + intermediate,
and a loopback HTTP server answering the intermediate's caIssuers URL.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs7

import sly_nb_tls
from sly_nb_tls.clients.stores import keychain_certificates, windows_certificates
from sly_nb_tls.demo import DemoPKI, DemoServer, IssuedCert, issue
from sly_nb_tls.diagnose.issuers import MAX_AIA_FETCHES

from .servers import http_files

ROOT_DIR = Path(__file__).resolve().parents[1]


def _der(c: IssuedCert) -> bytes:
    return c.cert.public_bytes(serialization.Encoding.DER)


ENCODINGS = {
    "der": _der,
    "pem": lambda c: c.pem.encode(),
    "p7c": lambda c: pkcs7.serialize_certificates([c.cert], serialization.Encoding.DER),
}


@contextmanager
def aia_pki(answer: bytes | None = None, encoding: str = "der", *, urls: tuple[str, ...] = ("/root.cer",),
            delay: float = 0.0, drip: float = 0.0) -> Iterator[tuple[DemoServer, IssuedCert, str]]:  # fmt: skip
    """A server sending leaf + intermediate; the intermediate's caIssuers URLs point at a loopback HTTP server."""
    files: dict[str, bytes] = {}
    with http_files(files, delay=delay, drip=drip) as base:
        root = issue("AIA Test Root CA", ca=True)
        full = [u if "://" in u else base + u for u in urls]
        inter = issue("AIA Test Issuing CA", issuer=root, ca=True, ca_issuers=full)
        leaf = issue("127.0.0.1", issuer=inter, names=("127.0.0.1",))
        files["/root.cer"] = answer if answer is not None else ENCODINGS[encoding](root)
        with DemoServer(DemoPKI(root, inter, leaf)) as server:
            yield server, root, full[0]


# --- AIA --------------------------------------------------------------------------------------
# PEM in the quick part; the other encodings only in the full run (each is a full fetch-save-add-test).
@pytest.mark.parametrize(
    "encoding", [e if e == "pem" else pytest.param(e, marks=pytest.mark.slow) for e in sorted(ENCODINGS)]
)
def test_the_root_is_fetched_through_aia_and_fetch_save_add_test_works(
    encoding: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ca_env: bool
) -> None:
    monkeypatch.chdir(tmp_path)
    with aia_pki(encoding=encoding) as (server, root, url):
        before = sly_nb_tls.test_connection(server.url)
        assert before.problem == "untrusted_root"
        assert before.completion is not None and before.completion.fetches == 1  # one round trip, one missing link
        assert [c.source for c in before.completion.path] == ["presented", "presented", f"aia:{url}"]
        assert f"aia:{url}" in before.cause and "fetch" in before.fix and "root.crt" in before.fix
        fetched = sly_nb_tls.fetch_chain(server.url, save="root.crt")
        assert [c.sha256 for c in fetched.saved] == [Certificate_sha(root)]
        assert [c.source for c in fetched.completed] == [f"aia:{url}"] and fetched.saved[0].source == f"aia:{url}"
        data = fetched.to_dict()
        assert data["completed"][0]["source"] == f"aia:{url}" and data["chain"][0]["source"] == "presented"
        assert f"aia:{url}" in str(fetched) and f"aia:{url}" in fetched._repr_html_()
        assert "fetched" in fetched._repr_html_()  # the picture marks how each link was obtained
        sly_nb_tls.add_certs("root.crt")
        after = sly_nb_tls.test_connection(server.url)
    assert after.ok, str(after)


def Certificate_sha(c: IssuedCert) -> str:
    import hashlib

    return hashlib.sha256(_der(c)).hexdigest()


def test_a_certificate_with_the_issuers_name_but_another_key_is_not_its_issuer() -> None:
    """Names alone prove nothing: the signature (and AKI/SKI) decide, so an impostor never completes a chain."""
    impostor = issue("AIA Test Root CA", ca=True)  # the real root's name, another key
    with aia_pki(answer=_der(impostor)) as (server, _root, _url):
        r = sly_nb_tls.test_connection(server.url)
    assert r.completion is not None and r.completion.fetches == 1
    assert r.completion.root is None and r.completion.missing == "AIA Test Root CA"


@pytest.mark.slow  # waits out bounded fetches, ~2.5 s: the full run has it, the quick part does not
def test_aia_edge_cases_are_reported_and_bounded() -> None:
    # over 64 KiB
    with aia_pki(answer=b"\x30" * (70 * 1024)) as (server, _root, _url):
        big = sly_nb_tls.test_connection(server.url)
    assert big.completion is not None and big.completion.root is None
    assert any("over 64 KiB" in p for p in big.completion.aia_problems), big.completion.aia_problems
    # a 404
    with aia_pki(urls=("/<b>elsewhere</b>.cer",)) as (server, _root, _url):
        missing = sly_nb_tls.test_connection(server.url)
    assert missing.completion is not None and any("HTTP 404" in p for p in missing.completion.aia_problems)
    assert "<b>elsewhere" not in missing._repr_html_() and "&lt;b&gt;elsewhere" in missing._repr_html_()
    assert "ask your admin for the root CA certificate" in missing.fix and "AIA caIssuers URLs" in missing.fix
    # ldap:// only: reported, not fetched
    with aia_pki(urls=("ldap://ldap.corp.example/CN=Root?cACertificate",)) as (server, _root, _url):
        ldap = sly_nb_tls.test_connection(server.url)
    assert ldap.completion is not None and ldap.completion.fetches == 0
    assert any("ldap:// is not fetched" in p for p in ldap.completion.aia_problems)
    # at most 5 fetches, whatever the certificate lists
    many = tuple(f"/missing-{i}.cer" for i in range(8))
    with aia_pki(urls=many) as (server, _root, _url):
        capped = sly_nb_tls.test_connection(server.url)
    assert capped.completion is not None and capped.completion.fetches == MAX_AIA_FETCHES
    assert any(f"{MAX_AIA_FETCHES} fetches already made" in p for p in capped.completion.aia_problems)


@pytest.mark.slow  # waits out a deadline on purpose: the full run only
def test_a_slow_aia_server_stays_within_the_timeout() -> None:
    """The AIA server would answer after 30 s; the test's 3 s bound the fetch (no clock needed: a fetch
    that waited would have got the root)."""
    with aia_pki(delay=30) as (server, _root, _url):
        r = sly_nb_tls.test_connection(server.url, timeout=3)
    assert r.problem == "untrusted_root" and r.completion is not None and r.completion.root is None
    assert any("timed out" in p for p in r.completion.aia_problems), r.completion.aia_problems


@pytest.mark.slow  # waits out a deadline on purpose: the full run only
def test_a_dripping_aia_server_stays_within_the_timeout() -> None:
    """Headers at once, then one byte every 0.5 s: each read is quick, the whole answer is not."""
    with aia_pki(drip=0.5) as (server, _root, _url):
        r = sly_nb_tls.test_connection(server.url, timeout=3)
    assert r.completion is not None and r.completion.root is None
    assert any("timed out" in p for p in r.completion.aia_problems), r.completion.aia_problems


def test_aia_goes_direct_when_the_connection_does(monkeypatch: pytest.MonkeyPatch) -> None:
    """--direct means direct for the AIA fetch too, whatever HTTPS_PROXY/HTTP_PROXY say."""
    from .servers import closed_port

    with closed_port() as port, aia_pki() as (server, _root, _url):
        os.environ["HTTP_PROXY"] = os.environ["HTTPS_PROXY"] = f"http://127.0.0.1:{port}"
        r = sly_nb_tls.test_connection(server.url, proxy="")
    assert r.completion is not None and r.completion.root is not None, r.completion.aia_problems


def test_add_system_never_registers_our_own_bundle(tmp_path: Path) -> None:
    """After an add, SSL_CERT_FILE names our bundle: --system must take the real store, or a
    removed extra would stay trusted as "system"."""
    extra = issue("Not A System CA", ca=True)
    added = sly_nb_tls.add_certs(extra.pem).added[0]
    system = sly_nb_tls.add_certs(system=True)
    assert added.sha256 not in {c.sha256 for c in system.added}
    sly_nb_tls.remove(added.sha256)
    assert added.sha256 not in {c.sha256 for c in sly_nb_tls.status().certificates}


def test_an_aia_loop_ends() -> None:
    """A is issued by B, B by A (cross-signed), and A's caIssuers serves B: the walk stops at the loop."""
    from cryptography.hazmat.primitives.asymmetric import ec

    key_a, key_b = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    files: dict[str, bytes] = {}
    with http_files(files) as base:
        b_self = issue("Loop CA B", ca=True, key=key_b)
        a = issue("Loop CA A", issuer=b_self, ca=True, key=key_a, ca_issuers=[base + "/b.cer"])
        b = issue("Loop CA B", issuer=a, ca=True, key=key_b, ca_issuers=[base + "/a.cer"])
        files["/b.cer"], files["/a.cer"] = _der(b), _der(a)
        leaf = issue("127.0.0.1", issuer=a, names=("127.0.0.1",))
        with DemoServer(DemoPKI(b, a, leaf)) as server:
            r = sly_nb_tls.test_connection(server.url)
    assert r.problem == "untrusted_root" and r.completion is not None
    assert r.completion.fetches <= MAX_AIA_FETCHES
    assert any("a loop" in p for p in r.completion.aia_problems), r.completion.aia_problems


# --- this machine's stores ------------------------------------------------------------------------
@pytest.fixture
def cert_dir_pki(tmp_path: Path) -> Iterator[tuple[DemoServer, IssuedCert, Path]]:
    """A second PKI whose root lives only in a hashed SSL_CERT_DIR of the test's."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to name the hashed-directory file")
    pki = DemoPKI.create(root_name="Store Only Root CA")
    store = tmp_path / "certs"
    store.mkdir()
    pem = tmp_path / "root.pem"
    pem.write_text(pki.root.pem)
    subject_hash = subprocess.run(["openssl", "x509", "-hash", "-noout", "-in", str(pem)], capture_output=True,
                                  text=True, check=True).stdout.strip()  # fmt: skip
    (store / f"{subject_hash}.0").write_text(pki.root.pem)
    os.environ["SSL_CERT_DIR"] = str(store)
    with DemoServer(pki) as server:
        yield server, pki.root, store / f"{subject_hash}.0"


def test_a_root_in_a_local_store_is_found_and_the_advice_says_where(
    cert_dir_pki: tuple[DemoServer, IssuedCert, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server, _root, hashed = cert_dir_pki
    monkeypatch.chdir(tmp_path)
    r = sly_nb_tls.test_connection(server.url)
    assert r.problem == "untrusted_root" and r.completion is not None
    assert r.completion.path[-1].source == f"dir:{hashed}" and r.completion.fetches == 0
    assert f"dir:{hashed}" in r.fix and "sly_nb_tls.add_certs(system=True)" in r.fix
    assert "store requests does not read" in r.fix
    assert "[dir:" in str(r) and "found" in r._repr_html_()
    fetched = sly_nb_tls.fetch_chain(server.url, save="root.crt")
    assert [c.common_name for c in fetched.saved] == ["Store Only Root CA"]
    # the explicit widening works as well, and is undone by reset
    sly_nb_tls.add_certs(system=True)
    assert sly_nb_tls.test_connection(server.url).ok
    sly_nb_tls.reset()
    assert sly_nb_tls.test_connection(server.url).problem == "untrusted_root"


def test_add_system_through_the_magic_is_summarised_and_reversible(
    cert_dir_pki: tuple[DemoServer, IssuedCert, Path],
) -> None:
    from IPython.core.interactiveshell import InteractiveShell

    server = cert_dir_pki[0]
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "sly_nb_tls")
    added = ip.run_line_magic("sly_tls", "add --system")
    assert any(c.common_name == "Store Only Root CA" for c in added.added)
    assert sly_nb_tls.test_connection(server.url).ok
    if len(added.added) > 12:
        assert f"… and {len(added.added) - 12} more" in str(added)
    ip.run_line_magic("sly_tls", "reset")
    assert sly_nb_tls.test_connection(server.url).problem == "untrusted_root"


def test_nothing_found_lists_what_was_searched_and_what_to_ask_for() -> None:
    pki = DemoPKI.create(root_name="Nowhere Root CA")
    with DemoServer(pki) as server:
        r = sly_nb_tls.test_connection(server.url)
    assert r.problem == "untrusted_root" and r.completion is not None and r.completion.missing == "Nowhere Root CA"
    assert "certifi" in r.fix and "the presented chain" in r.fix
    assert pki.intermediate.cert.extensions  # the AKI the admin is asked about:
    aki = (
        pki.intermediate.cert.extensions.get_extension_for_oid(
            __import__("cryptography").x509.oid.ExtensionOID.AUTHORITY_KEY_IDENTIFIER
        )
        .value.key_identifier.hex()
        .upper()
    )
    assert aki in r.fix and "fetch" not in r.fix  # never the fetch advice that cannot help


# --- recorded outputs of the other platforms --------------------------------------------------------
def test_macos_keychain_output_is_read() -> None:
    a, b = issue("Keychain Root A", ca=True), issue("Keychain Root B", ca=True)

    class Done:
        stdout = (a.pem + "junk between\n" + b.pem).encode()

    calls: list[list[str]] = []

    def run(args: list[str], **kw: object) -> Done:
        calls.append(args)
        return Done()

    found = keychain_certificates(run)
    assert calls[0] == ["security", "find-certificate", "-a", "-p"]
    assert {der for der, _ in found} == {_der(a), _der(b)} and {src for _, src in found} == {"keychain"}


def test_windows_store_output_is_read() -> None:
    root, inter = issue("Windows Root", ca=True), issue("Windows CA", ca=True)
    stores = {
        "ROOT": [(_der(root), "x509_asn", True), (b"crl", "pkcs_7_asn", True)],
        "CA": [(_der(inter), "x509_asn", True)],
    }
    found = windows_certificates(lambda name: stores[name])
    assert found == [(_der(root), "windows:ROOT"), (_der(inter), "windows:CA")]


# --- advice that never loops -------------------------------------------------------------------------
def _commands(fix: str) -> list[str]:
    return [c.strip() for c in re.findall(r"%sly_tls [^,;()]+", fix)]


@pytest.mark.parametrize("case", ["root-sent", "root-by-aia", "root-in-local-store", "self-signed-leaf",
                                  "intermediate-only-trusted", "wrong-name"])  # fmt: skip
def test_every_printed_fix_makes_progress(case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run the commands the magic's Fix line prints, as printed; the next test must not give the same advice."""
    from IPython.core.interactiveshell import InteractiveShell

    monkeypatch.chdir(tmp_path)
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "sly_nb_tls")
    with _situation(case, tmp_path) as url:
        before = ip.run_line_magic("sly_tls", f"test {url}")
        assert not before.ok
        commands = _commands(before.fix)
        assert commands, before.fix
        for command in commands:
            if command.startswith("%sly_tls add --system"):
                continue  # the alternative: the first way is taken
            if command.startswith("%sly_tls test"):
                after = ip.run_line_magic("sly_tls", command.removeprefix("%sly_tls "))
                break
            ip.run_line_magic("sly_tls", command.removeprefix("%sly_tls "))
        else:
            after = ip.run_line_magic("sly_tls", f"test {url}")
    assert after.ok or (after.problem, after.fix) != (before.problem, before.fix), (before.fix, str(after))
    assert after.ok, str(after)  # in each of these situations the printed way out is enough


@contextmanager
def _situation(case: str, tmp_path: Path) -> Iterator[str]:
    if case == "root-by-aia":
        with aia_pki() as (server, _root, _url):
            yield server.url
    elif case == "root-in-local-store":
        pki = DemoPKI.create(root_name="Local Store Root CA")
        store = tmp_path / "store"
        store.mkdir()
        (tmp_path / "r.pem").write_text(pki.root.pem)
        if shutil.which("openssl") is None:
            pytest.skip("openssl is needed to name the hashed-directory file")
        h = subprocess.run(["openssl", "x509", "-hash", "-noout", "-in", str(tmp_path / "r.pem")],
                           capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
        (store / f"{h}.0").write_text(pki.root.pem)
        os.environ["SSL_CERT_DIR"] = str(store)
        with DemoServer(pki) as server:
            yield server.url
    elif case == "root-sent":
        with DemoServer(presented="full") as server:
            yield server.url
    elif case == "self-signed-leaf":
        leaf = issue("127.0.0.1", names=("127.0.0.1",))
        with DemoServer(DemoPKI(leaf, leaf, leaf), presented="leaf") as server:
            yield server.url
    elif case == "intermediate-only-trusted":
        if sys.version_info >= (3, 13):
            pytest.skip("Python 3.13 accepts a trusted intermediate as the anchor")
        with aia_pki() as (server, _root, _url):
            inter = Path(server.chain_path).read_text().split("-----END CERTIFICATE-----")[0]
            sly_nb_tls.add_certs(inter + "-----END CERTIFICATE-----\n")  # the intermediate alone: code 2
            yield server.url
    elif case == "wrong-name":
        pki = DemoPKI.create(names=("localhost",))
        with DemoServer(pki, presented="full") as server:
            sly_nb_tls.add_certs(server.root_path)
            yield server.url
    else:  # pragma: no cover
        raise AssertionError(case)


# --- the panel ------------------------------------------------------------------------------------
def test_the_panel_finds_the_root_shows_where_from_and_trusts_it_after_confirmation() -> None:
    with aia_pki() as (server, _root, url):
        p = sly_nb_tls.panel()
        p.url.value = server.url
        p.fetch.click()
        assert p.find_root.layout.display == "" and p.trust.layout.display == "none"
        p.find_root.click()
        shown = p.connection_result.value
        assert "AIA Test Root CA" in shown and f"aia:{url}" in shown and p.trust_confirm.layout.display == ""
        assert not sly_nb_tls.status().active  # nothing trusted before the confirmation
        p.trust_confirm.click()
        assert [c.common_name for c in sly_nb_tls.status().certificates] == ["AIA Test Root CA"]
        assert sly_nb_tls.test_connection(server.url).ok
