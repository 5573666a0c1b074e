"""The panel without a browser: set values, click, assert on widget state and HTML."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

import sly_nb_tls
from sly_nb_tls.demo import DemoServer, issue
from sly_nb_tls.ui.panel import Panel

TOKEN = "panel-token-5d6e7f8091a2b3c4"


@pytest.fixture
def server() -> Iterator[DemoServer]:
    with DemoServer(presented="full", token=TOKEN) as s:
        yield s


@pytest.fixture
def p() -> Panel:
    return sly_nb_tls.panel()


def text(html: str) -> str:
    import re

    return re.sub(r"<style>.*?</style>|<[^>]+>", " ", html)


def test_initial_state_and_prefill(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SERVER_ADDRESS", "https://sly.corp.example")
    monkeypatch.setenv("API_TOKEN", TOKEN)
    p = sly_nb_tls.panel()
    assert p.url.value == "https://sly.corp.example"
    assert p.token.value == ""  # the token never goes into a widget...
    assert f"({len(TOKEN)} chars)" in p.token.placeholder  # ...but the panel says it will use it
    assert "no extra certificates trusted" in p.status_line.value
    assert p.reset_all.disabled
    assert "sly-nb-tls-panel" in p.widget._dom_classes
    assert TOKEN not in repr(p.widget.get_state())


def test_test_fails_add_by_path_then_test_succeeds(p: Panel, server: DemoServer) -> None:
    p.url.value = server.url
    p.token.value = TOKEN
    p.test.click()
    assert "untrusted_root" in p.connection_result.value
    assert not p.test.disabled  # re-enabled after the action
    p.cert_path.value = server.root_path
    p.cert_add.click()
    assert "Trusted 1 new certificate" in text(p.cert_result.value)
    assert "1 extra certificate(s) trusted" in p.status_line.value
    assert len(p.cert_list.children) == 1 and not p.reset_all.disabled
    p.test.click()
    assert "✓" in p.connection_result.value and "login &quot;alice&quot;" in p.connection_result.value
    assert TOKEN not in p.connection_result.value


def test_upload_path(p: Panel, server: DemoServer) -> None:
    content = Path(server.chain_path).read_bytes()
    upload = {
        "name": "chain.pem",
        "type": "application/x-pem-file",
        "size": len(content),
        "content": memoryview(content),
        "last_modified": dt.datetime.now(dt.timezone.utc),
    }
    p.cert_upload.value = (upload,)
    assert "ready to add 1 uploaded file(s): chain.pem" in text(p.cert_result.value)
    p.cert_add.click()
    assert "Trusted 2 new certificate" in text(p.cert_result.value)
    assert p.cert_upload.value == ()
    assert len(sly_nb_tls.status().certificates) == 2


def test_fetch_then_trust_asks_for_confirmation_first(p: Panel, server: DemoServer) -> None:
    p.url.value = server.url
    assert p.trust.layout.display == "none"
    p.fetch.click()
    assert "Chain presented by" in p.connection_result.value
    assert p.trust.layout.display == ""
    p.trust.click()
    assert "Check the SHA-256 fingerprints" in p.connection_result.value
    assert p.trust_confirm.layout.display == "" and not sly_nb_tls.status().active  # nothing yet
    p.trust_cancel.click()
    assert "nothing changed" in p.connection_result.value and not sly_nb_tls.status().active
    p.trust.click()
    p.trust_confirm.click()
    assert "Trusted 1 new certificate" in text(p.connection_result.value)  # the root the server sent
    assert sly_nb_tls.status().certificates[0].kind == "root CA"
    assert p.trust.layout.display == "none"
    p.test.click()
    assert "✓" in p.connection_result.value


def test_remove_and_reset_buttons(p: Panel, tmp_path: Path) -> None:
    a, b = issue("Panel CA A", ca=True), issue("Panel CA B", ca=True)
    p.cert_path.value = str(tmp_path / "two.pem")
    (tmp_path / "two.pem").write_text(a.pem + b.pem)
    p.cert_add.click()
    assert len(p.cert_list.children) == 2
    first_remove = p.cert_list.children[0].children[0]
    first_remove.click()
    assert "Removed 1 certificate" in text(p.cert_result.value)
    assert len(p.cert_list.children) == 1
    p.reset_all.click()
    assert "Reset" in text(p.cert_result.value)
    assert p.cert_list.children == () and not sly_nb_tls.status().active
    assert "SSL_CERT_FILE" not in os.environ


def test_env_load_fills_the_url(p: Panel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, server: DemoServer) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "local.env").write_text(f"SERVER_ADDRESS={server.url}\nAPI_TOKEN={TOKEN}\n")
    p.env_load.click()
    assert "local.env" in p.env_result.value and TOKEN not in p.env_result.value
    assert p.url.value == server.url
    assert f"({len(TOKEN)} chars)" in p.token.placeholder


@pytest.mark.parametrize(
    ("setup", "button", "area", "message"),
    [
        (lambda p: None, "cert_add", "cert_result", "type a certificate path or upload a file first"),
        (lambda p: setattr(p.cert_path, "value", "/nonexistent/ca.crt"), "cert_add", "cert_result", "no such file"),
        (lambda p: setattr(p.cert_path, "value", "https://sly.corp"), "cert_add", "cert_result", "this is a URL"),
        (lambda p: setattr(p.url, "value", "ftp://x"), "test", "connection_result", "unsupported scheme"),
        (lambda p: setattr(p.url, "value", "https://127.0.0.1:99999"), "fetch", "connection_result", "65535"),
        (lambda p: setattr(p.env_files, "value", "missing.env"), "env_load", "env_result", "no such file"),
        (lambda p: setattr(p.env_files, "value", '"my env.env'), "env_load", "env_result", "No closing quotation"),
        (lambda p: None, "trust_confirm", "connection_result", "nothing fetched: click Fetch chain first"),
        (lambda p: None, "test", "connection_result", "SERVER_ADDRESS is not set"),
    ],
)
def test_errors_show_in_the_panel_as_one_line(
    p: Panel, setup: object, button: str, area: str, message: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    p.url.value = "" if button == "test" and "SERVER" in message else p.url.value
    setup(p)  # type: ignore[operator]
    before = dict(os.environ)
    getattr(p, button).click()
    value = getattr(p, area).value
    assert message in text(value), value
    assert "Traceback" not in value
    assert not getattr(p, button).disabled
    assert dict(os.environ) == before


@pytest.mark.slow  # every client of test --clients, ~2.5 s: the full run has it
def test_check_each_client_shows_the_table(p: Panel, server: DemoServer) -> None:
    sly_nb_tls.add_certs(server.root_path)
    p.url.value = server.url
    p.check_clients.value = True
    p.test.click()
    report = p.last_result
    assert report.ok and {c.client for c in report.clients} >= {"requests", "urllib.request", "httpx"}
    html = text(p.connection_result.value)
    assert "each client, with its own trust and proxy rules" in html and "route: direct" in html
    p.check_clients.value = False
    p.test.click()
    assert p.last_result.clients == [] and "each client" not in text(p.connection_result.value)


def test_panel_reflects_changes_made_elsewhere_on_refresh(p: Panel) -> None:
    sly_nb_tls.add_certs(issue("Added In Another Cell", ca=True).pem)
    assert "no extra certificates" in p.status_line.value
    p.refresh.click()
    assert "1 extra certificate(s) trusted" in p.status_line.value
    assert "Added In Another Cell" in p.cert_list.children[0].children[1].value


def test_certificate_warnings_show_in_the_list(p: Panel) -> None:
    now = dt.datetime.now(dt.timezone.utc)
    old = issue("<b>Old</b> CA", ca=True, not_before=now - dt.timedelta(days=9), not_after=now - dt.timedelta(days=1))
    sly_nb_tls.add_certs(old.pem)
    p.refresh.click()
    html = p.cert_list.children[0].children[1].value
    assert "expired on" in html and "<b>Old</b>" not in html and "&lt;b&gt;Old&lt;/b&gt;" in html


def test_where_widgets_do_not_render_the_text_form_shows_the_state_and_the_last_result(
    p: Panel, server: DemoServer
) -> None:
    """VS Code's ipywidgets, nbconvert and saved notebooks show only text/plain."""
    assert "no extra certificates trusted" in p._repr_mimebundle_()["text/plain"]
    p.url.value = server.url
    p.test.click()
    sly_nb_tls.add_certs(issue("<b>Text</b> CA", ca=True).pem)
    text = p._repr_mimebundle_()["text/plain"]
    assert "1 extra certificate(s) trusted" in text and "last result: ✗ untrusted_root" in text, text
    assert "application/vnd.jupyter.widget-view+json" in p._repr_mimebundle_()  # the widget is still there
    assert TOKEN not in text


