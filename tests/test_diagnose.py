"""Every problem code of `test_connection`, each produced by a real situation on loopback."""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import sys
from pathlib import Path

import pytest

import sly_nb_tls
from sly_nb_tls import SlyTlsError
from sly_nb_tls.demo import DemoPKI, DemoServer, Response, issue
from sly_nb_tls.errors import FetchError, StorageError, UrlError

from .servers import closed_port, plain_http_server, raw_server, silent_listener

TOKEN = "tok-3f9a1c2b-secret-value-xyz"
NOW = dt.datetime.now(dt.timezone.utc)


def check(url: str | None = None, **kw: object) -> sly_nb_tls.diagnose.connection.ConnectionReport:  # type: ignore[name-defined]
    return sly_nb_tls.test_connection(url, **kw)  # type: ignore[arg-type]


def assert_problem(report: object, code: str, *in_text: str) -> None:
    r = report
    assert r.problem == code, str(r)  # type: ignore[attr-defined]
    assert not r.ok  # type: ignore[attr-defined]
    assert r.problem in sly_nb_tls.PROBLEMS  # type: ignore[attr-defined]
    text = str(r)
    assert r.fix and f"Fix: {r.fix}" in text  # type: ignore[attr-defined]
    for fragment in in_text:
        assert fragment in text, (fragment, text)


# --- below TLS ----------------------------------------------------------------


