"""Hardening v3: one regression test per defect a review reproduced (each was red on the code before the fix).

Real TLS on 127.0.0.1 with PKIs made here, real proxies and servers that misbehave on
purpose; every test starts from the CA variables cleared (tests/conftest.py), and sets
the ones it needs.
"""

from __future__ import annotations

import base64
import datetime as dt
import gc
import json
import os
import socket
import ssl
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtensionOID, NameOID

import sly_nb_tls
from sly_nb_tls.demo import DemoPKI, DemoServer, IssuedCert, issue, server_context

from .proxies import connect_proxy
from .servers import http_files

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "hardening-v3-token-6f1d9a"
PASSWORD = "S3cretPw"


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sly_nb_tls", *args], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120
    )


# -- 1. a proxy password in a URL without a scheme -------------------------------------------------
def test_a_proxy_password_without_a_scheme_is_shown_nowhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """requests and curl accept HTTPS_PROXY=user:password@host:port; the panel and `env` printed the password."""
    pytest.importorskip("ipywidgets")
    proxy = f"alice:{PASSWORD}@proxy.corp.example:3128"
    basic = base64.b64encode(f"alice:{PASSWORD}".encode()).decode()
    (tmp_path / "local.env").write_text(f"HTTPS_PROXY={proxy}\nSERVER_ADDRESS=https://127.0.0.1:9\n")
    monkeypatch.chdir(tmp_path)
    loaded = sly_nb_tls.load_env("local.env")
    assert os.environ["HTTPS_PROXY"] == proxy  # applied as given: only its display is masked
    p = sly_nb_tls.panel()
    shown = [str(loaded), loaded._repr_html_(), p.header.value, str(p)]
    everything = "\n".join(shown)
    assert "proxy.corp.example:3128" in everything  # the proxy is shown ...
    assert PASSWORD not in everything and basic not in everything  # ... its credentials never


@pytest.mark.parametrize(
    ("value", "secret"),
    [("alice:S3cret@Pw@proxy.corp:3128", "S3cret@Pw"), ('alice:S3cret"Pw@proxy.corp:3128', 'S3cret"Pw'),
     (":S3cretPw@proxy.corp:3128", "S3cretPw"), ("alice:S3cretPw@proxy.corp:3128", "S3cretPw")],
)  # fmt: skip
def test_every_shape_of_a_bare_proxy_password_is_masked(value: str, secret: str) -> None:
    from sly_nb_tls._secrets import redact, secret_values, strip_userinfo

    text = f"HTTPS_PROXY={value} and x|{value}"
    for shown in (strip_userinfo(text), redact(text, secret_values({"HTTPS_PROXY": value}))):
        assert secret not in shown and "proxy.corp:3128" in shown and shown.startswith("HTTPS_PROXY="), shown
        assert "x|***@proxy.corp:3128" in shown
    assert (
        strip_userinfo("git@github.com:org/repo and alice@example.com")
        == "git@github.com:org/repo and alice@example.com"
    )


@pytest.mark.slow  # every client of test --clients, ~2.3 s: the full run has it
# -- 2. the token goes to SERVER_ADDRESS only ----------------------------------------------------
def test_the_api_token_is_sent_only_to_server_address(tmp_path: Path) -> None:
    """Testing another host delivered x-api-key to it, from the probe and from every client of --clients."""
    with DemoServer(token=TOKEN) as other:
        sly_nb_tls.add_certs(other.root_path)
        os.environ.update(SERVER_ADDRESS="https://sly.corp.example", API_TOKEN=TOKEN)
        report = sly_nb_tls.test_connection(other.url, clients=True)
        seen = [path for _method, path in other.requests]
        assert not any("users.me" in p for p in seen), seen  # only GET / went there
        assert report.ok and report.api_checked is False
        assert any("API_TOKEN belongs to SERVER_ADDRESS (sly.corp.example:443)" in w for w in report.warnings)
        assert "send_token=True" in " ".join(report.warnings)
        asked = sly_nb_tls.test_connection(other.url, send_token=True)  # --token: the user names the URL
        assert asked.login == "alice" and any("users.me" in p for _m, p in other.requests)
        del os.environ["SERVER_ADDRESS"]  # no server named: API_TOKEN goes nowhere unasked
        unset = sly_nb_tls.test_connection(other.url)
        assert any("SERVER_ADDRESS, which is not set" in w for w in unset.warnings), unset.warnings
        os.environ["SERVER_ADDRESS"] = other.url  # its own server: sent
        own = sly_nb_tls.test_connection(other.url)
        assert own.login == "alice" and not any("API_TOKEN belongs" in w for w in own.warnings)