def test_magic_returns_the_panel(capsys: pytest.CaptureFixture[str]) -> None:
    from IPython.core.interactiveshell import InteractiveShell

    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "sly_nb_tls")
    try:
        assert isinstance(ip.run_line_magic("sly_tls", "panel"), Panel)
    finally:
        ip.run_line_magic("unload_ext", "sly_nb_tls")


def test_header_shows_extras_their_sources_the_proxy_and_the_last_test(
    p: Panel, server: DemoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://bob:s3cret-pw@proxy.corp:3128")
    p._sync()
    header = text(p.header.value)
    assert "0 extra certificate(s)" in header and "last test: not run" in header
    assert "proxy http://***@proxy.corp:3128" in header and "s3cret-pw" not in header
    monkeypatch.delenv("HTTPS_PROXY")
    p.url.value = server.url
    p.test.click()
    assert "last test: ✗ untrusted_root" in text(p.header.value)
    p.cert_path.value = server.root_path
    p.cert_add.click()
    p.test.click()
    header = text(p.header.value)
    assert "Trusted: 1 extra certificate(s) (1 added in this kernel)" in header and "last test: ✓" in header
    assert "last test: ✓" in str(p)  # the text form carries the same line


def test_persist_checkbox_installs_for_every_new_kernel(
    p: Panel, server: DemoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    p.cert_path.value = server.root_path
    p.cert_persist.value = True
    p.cert_add.click()
    assert "persisted" in text(p.cert_result.value)
    assert list((tmp_path / "ipython" / "profile_default" / "sly_nb_tls").glob("*.pem"))
    sly_nb_tls.uninstall()
