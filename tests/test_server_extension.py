"""The Jupyter server extension, for real: a `jupyter server` with terminado, its terminals, kernels and own clients.

Each server gets its own config dir, runtime dir, IPython dir, home and per-user dir
(`tests/jupyter_servers.py`); the CA variables are cleared in its environment, so what its
processes trust comes from the extension alone.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

import sly_nb_tls
from sly_nb_tls.demo import DemoServer

from .helpers import has_tool, pem_shas
from .jupyter_servers import RunningServer, start_server

pytestmark = [pytest.mark.slow, pytest.mark.skipif(sys.platform == "win32", reason="terminado needs a pty")]


@pytest.fixture(scope="module")
def demo() -> Iterator[DemoServer]:
    with DemoServer(presented="full") as server:
        yield server


@pytest.fixture(scope="module")
def other() -> Iterator[DemoServer]:
    """A second demo server under a PKI of its own: what is added to a running server."""
    with DemoServer(presented="full") as server:
        yield server


@pytest.fixture(scope="module")
def trusted(demo: DemoServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A server started with the demo's root in SLY_NB_TLS_CA_CERTS (the spawner's rollout path)."""
    server = start_server(tmp_path_factory.mktemp("trusted"), env={"SLY_NB_TLS_CA_CERTS": str(demo.root_path)})
    yield server
    server.stop()


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A server with the extension and nothing configured."""
    server = start_server(tmp_path_factory.mktemp("plain"))
    yield server
    server.stop()


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[RunningServer]:
    """A server of its own, for a test that changes its trust."""
    server = start_server(tmp_path / "fresh")
    yield server
    server.stop()


def curl(server: RunningServer, url: str) -> int:
    code, _ = server.terminal(f"curl -sS -o /dev/null {url}/")
    return code


needs_curl = pytest.mark.skipif(not has_tool("curl"), reason="curl is not installed")


# -- at server start ----------------------------------------------------------------------------
@needs_curl
@pytest.mark.skipif(not has_tool("git"), reason="git is not installed")
def test_a_terminal_of_a_trusting_server_runs_curl_and_git_against_the_demo(
    trusted: RunningServer, plain: RunningServer, demo: DemoServer
) -> None:
    assert curl(trusted, demo.url) == 0
    code, out = trusted.terminal(f"git ls-remote {demo.url}/repo.git")
    # TLS verified, then the demo server answers 404: git says so, not "certificate"
    assert "404" in out or "not found" in out, out
    assert "certificate" not in out.lower(), out

    assert curl(plain, demo.url) == 60  # CURLE_PEER_FAILED_VERIFICATION
    code, out = plain.terminal(f"git ls-remote {demo.url}/repo.git")
    assert code != 0 and "certificate" in out.lower(), out


@needs_curl
def test_a_kernel_that_never_loads_the_extension_inherits_the_trust(
    trusted: RunningServer, plain: RunningServer, demo: DemoServer
) -> None:
    code = (
        "import subprocess, sys, requests\n"
        f"print('loaded', 'sly_nb_tls' in sys.modules)\n"
        f"try:\n    print('requests', requests.get('{demo.url}/', timeout=30).status_code)\n"
        "except requests.exceptions.SSLError as exc:\n"
        "    print('requests SSLError', 'CERTIFICATE_VERIFY_FAILED' in str(exc))\n"
        f"print('curl', subprocess.run(['curl', '-sS', '-o', '/dev/null', '{demo.url}/']).returncode)\n"
    )
    out = trusted.kernel(code)
    assert "loaded False" in out and "requests 200" in out and "curl 0" in out, out
    out = plain.kernel(code)
    assert "requests SSLError True" in out and "curl 60" in out, out


@pytest.mark.parametrize("client", ["tornado", "httpx", "requests"])
def test_the_servers_own_clients_trust_it(
    trusted: RunningServer, plain: RunningServer, demo: DemoServer, client: str
) -> None:
    answer = trusted.api("GET", "test-fetch", params={"url": f"{demo.url}/", "client": client}).json()
    assert answer == {"ok": True, "status": 200}, answer
    answer = plain.api("GET", "test-fetch", params={"url": f"{demo.url}/", "client": client}).json()
    assert not answer["ok"] and "CERTIFICATE_VERIFY_FAILED" in answer["error"], answer


def test_status_says_what_the_server_trusts_and_from_where(
    trusted: RunningServer, plain: RunningServer, demo: DemoServer
) -> None:
    status = trusted.api("GET", "sly-tls/status").json()
    (cert,) = status["certificates"]
    assert {cert["sha256"]} == pem_shas(demo.root_path)
    assert cert["from"] == [os.path.realpath(demo.root_path)] or cert["from"] == [str(demo.root_path)]
    assert {"REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "CURL_CA_BUNDLE", "GIT_SSL_CAINFO"} <= set(status["variables"])
    assert plain.api("GET", "sly-tls/status").json()["certificates"] == []
    assert trusted.api("GET", "sly-tls/status", token=None).status_code == 403
    assert trusted.api("GET", "sly-tls/status", token="wrong").status_code == 403


def test_with_nothing_configured_the_extension_sets_no_variable_and_writes_no_file(plain: RunningServer) -> None:
    _, out = plain.terminal("env | grep -c -E '^(REQUESTS_CA_BUNDLE|SSL_CERT_FILE|CURL_CA_BUNDLE)=' || true")
    assert out.strip().splitlines()[-1].strip() == "0", out
    assert list(Path(plain.env["SLY_NB_TLS_DIR"]).iterdir()) == []
    assert "sly_nb_tls | extension was successfully loaded" in plain.log.read_text()


def test_a_bad_ca_never_stops_the_server(demo: DemoServer, tmp_path: Path) -> None:
    missing = tmp_path / "missing.pem"
    server = start_server(
        tmp_path / "srv", env={"SLY_NB_TLS_CA_CERTS": os.pathsep.join([str(missing), str(demo.root_path)])}
    )
    try:
        certs = server.api("GET", "sly-tls/status").json()["certificates"]
        assert {c["sha256"] for c in certs} == pem_shas(demo.root_path)
    finally:
        log = server.stop()
    warnings = [line for line in log.splitlines() if "sly_nb_tls:" in line and str(missing) in line]
    assert len(warnings) == 1 and "[W " in warnings[0], log


# -- the running server, no restart ----------------------------------------------------------------
@needs_curl
def test_post_delete_and_reset_change_what_new_terminals_trust(fresh: RunningServer, other: DemoServer) -> None:
    pem = Path(other.root_path).read_text()
    (sha,) = pem_shas(other.root_path)
    assert curl(fresh, other.url) == 60

    answer = fresh.api("POST", "sly-tls/certificates", data=pem, headers={"Content-Type": "application/x-pem-file"})
    assert answer.status_code == 200 and [c["sha256"] for c in answer.json()["added"]] == [sha], answer.text
    assert curl(fresh, other.url) == 0

    assert fresh.api("DELETE", f"sly-tls/certificates/{sha}").status_code == 200
    assert curl(fresh, other.url) == 60
    assert fresh.api("GET", "sly-tls/status").json()["certificates"] == []

    answer = fresh.api("POST", "sly-tls/certificates", json={"pem": pem})
    assert answer.status_code == 200, answer.text
    assert curl(fresh, other.url) == 0
    assert fresh.api("DELETE", f"sly-tls/certificates/{sha[:8]}").status_code == 200  # a unique prefix
    fresh.api("POST", "sly-tls/certificates", json={"pem": pem})
    assert fresh.api("POST", "sly-tls/reset").status_code == 200
    assert curl(fresh, other.url) == 60


@pytest.mark.parametrize(
    ("body", "content_type", "says"),
    [
        (b"not a certificate", "application/x-pem-file", "no PEM block"),
        (b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "application/x-pem-file", "corrupt"),
        (b'{"pem": 42}', "application/json", '"pem"'),
        (b"{not json", "application/json", '"pem"'),
        (b"/etc/ssl/certs/ca-certificates.crt", "application/x-pem-file", "no PEM block"),
        (b"x", "image/png", "not image/png"),
    ],
)
def test_bad_input_is_a_400_with_one_line_and_changes_nothing(
    plain: RunningServer, body: bytes, content_type: str, says: str
) -> None:
    before = plain.api("GET", "sly-tls/status").json()
    answer = plain.api("POST", "sly-tls/certificates", data=body, headers={"Content-Type": content_type})
    assert answer.status_code == 400, answer.text
    message = answer.json()["message"]
    assert says in message and "\n" not in message, message
    assert plain.api("GET", "sly-tls/status").json() == before


def test_changes_need_the_token_or_the_xsrf_cookie(plain: RunningServer, other: DemoServer) -> None:
    pem = Path(other.root_path).read_text()
    for token in (None, "wrong"):
        answer = plain.api("POST", "sly-tls/certificates", token=token, json={"pem": pem})
        assert answer.status_code == 403, answer.text
        assert plain.api("POST", "sly-tls/reset", token=token).status_code == 403
    assert plain.api("DELETE", "sly-tls/certificates/00000000", token=None).status_code == 403
    assert plain.api("GET", "sly-tls/status").json()["certificates"] == []


@pytest.mark.parametrize(("target", "code"), [("1234", 400), ("zzzzzzzz", 400), ("00000000", 404)])
def test_delete_names_a_fingerprint_or_is_refused(plain: RunningServer, target: str, code: int) -> None:
    answer = plain.api("DELETE", f"sly-tls/certificates/{target}")
    assert answer.status_code == code and "\n" not in answer.json()["message"], answer.text


# -- from the notebook -----------------------------------------------------------------------------
@needs_curl
def test_add_server_from_a_kernel_reaches_the_server_that_started_it(fresh: RunningServer, other: DemoServer) -> None:
    out = fresh.kernel(
        "get_ipython().run_line_magic('load_ext', 'sly_nb_tls')\n"
        f"print(get_ipython().run_line_magic('sly_tls', 'add {other.root_path} --server'))\n"
    )
    assert f"the Jupyter server ({fresh.url}) trusts them too" in out, out
    assert curl(fresh, other.url) == 0  # a new terminal of the server
    (sha,) = pem_shas(other.root_path)
    assert [c["sha256"] for c in fresh.api("GET", "sly-tls/status").json()["certificates"]] == [sha]
    out = fresh.kernel("%load_ext sly_nb_tls\nprint(get_ipython().run_line_magic('sly_tls', 'status --server'))\n")
    assert f"the Jupyter server ({fresh.url}) trusts 1 extra certificate" in out, out


@needs_curl
def test_the_cli_in_a_servers_terminal_adds_to_that_server(fresh: RunningServer, other: DemoServer) -> None:
    code, out = fresh.terminal(f"{sys.executable} -m sly_nb_tls add {other.root_path} --server")
    assert code == 0 and "trusts them too" in out, out
    assert curl(fresh, other.url) == 0
    code, out = fresh.terminal(f"{sys.executable} -m sly_nb_tls status --server --json")
    assert code == 0, out
    answer = json.loads(out[out.index('{"') :].replace("\r", "").replace("\n", ""))
    assert [c["sha256"] for c in answer["server"]["certificates"]] == sorted(pem_shas(other.root_path)), answer


def test_the_panel_checkbox_adds_to_the_server_named_by_jpy_parent_pid(
    fresh: RunningServer, other: DemoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """This test's process plays a kernel of `fresh`: Jupyter tells a kernel its server by JPY_PARENT_PID."""
    from sly_nb_tls.ui.panel import Panel

    monkeypatch.setenv("JPY_PARENT_PID", str(fresh.pid))
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(fresh.runtime))
    panel = Panel()
    panel.cert_path.value = str(other.root_path)
    panel.cert_server.value = True
    panel.cert_add.click()
    assert "trusts them too" in panel.cert_result.value, panel.cert_result.value
    shas = [c["sha256"] for c in fresh.api("GET", "sly-tls/status").json()["certificates"]]
    assert shas == sorted(pem_shas(other.root_path))