# -- 3. a 407 that echoes the proxy's own credential -----------------------------------------------
def test_a_407_reason_echoing_the_basic_credential_is_redacted(demo_server: DemoServer) -> None:
    basic = base64.b64encode(f"alice:{PASSWORD}".encode()).decode()
    answer = f"HTTP/1.1 407 Basic {basic} refused\r\nProxy-Authenticate: Basic realm=x\r\nContent-Length: 0\r\n\r\n"
    with connect_proxy(answer=answer.encode()) as (port, heads):
        proxy = f"http://alice:{PASSWORD}@127.0.0.1:{port}"
        report = sly_nb_tls.test_connection(demo_server.url, proxy=proxy)
    assert heads and f"Proxy-Authorization: Basic {basic}".encode() in heads[0]  # it was sent, to the proxy
    assert report.problem == "proxy_auth_required"
    shown = str(report) + report._repr_html_() + json.dumps(report.to_dict())
    assert basic not in shown and PASSWORD not in shown


# -- 4. AIA: no fetches a hostile server can aim at this machine's neighbours ----------------------
def _aia_chain(url: str) -> list[sly_nb_tls.Certificate]:
    from sly_nb_tls._sources import read_sources

    root = issue("SSRF Root CA", ca=True)
    inter = issue("SSRF Issuing CA", issuer=root, ca=True, ca_issuers=[url])
    leaf = issue("victim.example", issuer=inter, names=("victim.example",))
    return read_sources([leaf.pem + inter.pem]).certificates


def test_aia_is_not_fetched_from_loopback_for_a_server_that_is_not_on_loopback() -> None:
    """A server elsewhere named caIssuers URLs on 127.0.0.1: the kernel sent GETs to a local service."""
    from sly_nb_tls.diagnose.issuers import complete_chain

    asked: list[str] = []
    with http_files({}) as base:
        presented = _aia_chain(base + "/admin/delete-everything?confirm=1")
        # The tested server's address is only classified (public), never connected to here.
        done = complete_chain(presented, origin="8.8.8.8", left=lambda: 5.0)
        allowed = complete_chain(presented, origin="127.0.0.1", left=lambda: 5.0)  # the control: it is fetchable
        asked = allowed.aia_problems
    refused = [p for p in done.aia_problems if "loopback" in p]
    assert done.fetches == 0 and refused, done.aia_problems
    assert "the tested server is public" in refused[0]
    assert allowed.fetches == 1 and any("HTTP 404" in p for p in asked), asked


@pytest.mark.parametrize(
    ("address", "kind"),
    [("169.254.169.254", "never"), ("fe80::1", "never"), ("0.0.0.0", "never"), ("fd00:ec2::254", "never"),
     ("100.100.100.200", "never"), ("127.0.0.1", "loopback"), ("::1", "loopback"), ("10.1.2.3", "private"),
     ("192.168.0.10", "private"), ("::ffff:10.0.0.1", "private"), ("8.8.8.8", "public")],
)  # fmt: skip
def test_the_aia_address_rule(address: str, kind: str) -> None:
    from sly_nb_tls.diagnose.issuers import _MAY_FETCH, address_kind

    assert address_kind(address) == kind
    assert "never" not in set().union(*_MAY_FETCH.values())  # link-local & co. for no server at all
    assert ("private" in _MAY_FETCH["public"], "loopback" in _MAY_FETCH["private"]) == (False, False)