def test_dns_failure_without_any_query(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_dns(host: str, *a: object, **k: object) -> object:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    assert_problem(check("https://sly.corp.invalid"), "dns_failure", "sly.corp.invalid")


def test_connection_refused() -> None:
    with closed_port() as port:
        assert_problem(check(f"https://127.0.0.1:{port}"), "connection_refused", f"port {port}")


def test_timeout_when_handshake_stalls() -> None:
    with silent_listener() as port:
        r = check(f"https://127.0.0.1:{port}", timeout=0.5)
    assert_problem(r, "timeout", "timeout=30")  # the listener never answers: only the bound ends the test


def test_not_tls_plain_http() -> None:
    with plain_http_server() as port:
        assert_problem(check(f"https://127.0.0.1:{port}"), "not_tls", "http://")


@pytest.mark.parametrize("behaviour", ["reset", "garbage"])
def test_not_tls_reset_or_garbage(behaviour: str) -> None:
    with raw_server(behaviour) as port:
        assert_problem(check(f"https://127.0.0.1:{port}", timeout=3), "not_tls")


# --- chain trust ----------------------------------------------------------------


def test_untrusted_root_leaf_plus_intermediate(ca_env: bool) -> None:
    with DemoServer() as server:
        r = check(server.url, token=TOKEN)
    # The root is not sent and not on this machine: fetching again could not help (it would save the
    # intermediate, and 3.10-3.12 would still fail), so the fix asks for the root, naming it.
    assert_problem(r, "untrusted_root", "Demo Intermediate CA", "sly_nb_tls Demo Root CA", "ask your admin")
    assert "fetch" not in r.fix and "found nowhere here" in r.cause
    assert [c.common_name for c in r.chain] == ["127.0.0.1", "sly_nb_tls Demo Intermediate CA"]
    assert r.steps[-1].name == "TLS handshake" and not r.steps[-1].ok


def test_untrusted_root_full_chain_code_19(ca_env: bool, full_chain_server: DemoServer) -> None:
    r = check(full_chain_server.url, token=TOKEN)
    assert_problem(r, "untrusted_root", "self-signed certificate in certificate chain", "sly_nb_tls Demo Root CA")
    assert len(r.chain) == 3 and r.chain[-1].self_signed


def test_missing_intermediate_leaf_only_root_trusted() -> None:
    with DemoServer(presented="leaf") as server:
        sly_nb_tls.add_certs(server.root_path)
        r = check(server.url, token=TOKEN)
    assert_problem(r, "missing_intermediate", "Demo Intermediate CA", "full chain")


def test_self_signed_leaf() -> None:
    leaf = issue("127.0.0.1", names=("127.0.0.1",))
    with DemoServer(DemoPKI(leaf, leaf, leaf), presented="leaf") as server:
        r = check(server.url, token=TOKEN)
    assert_problem(r, "self_signed_leaf", "server.crt")


def test_expired_leaf_and_the_same_behind_an_untrusted_root_is_a_warning() -> None:
    pki = DemoPKI.create(leaf_not_before=NOW - dt.timedelta(days=20), leaf_not_after=NOW - dt.timedelta(days=2))
    with DemoServer(pki) as server:
        untrusted = check(server.url, token=TOKEN)
        sly_nb_tls.add_certs(server.root_path)
        trusted = check(server.url, token=TOKEN)
    assert_problem(untrusted, "untrusted_root")
    assert any("expired on" in w for w in untrusted.warnings)
    assert_problem(trusted, "expired", "renew")


def test_not_yet_valid_leaf() -> None:
    pki = DemoPKI.create(leaf_not_before=NOW + dt.timedelta(days=3))
    with DemoServer(pki) as server:
        sly_nb_tls.add_certs(server.root_path)
        assert_problem(check(server.url, token=TOKEN), "not_yet_valid", "clock")


def test_hostname_mismatch_names_the_valid_names() -> None:
    pki = DemoPKI.create(names=("sly.other.example", "other.example"))
    with DemoServer(pki) as server:
        untrusted = check(server.url, token=TOKEN)
        sly_nb_tls.add_certs(server.root_path)
        r = check(server.url, token=TOKEN)
    assert any("not valid for" in w for w in untrusted.warnings)
    assert_problem(r, "hostname_mismatch", "sly.other.example, other.example", "https://sly.other.example:")


def test_ca_without_key_identifiers_is_strict_rejected_on_313_else_ok_with_warning() -> None:
    pki = DemoPKI.create(strict_compliant=False)
    with DemoServer(pki) as server:
        sly_nb_tls.add_certs(server.root_path)
        r = check(server.url, token=TOKEN)
    if sys.version_info >= (3, 13):
        assert_problem(r, "strict_rejected", "strict X.509")
    else:
        assert r.ok, str(r)
        assert any("Python 3.13+ will reject this chain" in w for w in r.warnings)


# --- HTTP ------------------------------------------------------------------------


@pytest.fixture
def trusted_server() -> DemoServer:
    server = DemoServer(token=TOKEN).start()
    sly_nb_tls.add_certs(server.root_path)
    yield server  # type: ignore[misc]
    server.stop()


def test_ok_after_add_shows_login_and_every_step(trusted_server: DemoServer) -> None:
    r = check(trusted_server.url, token=TOKEN)
    assert r.ok and r.problem is None, str(r)
    assert r.login == "alice" and r.api_checked
    assert [s.name for s in r.steps] == ["resolve", "connect", "TLS handshake", "users.me"]
    assert all(s.ok and s.elapsed >= 0 for s in r.steps)
    assert r.verified_by == "sly_nb_tls Demo Root CA"
    assert str(r).startswith("✓ TLSv1.") and 'login "alice"' in str(r)
    assert ("POST", "/public/api/v3/users.me") in trusted_server.requests


def test_url_and_token_default_to_server_address_and_api_token(
    trusted_server: DemoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SERVER_ADDRESS", trusted_server.url.removeprefix("https://"))
    monkeypatch.setenv("API_TOKEN", TOKEN)
    r = check()
    assert r.ok and r.login == "alice"


def test_without_token_only_http_is_checked(trusted_server: DemoServer) -> None:
    r = check(trusted_server.url)
    assert r.ok and not r.api_checked and r.http_status == 200
    assert any("API check was skipped" in w for w in r.warnings)
    assert "API check skipped" in str(r)
    assert ("GET", "/") in trusted_server.requests


def test_unauthorized(trusted_server: DemoServer) -> None:
    assert_problem(check(trusted_server.url, token="wrong-token"), "unauthorized", "API_TOKEN")


@pytest.mark.parametrize(
    "body",
    [{"error": "Internal error", "details": f"token {TOKEN} failed"}, f"<html><h1>500</h1>token={TOKEN}</html>"],
    ids=["json", "html"],
)
def test_http_error_500(trusted_server: DemoServer, body: object) -> None:
    trusted_server.responses["/public/api/v3/users.me"] = Response(500, body)  # type: ignore[arg-type]
    r = check(trusted_server.url, token=TOKEN)
    assert_problem(r, "http_error", "500")
    everything = str(r) + r._repr_html_() + json.dumps(r.to_dict())
    assert TOKEN not in everything


def test_html_page_with_200_is_not_supervisely(trusted_server: DemoServer) -> None:
    trusted_server.responses["/public/api/v3/users.me"] = Response(200, "<html><script>alert(1)</script>Sign in</html>")
    r = check(trusted_server.url, token=TOKEN)
    assert_problem(r, "not_supervisely", "not the API's JSON")
    html = r._repr_html_()
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)" in html


def test_redirect_to_login_page_is_not_supervisely_and_not_followed(trusted_server: DemoServer) -> None:
    trusted_server.responses["/public/api/v3/users.me"] = Response(
        302, b"", headers={"Location": "https://sso.corp.example/login"}
    )
    r = check(trusted_server.url, token=TOKEN)
    assert_problem(r, "not_supervisely", "redirect (302)", "sso.corp.example/login")
    assert ("GET", "/login") not in trusted_server.requests


def test_slow_answer_is_a_timeout(trusted_server: DemoServer) -> None:
    trusted_server.responses["/public/api/v3/users.me"] = Response(200, {"login": "late"}, delay=3)
    r = check(trusted_server.url, token=TOKEN, timeout=1)
    assert_problem(r, "timeout")
    assert r.steps[-1].name == "HTTP"


@pytest.mark.slow  # waits out a deadline on purpose: the full run only
def test_a_dripping_answer_ends_at_the_total_deadline(trusted_server: DemoServer) -> None:
    """One byte every 0.4 s: every single read is quick, the whole answer (8 s) is not."""
    trusted_server.responses["/public/api/v3/users.me"] = Response(200, b'{"login": "drip"}' + b" " * 3, drip=0.4)
    r = check(trusted_server.url, token=TOKEN, timeout=2)
    assert_problem(r, "timeout")
    assert r.steps[-1].name == "HTTP" and r.steps[-1].detail == "timed out"


def test_huge_body_is_read_only_up_to_the_bound(trusted_server: DemoServer) -> None:
    trusted_server.responses["/public/api/v3/users.me"] = Response(200, b"x" * (8 * 1024 * 1024))
    assert_problem(check(trusted_server.url, token=TOKEN), "not_supervisely")


def test_token_never_appears_in_any_output(trusted_server: DemoServer) -> None:
    for token in (TOKEN, "wrong-but-secret-token-123"):
        r = check(trusted_server.url, token=token)
        assert token not in str(r) + r._repr_html_() + json.dumps(r.to_dict())


def test_hostile_certificate_names_are_escaped() -> None:
    root = issue("<script>alert(1)</script>", ca=True, organization='"><img src=x onerror=alert(2)>')
    inter = issue("Inter", issuer=root, ca=True)
    leaf = issue("127.0.0.1", issuer=inter, names=("127.0.0.1",))
    with DemoServer(DemoPKI(root, inter, leaf), presented="full") as server:
        r = check(server.url)
        chain = sly_nb_tls.fetch_chain(server.url)
    for html in (r._repr_html_(), chain._repr_html_()):
        assert "<script>alert" not in html and "<img src=x" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


# --- URL validation ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("ftp://example.com", "unsupported scheme"),
        ("http://example.com", "plain http needs no certificates"),
        ("https://127.0.0.1:70000", "1 to 65535"),
        ("https://127.0.0.1:0", "1 to 65535"),
        ("https://127.0.0.1:abc", "1 to 65535"),
        ("https://", "no host"),
        ("https://exa mple.com", "spaces"),
        ("https://user:pw@example.com", "credentials"),
    ],
)
def test_malformed_urls_are_url_errors(url: str, fragment: str) -> None:
    with pytest.raises(UrlError, match=fragment):
        check(url)