def test_a_process_no_server_started_says_so_and_changes_only_itself(
    other: DemoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("JPY_PARENT_PID", raising=False)
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))
    result = sly_nb_tls.add_certs(str(other.root_path), server=True)
    assert result.added and result.server is None
    lines = [n for n in result.notes if "no Jupyter server started this process" in n]
    assert len(lines) == 1 and "\n" not in lines[0], result.notes
    assert requests.get(f"{other.url}/", timeout=30).status_code == 200
    status = sly_nb_tls.status(server=True)
    assert status.server is None and any("no Jupyter server started" in w for w in status.warnings)


# -- kernels inside a trusted server ---------------------------------------------------------------
def test_a_kernel_keeps_the_servers_extras_adds_its_own_and_resets_to_what_the_server_gave(
    trusted: RunningServer, demo: DemoServer, other: DemoServer
) -> None:
    code = f"""
import os, json, requests, sly_nb_tls
from sly_nb_tls.trust.environ import MANAGED_VARIABLES

def shas(path):
    from sly_nb_tls._sources import read_sources
    return sorted(c.sha256 for c in read_sources([path]).certificates)

def reaches(url):
    try:
        return requests.get(url + "/", timeout=30).status_code == 200
    except requests.exceptions.SSLError:
        return False

before = {{v: os.environ.get(v) for v in MANAGED_VARIABLES}}  # what the server gave
get_ipython().run_line_magic("load_ext", "sly_nb_tls")
report = {{"status": str(sly_nb_tls.status()), "inherited": sly_nb_tls.status().to_dict()["inherited_from_server"]}}
sly_nb_tls.add_certs({str(other.root_path)!r})
bundle = os.environ["REQUESTS_CA_BUNDLE"]
report["after_add"] = {{"demo": reaches({demo.url!r}), "other": reaches({other.url!r}),
                        "blocks": open(bundle).read().count("BEGIN CERTIFICATE"), "unique": len(set(shas(bundle)))}}
sly_nb_tls.reset()
report["after_reset"] = {{"demo": reaches({demo.url!r}), "other": reaches({other.url!r}),
                          "same": {{v: os.environ.get(v) for v in MANAGED_VARIABLES}} == before}}
print(json.dumps(report))
"""
    report = json.loads(trusted.kernel(code).strip().splitlines()[-1])
    assert f"from the Jupyter server (pid {trusted.pid})" in report["status"], report["status"]
    assert "REQUESTS_CA_BUNDLE" in report["inherited"]
    assert report["after_add"]["demo"] and report["after_add"]["other"], report
    assert report["after_add"]["blocks"] == report["after_add"]["unique"], report  # no duplicates
    assert report["after_reset"] == {"demo": True, "other": False, "same": True}, report