def test_aia_to_link_local_or_private_is_refused_by_the_rule() -> None:
    """Only the rule is asked (it resolves, never connects): no test ever sends a packet off loopback."""
    from sly_nb_tls.diagnose.issuers import _AiaFetcher

    cases = [
        ("http://169.254.169.254/latest/meta-data/", "127.0.0.1", "never fetched from"),
        ("http://[fe80::1]/ca.crt", "127.0.0.1", "never fetched from"),
        ("http://10.1.2.3/ca.crt", "8.8.8.8", "the tested server is public"),
        ("http://127.0.0.1/ca.crt", "10.1.2.3", "the tested server is private"),
        ("http://10.1.2.3/ca.crt", "127.0.0.1", ""),
        ("http://192.168.1.1/ca.crt", "10.1.2.3", ""),
    ]
    for url, origin, why in cases:
        refused, _checked = _AiaFetcher(None, lambda: 5.0, origin)._refused(url, 5.0)
        assert (why in refused) if why else refused == "", (url, origin, refused)
    # Through a proxy, a name this machine cannot resolve (an internal one) only for an internal server;
    # "a..b" fails to encode here, so no DNS query leaves the machine.
    through = "http://127.0.0.1:9"
    assert _AiaFetcher(through, lambda: 5.0, "8.8.8.8")._refused("http://jenkins..corp/ca.crt", 5.0)[0]
    assert _AiaFetcher(through, lambda: 5.0, "10.1.2.3")._refused("http://jenkins..corp/ca.crt", 5.0)[0] == ""


def test_aia_connects_to_the_address_it_checked() -> None:
    """A name is resolved once, judged, and the fetch connects to what was judged (no second lookup
    that DNS rebinding could answer differently); the name travels in the Host header."""
    from sly_nb_tls.diagnose.issuers import _to_address, complete_chain

    assert _to_address("http://pki.example:8080/r.crt?x=1", "127.0.0.1") == (
        "http://127.0.0.1:8080/r.crt?x=1",
        {"Host": "pki.example:8080"},
    )
    assert _to_address("http://pki.example/r.crt", "::1")[0] == "http://[::1]/r.crt"
    assert _to_address("https://pki.example/r.crt", "127.0.0.1") == ("https://pki.example/r.crt", {})
    root = issue("Pinned AIA Root CA", ca=True)
    with http_files({"/root.cer": root.cert.public_bytes(serialization.Encoding.DER)}) as base:
        by_name = base.replace("127.0.0.1", "localhost") + "/root.cer"  # ::1 first, then 127.0.0.1
        inter = issue("Pinned AIA Issuing CA", issuer=root, ca=True, ca_issuers=[by_name])
        leaf = issue("127.0.0.1", issuer=inter, names=("127.0.0.1",))
        presented = [sly_nb_tls.Certificate.from_x509(c.cert) for c in (leaf, inter)]
        done = complete_chain(presented, origin="127.0.0.1", left=lambda: 5.0)
    assert done.root is not None and done.root.source == f"aia:{by_name}", done.aia_problems


# -- 5. a pinned context made after add ------------------------------------------------------------
def test_a_context_pinned_to_its_own_cafile_after_add_gets_no_extras(
    demo_server: DemoServer, tmp_path: Path, ca_env: bool
) -> None:
    partner = issue("Partner Root CA", ca=True)
    (tmp_path / "partner.pem").write_text(partner.pem)
    sly_nb_tls.add_certs(demo_server.root_path)
    pinned = ssl.create_default_context(cafile=str(tmp_path / "partner.pem"))
    assert _handshake(pinned, demo_server.port) == "refused"
    import certifi

    default_store = ssl.create_default_context(cafile=certifi.where())  # a default store: gets them
    assert _handshake(default_store, demo_server.port) == "ok"
    assert sly_nb_tls.status().pinned >= 1