def test_no_url_and_no_server_address() -> None:
    with pytest.raises(UrlError, match="SERVER_ADDRESS is not set"):
        check()


@pytest.mark.parametrize("timeout", [0, -1, float("nan"), float("inf"), float("-inf"), "soon", None])
def test_bad_timeout(timeout: object) -> None:
    with pytest.raises(SlyTlsError, match="positive"):
        check("https://127.0.0.1:1", timeout=timeout)
    with pytest.raises(SlyTlsError, match="positive"):
        sly_nb_tls.fetch_chain("https://127.0.0.1:1", timeout=timeout)  # type: ignore[arg-type]


# --- fetch -----------------------------------------------------------------------------


def test_fetch_returns_the_chain_as_presented_and_saves_the_root(tmp_path: Path, full_chain_server: DemoServer) -> None:
    report = sly_nb_tls.fetch_chain(full_chain_server.url, save=str(tmp_path / "corp-chain.crt"))
    assert [c.kind for c in report.chain] == ["leaf", "intermediate CA", "root CA"]
    assert not report.verified and "self-signed certificate in certificate chain" in report.verify_message
    saved = (tmp_path / "corp-chain.crt").read_text()
    assert saved.count("BEGIN CERTIFICATE") == 1 and "PRIVATE" not in saved  # the root only
    assert "sly_nb_tls.add_certs(" in str(report) and report.chain[2].fingerprint in str(report)
    assert not sly_nb_tls.status().active  # fetch never adds trust
    assert sly_nb_tls.add_certs(str(tmp_path / "corp-chain.crt")).added[0].kind == "root CA"