def test_the_package_is_a_jupyter_server_extension() -> None:
    (point,) = sly_nb_tls._jupyter_server_extension_points()
    assert point == {"module": "sly_nb_tls"}
    assert callable(sly_nb_tls._load_jupyter_server_extension)


def test_the_endpoints_obey_the_admins_policy(tmp_path: Path, other: DemoServer) -> None:
    (sha,) = pem_shas(other.root_path)
    policy = tmp_path / "policy.toml"
    policy.write_text(f'deny = ["{sha}"]\n')
    server = start_server(tmp_path / "srv", env={"SLY_NB_TLS_POLICY": str(policy)})
    try:
        answer = server.api("POST", "sly-tls/certificates", json={"pem": Path(other.root_path).read_text()})
        assert answer.status_code == 403, answer.text
        message = answer.json()["message"]
        assert "deny list" in message and str(policy) in message and "\n" not in message
        assert server.api("GET", "sly-tls/status").json()["certificates"] == []
    finally:
        server.stop()
    records = [json.loads(line) for line in (tmp_path / "srv" / "state" / "sly-nb-tls" / "audit.jsonl").open()]
    assert [(r["action"], r["outcome"]) for r in records] == [("add", "refused")]


def test_the_servers_authorizer_decides_who_may_change_its_trust(tmp_path: Path, other: DemoServer) -> None:
    """A server whose Authorizer lets users read but not write (a read-only collaborator)."""
    server = start_server(tmp_path / "srv", args=["--ServerApp.authorizer_class=server_fetch.ReadOnlyAuthorizer"])
    try:
        assert server.api("GET", "sly-tls/status").status_code == 200
        answer = server.api("POST", "sly-tls/certificates", json={"pem": Path(other.root_path).read_text()})
        assert answer.status_code == 403, answer.text
        assert server.api("POST", "sly-tls/reset").status_code == 403
        assert server.api("GET", "sly-tls/status").json()["certificates"] == []
    finally:
        server.stop()