def _handshake(ctx: ssl.SSLContext, port: int) -> str:
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
            ctx.wrap_socket(raw, server_hostname="127.0.0.1"),
        ):
            return "ok"
    except ssl.SSLCertVerificationError:
        return "refused"


# -- 7. reset after a second add, and the note of the first ----------------------------------------
def test_reset_after_a_second_add_restores_what_something_else_set(demo_server: DemoServer, tmp_path: Path) -> None:
    other = issue("Someone Else's Root", ca=True)
    theirs = tmp_path / "theirs.pem"
    theirs.write_text(other.pem)
    sly_nb_tls.add_certs(demo_server.root_path)
    os.environ["REQUESTS_CA_BUNDLE"] = str(theirs)  # another tool repoints it after add
    assert any("REQUESTS_CA_BUNDLE" in w and "reset will leave it" in w for w in sly_nb_tls.status().warnings)
    second = sly_nb_tls.add_certs(issue("Second Root", ca=True).pem)
    assert any(f"REQUESTS_CA_BUNDLE was changed to {theirs}" in n and "reset sets it back" in n for n in second.notes)
    sly_nb_tls.reset()
    assert os.environ.get("REQUESTS_CA_BUNDLE") == str(theirs)


def test_a_variable_pointed_at_a_missing_file_after_add_is_left_and_said(demo_server: DemoServer) -> None:
    sly_nb_tls.add_certs(demo_server.root_path)
    os.environ["CURL_CA_BUNDLE"] = "/nonexistent/ca.pem"
    second = sly_nb_tls.add_certs(issue("Second Root", ca=True).pem)
    assert os.environ["CURL_CA_BUNDLE"] == "/nonexistent/ca.pem"  # not silently re-pointed
    assert any("CURL_CA_BUNDLE was changed to /nonexistent/ca.pem" in n and "left as it is" in n for n in second.notes)
    sly_nb_tls.reset()
    assert os.environ["CURL_CA_BUNDLE"] == "/nonexistent/ca.pem"


# -- 8. the user's urllib opener ------------------------------------------------------------------
def _users_opener(kind: str) -> urllib.request.OpenerDirector:
    """Openers users install: cookies, explicit proxies, or their own HTTPS context (3.12+ gives every
    HTTPSHandler a context, so on 3.12+ even the cookies-only one carries one)."""
    import http.cookiejar

    own_context = urllib.request.HTTPSHandler(context=ssl.create_default_context())
    if kind == "cookies":
        return urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), own_context)
    if kind == "proxy":
        return urllib.request.build_opener(urllib.request.ProxyHandler({"https": "http://127.0.0.1:9"}), own_context)
    if kind == "own-context":  # default handlers, a context on the default store (a client certificate, say)
        return urllib.request.build_opener(own_context)
    pinned = ssl.create_default_context(cadata=issue("Partner Root CA", ca=True).pem)
    return urllib.request.build_opener(urllib.request.HTTPSHandler(context=pinned))


@pytest.mark.parametrize("kind", ["cookies", "proxy", "own-context", "pinned-context"])
@pytest.mark.parametrize("installed", ["before-add", "after-add"])
def test_an_opener_the_user_installed_survives_add_and_reset(
    demo_server: DemoServer, installed: str, kind: str
) -> None:
    saved = getattr(urllib.request, "_opener", None)
    try:
        if installed == "before-add":
            opener = _users_opener(kind)
            urllib.request.install_opener(opener)
        sly_nb_tls.add_certs(demo_server.root_path)
        if installed == "after-add":
            opener = _users_opener(kind)
            urllib.request.install_opener(opener)
        assert urllib.request._opener is opener  # type: ignore[attr-defined]
        sly_nb_tls.reset()
        assert urllib.request._opener is opener  # type: ignore[attr-defined]
    finally:
        urllib.request.install_opener(saved)