def test_fetch_warns_when_the_root_is_not_sent_and_refuses_to_clobber(tmp_path: Path) -> None:
    target = tmp_path / "chain.crt"
    target.write_text("my notes, not a chain\n")
    with DemoServer() as server:
        with pytest.raises(StorageError, match="already exists"):
            sly_nb_tls.fetch_chain(server.url, save=str(target))
        report = sly_nb_tls.fetch_chain(server.url, save=str(target), overwrite=True)
        again = sly_nb_tls.fetch_chain(server.url, save=str(target))  # same content: fine
    assert any("does not send its root CA" in w for w in report.warnings)
    assert again.saved_to == str(target)


def test_fetch_when_nothing_answers_is_an_error() -> None:
    with closed_port() as port, pytest.raises(FetchError, match="connection_refused"):
        sly_nb_tls.fetch_chain(f"https://127.0.0.1:{port}")


def test_test_verifies_with_requests_trust_only_not_the_hooks(tmp_path: Path, full_chain_server: DemoServer) -> None:
    """After add, a REQUESTS_CA_BUNDLE someone else points elsewhere means requests fails: so must test."""
    import certifi
    import requests

    sly_nb_tls.add_certs(full_chain_server.root_path)
    assert check(full_chain_server.url).ok
    os.environ["REQUESTS_CA_BUNDLE"] = certifi.where()  # without the extras
    r = check(full_chain_server.url)
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(full_chain_server.url, timeout=10)
    assert r.problem == "untrusted_root", str(r)


def test_a_host_name_idna_cannot_encode_is_a_dns_failure() -> None:
    assert check("https://\u00e4..example").problem == "dns_failure"


@pytest.mark.timeout(120)
def test_a_call_nothing_can_unblock_is_not_waited_for_past_its_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    """getaddrinfo cannot be interrupted: resolve gives up at the deadline instead of waiting a grace
    period no shut-down socket could shorten (the whole test is bounded by one timeout)."""
    import threading

    from sly_nb_tls import _bounded

    monkeypatch.setattr(_bounded, "_GRACE", 3600.0)  # waited for, the test would hang until its timeout
    release = threading.Event()
    try:
        with pytest.raises(TimeoutError, match="name resolution did not finish"):
            _bounded.wait_for(lambda: release.wait(3600), 0.05, "name resolution")
    finally:
        release.set()