def test_a_refused_add_server_changes_neither_side(
    tmp_path: Path, other: DemoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server's policy refuses: this process (a kernel of it, by JPY_PARENT_PID) keeps what it had,
    live clients included, and the call never goes through the environment's proxy."""
    from sly_nb_tls.errors import SlyTlsError

    (sha,) = pem_shas(other.root_path)
    policy = tmp_path / "policy.toml"
    policy.write_text(f'deny = ["{sha}"]\n')
    server = start_server(tmp_path / "srv", env={"SLY_NB_TLS_POLICY": str(policy)})
    try:
        monkeypatch.setenv("JPY_PARENT_PID", str(server.pid))
        monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(server.runtime))
        monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
        monkeypatch.delenv("NO_PROXY", raising=False)
        import httpx

        client = httpx.Client()  # a live client: it must not be given the refused CA
        with pytest.raises(SlyTlsError, match="deny list"):
            sly_nb_tls.add_certs(str(other.root_path), server=True)
        assert not sly_nb_tls.status().active
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            client.get(f"{other.url}/")
        assert server.api("GET", "sly-tls/status").json()["certificates"] == []
    finally:
        server.stop()


def test_a_browser_session_needs_the_xsrf_token_to_change_trust(fresh: RunningServer, other: DemoServer) -> None:
    """Logged in by cookie, as JupyterLab is: a change without the XSRF token is refused, one with it works."""
    pem = {"pem": Path(other.root_path).read_text()}
    with requests.Session() as browser:
        browser.trust_env = False
        assert browser.get(f"{fresh.url}?token={fresh.token}", timeout=30).ok  # the login sets the cookies
        xsrf = browser.cookies.get("_xsrf")
        assert xsrf, browser.cookies
        assert browser.get(f"{fresh.url}sly-tls/status", timeout=30).status_code == 200
        refused = browser.post(f"{fresh.url}sly-tls/certificates", json=pem, timeout=30)
        assert refused.status_code == 403, refused.text
        assert fresh.api("GET", "sly-tls/status").json()["certificates"] == []
        allowed = browser.post(f"{fresh.url}sly-tls/certificates", json=pem, headers={"X-XSRFToken": xsrf}, timeout=30)
        assert allowed.status_code == 200, allowed.text