def test_urlopens_own_opener_is_still_dropped_and_put_back(demo_server: DemoServer) -> None:
    """The other side of the rule: the opener urlopen() built for itself trusts the extras after add,
    and after reset is the one it was (3.12+: an HTTPSHandler with a context of its own)."""
    urllib.request.install_opener(None)
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(demo_server.url + "/", timeout=10)
    before = urllib.request._opener  # type: ignore[attr-defined]
    sly_nb_tls.add_certs(demo_server.root_path)
    with urllib.request.urlopen(demo_server.url + "/", timeout=10) as r:
        assert r.status == 200
    sly_nb_tls.reset()
    assert urllib.request._opener is before  # type: ignore[attr-defined]
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(demo_server.url + "/", timeout=10)


# -- 11. certificates cryptography cannot fully parse ----------------------------------------------
def _x400_leaf(issuer: IssuedCert) -> IssuedCert:
    """A server certificate whose SAN also holds an x400Address: OpenSSL loads and serves it."""
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    # GeneralNames ::= SEQUENCE { [7] 127.0.0.1, [3] ORAddress (an empty built-in attribute set) }
    san = bytes.fromhex("300a" + "87047f000001" + "a3023000")
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(issuer.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.UnrecognizedExtension(ExtensionOID.SUBJECT_ALTERNATIVE_NAME, san), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()), critical=False)
        .sign(issuer.key, hashes.SHA256())
    )
    return IssuedCert(cert, key)


def test_an_x400address_san_is_a_warning_not_a_traceback(tmp_path: Path) -> None:
    root = issue("X400 Root CA", ca=True)
    leaf = _x400_leaf(root)
    with pytest.raises(x509.UnsupportedGeneralNameType):
        _ = leaf.cert.extensions  # what made test, fetch and add crash
    with DemoServer(DemoPKI(root, root, leaf)) as server:
        fetched = sly_nb_tls.fetch_chain(server.url)
        assert fetched.chain[0].common_name == "127.0.0.1"
        assert any("extensions cannot be read" in w for w in fetched.chain[0].warnings)
        before = sly_nb_tls.test_connection(server.url)
        assert before.problem in ("untrusted_root", "missing_intermediate"), before
        (tmp_path / "leaf.pem").write_text(leaf.pem)
        added = sly_nb_tls.add_certs(str(tmp_path / "leaf.pem"))  # a leaf, but a readable one
        assert added.added and any("extensions cannot be read" in w for w in added.warnings)
        sly_nb_tls.add_certs(root.pem)
        assert sly_nb_tls.test_connection(server.url).ok


# -- 12. one line, exit 2, nothing changed ---------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["test", "https://[::1"], "not a valid URL"),
        (["fetch", "https://[zz]/"], "not a valid URL"),
        (["test", "https://127.0.0.1:9", "--timeout", "1e10"], "at most 3600 seconds"),
        (["demo-server", "--port", "70000"], "from 1 to 65535"),
        (["fetch", "https://127.0.0.1:9", "--save", "x" * 300 + ".pem"], ""),
    ],
    ids=["ipv6-unclosed", "ipv6-bad", "timeout-huge", "port-huge", "save-too-long"],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], expected: str, demo_server: DemoServer) -> None:
    if args[0] == "fetch" and "--save" in args:
        args = ["fetch", demo_server.url, *args[2:]]
    out = cli(*args)
    assert out.returncode == 2, out.stdout + out.stderr
    assert "Traceback" not in out.stderr and expected in out.stderr.strip().splitlines()[-1], out.stderr


def test_fetch_save_to_an_unwritable_place_is_a_storage_error(demo_server: DemoServer, tmp_path: Path) -> None:
    with pytest.raises(sly_nb_tls.errors.StorageError, match=r"cannot be used|no such directory"):
        sly_nb_tls.fetch_chain(demo_server.url, save=str(tmp_path / ("x" * 300 + ".pem")))
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(sly_nb_tls.errors.StorageError):
        sly_nb_tls.fetch_chain(demo_server.url, save=str(tmp_path / "file" / "chain.pem"))


def test_the_magic_rejects_bad_urls_and_timeouts_without_a_traceback() -> None:
    from IPython.core.error import UsageError
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "sly_nb_tls")
    try:
        for line in ("test https://[::1", "fetch https://[zz]/", "test https://127.0.0.1:9 --timeout 1e10"):
            with pytest.raises(UsageError):
                shell.run_line_magic("sly_tls", line)
    finally:
        shell.run_line_magic("unload_ext", "sly_nb_tls")


def test_add_persist_that_cannot_install_changes_nothing(
    demo_server: DemoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    profile = tmp_path / "ipython" / "profile_default"
    profile.mkdir(parents=True)
    (profile / "sly_nb_tls").write_text("a file where the store folder goes")
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    httpx = pytest.importorskip("httpx")
    made_before = httpx.Client()  # a live client: what it is given could not be taken back
    with pytest.raises(sly_nb_tls.errors.StorageError):
        sly_nb_tls.add_certs(demo_server.root_path, persist=True)
    with made_before, pytest.raises(httpx.ConnectError):
        made_before.get(demo_server.url + "/")
    st = sly_nb_tls.status()
    assert st.certificates == [] and not st.active and "REQUESTS_CA_BUNDLE" not in os.environ
    assert sorted(p.name for p in profile.iterdir()) == ["sly_nb_tls"]


# -- 13. every read of a user-named path is bounded -------------------------------------------------
def test_a_ca_variable_naming_a_fifo_never_blocks_add(tmp_path: Path, demo_server: DemoServer) -> None:
    """The files the CA variables named before add are read too (each variable's base)."""
    fifo = tmp_path / "bundle.fifo"
    os.mkfifo(fifo)
    os.environ["REQUESTS_CA_BUNDLE"] = str(fifo)
    os.environ["WGETRC"] = str(fifo)
    result = sly_nb_tls.add_certs(demo_server.root_path)  # before the fix: blocked for good, reading the FIFO
    assert result.added and os.environ["REQUESTS_CA_BUNDLE"] != str(fifo)
    assert demo_server.root_path and "BEGIN CERTIFICATE" in Path(os.environ["REQUESTS_CA_BUNDLE"]).read_text()


def test_a_fifo_or_dev_zero_in_the_installed_store_never_blocks_start(tmp_path: Path) -> None:
    store = tmp_path / "ipython" / "profile_default" / "sly_nb_tls"
    store.mkdir(parents=True)
    os.mkfifo(store / "0000000000000000.pem")
    (store / "1111111111111111.pem").symlink_to("/dev/zero")
    env = dict(os.environ, IPYTHONDIR=str(tmp_path / "ipython"), SLY_NB_TLS_DIR=str(tmp_path / "u"))
    code = "import sly_nb_tls.trust.startup as s; print(len(s.apply_at_start()), flush=True)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "2", out.stdout + out.stderr
    assert "not a regular file" in out.stderr


@pytest.mark.parametrize("kind", ["fifo", "dev-zero"])
def test_load_env_and_fetch_save_refuse_what_is_not_a_regular_file(
    kind: str, tmp_path: Path, demo_server: DemoServer
) -> None:
    path = tmp_path / "special"
    if kind == "fifo":
        os.mkfifo(path)
    else:
        path.symlink_to("/dev/zero")
    with pytest.raises(sly_nb_tls.errors.EnvFileError, match="not a regular file"):
        sly_nb_tls.load_env(str(path))
    with pytest.raises(sly_nb_tls.errors.StorageError, match="not a regular file"):
        sly_nb_tls.fetch_chain(demo_server.url, save=str(path))
    with pytest.raises(sly_nb_tls.errors.CertificateSourceError, match="not a regular file"):
        sly_nb_tls.add_certs(str(path))


# -- 14. --clients: a total deadline and a body cap for every client --------------------------------
@contextmanager
def misbehaving_tls_server(pki: DemoPKI, behaviour: str) -> Iterator[tuple[int, dict[str, object]]]:
    """HTTPS on 127.0.0.1 that answers 200 and then drips its body ("drip") or never stops ("endless").

    The first connection (the test's own probe) gets a plain JSON answer, so that the test
    has time left for the clients, which then meet the misbehaviour.

    Yields (port, facts): facts["sent"] is the most bytes any connection was sent before its
    client closed it; facts["closed"] is set once every connection has been closed by its client.
    """
    ctx = server_context([pki.leaf, pki.intermediate], pki.leaf)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()
    facts: dict[str, object] = {"sent": 0, "open": 0, "closed": threading.Event()}
    lock = threading.Lock()

    def serve(raw: socket.socket, first: bool) -> None:
        sent = 0
        try:
            with ctx.wrap_socket(raw, server_side=True) as conn:
                conn.settimeout(30)
                head = b""
                while b"\r\n\r\n" not in head:
                    chunk = conn.recv(4096)
                    if not chunk:
                        return
                    head += chunk
                if first:
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
                    return
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n")
                chunk = b"{" if behaviour == "drip" else b" " * 65536
                for _ in range(200 if behaviour == "drip" else 1 << 16):  # 40 s of drip, or 4 GiB
                    if stop.is_set():
                        return
                    conn.sendall(chunk)
                    sent += len(chunk)
                    with lock:
                        facts["sent"] = max(int(facts["sent"]), sent)  # type: ignore[call-overload]
                    if behaviour == "drip":
                        stop.wait(0.2)
        except (OSError, ssl.SSLError):
            pass  # the client closed it
        finally:
            with lock:
                facts["sent"] = max(int(facts["sent"]), sent)  # type: ignore[call-overload]
                facts["open"] = int(facts["open"]) - 1  # type: ignore[call-overload]
                if facts["open"] == 0:
                    facts["closed"].set()  # type: ignore[attr-defined]

    def loop() -> None:
        accepted = 0
        while not stop.is_set():
            try:
                raw, _ = listener.accept()
            except OSError:
                continue
            accepted += 1
            with lock:
                facts["open"] = int(facts["open"]) + 1  # type: ignore[call-overload]
                facts["closed"].clear()  # type: ignore[attr-defined]
            threading.Thread(target=serve, args=(raw, accepted == 1), daemon=True).start()

    t = threading.Thread(target=loop, daemon=True)
    t.start()
    try:
        yield listener.getsockname()[1], facts
    finally:
        stop.set()
        t.join(2)
        listener.close()


CLIENTS_IN_PROCESS = ["requests", "urllib.request", "urllib3", "httpx", "aiohttp"]


@pytest.mark.slow  # waits out a deadline on purpose: the full run only
def test_clients_end_at_the_tests_deadline_when_the_server_drips() -> None:
    """A server that drips for 40 s held `--timeout 3` for as long; each client now ends at the deadline."""
    pki = DemoPKI.create()
    sly_nb_tls.add_certs(pki.root.pem)
    with misbehaving_tls_server(pki, "drip") as (port, facts):
        report = sly_nb_tls.test_connection(f"https://127.0.0.1:{port}", clients=True, timeout=4)
        # When test returns, no client reads on in the background: the server sees every connection
        # closed.  (A socket dropped but still in a reference cycle is closed by the collector; one a
        # thread still reads from is not.)
        gc.collect()
        assert facts["closed"].wait(10), "a client was still reading after test returned"  # type: ignore[attr-defined]
    problems = {c.client: c.problem for c in report.clients}
    assert report.steps[-1].ok, report  # the probe's own exchange went through
    assert {problems[c] for c in CLIENTS_IN_PROCESS if c in problems} == {"timeout"}, problems


@pytest.mark.slow  # every client of test --clients, ~2.5 s: the full run has it
def test_clients_read_at_most_the_body_cap() -> None:
    """A 200 MB body grew the kernel by 456 MiB; each client now stops reading at 1 MiB."""
    pki = DemoPKI.create()
    sly_nb_tls.add_certs(pki.root.pem)
    with misbehaving_tls_server(pki, "endless") as (port, facts):
        report = sly_nb_tls.test_connection(f"https://127.0.0.1:{port}", clients=True, timeout=30)
    assert report.clients and all(c.problem != "timeout" for c in report.clients), report.clients
    # what the biggest connection was sent before its client hung up: the cap plus socket buffers
    assert int(facts["sent"]) < 16 * 1024 * 1024, facts["sent"]  # type: ignore[call-overload]


# -- 15. AIA fetches end with the test ------------------------------------------------------------
@pytest.mark.slow  # waits out a deadline on purpose: the full run only
def test_an_aia_fetch_ends_when_the_test_does() -> None:
    """At 1 byte every 0.5 s the fetch thread read on for minutes after test returned at its deadline."""
    hung_up = threading.Event()
    root = issue("Drip AIA Root CA", ca=True)
    files = {"/root.cer": root.cert.public_bytes(serialization.Encoding.DER)}
    with http_files(files, drip=0.5, hung_up=hung_up) as base:
        inter = issue("Drip AIA Issuing CA", issuer=root, ca=True, ca_issuers=[base + "/root.cer"])
        leaf = issue("127.0.0.1", issuer=inter, names=("127.0.0.1",))
        with DemoServer(DemoPKI(root, inter, leaf)) as server:
            report = sly_nb_tls.test_connection(server.url, timeout=3)
            assert hung_up.wait(10), "the AIA fetch was still reading after test returned"
    assert report.completion is not None and any("timed out" in p for p in report.completion.aia_problems)


# -- left open in the last notes -------------------------------------------------------------------
def test_status_clients_tells_httpx_without_trust_env_apart(demo_server: DemoServer) -> None:
    httpx = pytest.importorskip("httpx")
    sly_nb_tls.add_certs(demo_server.root_path)
    rows = {r.client: r for r in sly_nb_tls.status(clients=True).clients}
    with httpx.Client(trust_env=False) as client:
        try:
            reached = client.get(demo_server.url + "/").status_code == 200
        except httpx.ConnectError:
            reached = False
    assert rows["httpx trust_env=False"].sees_extras is reached  # what it says is what happens
    with httpx.Client() as client:
        assert client.get(demo_server.url + "/").status_code == 200
    assert rows["httpx"].sees_extras is True


def test_the_cli_speaks_the_terminals_language(demo_server: DemoServer, tmp_path: Path) -> None:
    from .helpers import controlled_env

    env = controlled_env(False) | {"SLY_NB_TLS_DIR": str(tmp_path / "u")}
    out = cli("test", demo_server.url, env=env)
    assert out.returncode == 1 and "untrusted_root" in out.stdout
    assert "%sly_tls" not in out.stdout and "this kernel" not in out.stdout, out.stdout
    assert "python -m sly_nb_tls add" in out.stdout and "this process" in out.stdout
    as_json = json.loads(cli("test", demo_server.url, "--json", env=env).stdout)
    assert "%sly_tls" not in json.dumps(as_json)
    installed = cli("add", demo_server.root_path, env=env | {"IPYTHONDIR": str(tmp_path / "ipython")})
    assert installed.returncode == 0 and (tmp_path / "ipython" / "profile_default" / "sly_nb_tls").is_dir()
