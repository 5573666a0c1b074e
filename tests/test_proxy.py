"""Behind a proxy: `test` and `fetch` go the way requests would, name proxy failures and TLS inspection.

Real proxies on 127.0.0.1: mitmproxy inspecting TLS with a CA this test generates,
mitmproxy as a plain CONNECT tunnel with --proxyauth, a small CONNECT proxy (plain,
over TLS, answering 403 or 407), and a closed port.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

import sly_nb_tls
from sly_nb_tls._certs import Certificate
from sly_nb_tls.demo import DemoServer, IssuedCert, Response, issue, server_context
from sly_nb_tls.diagnose.interception import INSPECTION_PRODUCTS, detect_interception, inspection_product
from sly_nb_tls.diagnose.proxy import Proxy, choose_route
from sly_nb_tls.errors import UrlError

from .helpers import controlled_env
from .proxies import connect_proxy, mitmproxy
from .servers import closed_port

TOKEN = "proxy-test-token-4e5f6a7b8c9d"
PASSWORD = "Pr0xy-S3cret-9d8c7b"
USERS_ME = "/public/api/v3/users.me"
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def server() -> Iterator[DemoServer]:
    with DemoServer(presented="full", token=TOKEN) as s:
        yield s


@pytest.fixture(scope="module")
def inspection_ca() -> IssuedCert:
    return issue("Test Inspection Root CA", ca=True)


@pytest.fixture(scope="module")
def inspecting(
    tmp_path_factory: pytest.TempPathFactory, server: DemoServer, inspection_ca: IssuedCert
) -> Iterator[str]:
    with mitmproxy(tmp_path_factory.mktemp("mitm"), ca=inspection_ca, upstream_root=server.root_path) as url:
        yield url


@pytest.fixture(scope="module")
def auth_tunnel(
    tmp_path_factory: pytest.TempPathFactory, server: DemoServer, inspection_ca: IssuedCert
) -> Iterator[str]:
    with mitmproxy(
        tmp_path_factory.mktemp("mitm-auth"), ca=inspection_ca, upstream_root=server.root_path, inspect=False,
        proxyauth=f"pxuser:{PASSWORD}",
    ) as url:  # fmt: skip
        yield url


def _with_password(url: str) -> str:
    return url.replace("http://", f"http://pxuser:{PASSWORD}@")


def _everything(report: object) -> str:
    to_dict = getattr(report, "to_dict", None)
    return str(report) + repr(report) + report._repr_html_() + (json.dumps(to_dict()) if to_dict else "")  # type: ignore[attr-defined]


# --- choosing the proxy: requests' own functions ------------------------------------------------
def test_a_proxy_url_is_split_at_the_edge() -> None:
    p = Proxy.parse(f"http://pxuser:{PASSWORD}@proxy.corp.example:3128")
    assert (p.scheme, p.host, p.port) == ("http", "proxy.corp.example", 3128)
    assert p.shown == "http://***@proxy.corp.example:3128" and str(p) == p.shown
    import base64

    assert p.authorization == "Basic " + base64.b64encode(f"pxuser:{PASSWORD}".encode()).decode()
    assert PASSWORD not in repr(p) and "alice" not in repr(p)
    assert Proxy.parse("proxy.corp.example:8080").scheme == "http"
    assert Proxy.parse("https://proxy.corp.example").port == 443


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("socks5://alice:pw@127.0.0.1:1080", "unsupported scheme 'socks5'"),
        ("http://pxuser:pw@127.0.0.1:99999", "1 to 65535"),
        ("http://:3128", "no host"),
        ("http://alice:p/w?x#y@127.0.0.1:99999", "1 to 65535"),
    ],
)
def test_unusable_proxy_urls_are_url_errors_without_the_password(url: str, fragment: str) -> None:
    with pytest.raises(UrlError, match=fragment) as info:
        sly_nb_tls.test_connection("https://127.0.0.1:9", proxy=url)
    assert "pw" not in str(info.value).replace("port", "") and "p/w" not in str(info.value)
    assert "alice" not in str(info.value)


@pytest.mark.parametrize(
    ("target", "no_proxy", "expected"),
    [
        ("https://127.0.0.1:4443", "", "via proxy http://***@127.0.0.1:9"),
        ("https://127.0.0.1:4443", "127.0.0.1", "direct (NO_PROXY matched '127.0.0.1')"),
        ("https://127.0.0.1:4443", "10.0.0.0/8, 127.0.0.0/8", "direct (NO_PROXY matched '127.0.0.0/8')"),
        ("https://sly.corp.example:8443", ".corp.example", "direct (NO_PROXY matched '.corp.example')"),
        ("https://sly.corp.example:8443", "sly.corp.example:8443", "direct (NO_PROXY matched 'sly.corp.example:8443')"),
        ("https://sly.corp.example:8443", "*", "direct (NO_PROXY matched '*')"),
        ("https://sly.corp.example:8443", "other.example,10.1.0.0/16", "via proxy http://***@127.0.0.1:9"),
    ],
)
@pytest.mark.parametrize("case", ["upper", "lower"])
def test_the_route_is_the_one_requests_takes(target: str, no_proxy: str, expected: str, case: str) -> None:
    name = (lambda v: v) if case == "upper" else str.lower
    os.environ[name("HTTPS_PROXY")] = f"http://pxuser:{PASSWORD}@127.0.0.1:9"
    if no_proxy:
        os.environ[name("NO_PROXY")] = no_proxy
    route = choose_route(target)
    assert route.why.startswith(expected), route.why
    # the same answer as requests itself, by its public function
    from requests.utils import get_environ_proxies, select_proxy

    assert (route.proxy is None) == (select_proxy(target, get_environ_proxies(target)) is None)


def test_all_proxy_is_used_and_an_explicit_choice_wins() -> None:
    os.environ["ALL_PROXY"] = "http://127.0.0.1:9"
    assert choose_route("https://sly.corp.example").proxy == Proxy.parse("http://127.0.0.1:9")
    assert choose_route("https://sly.corp.example", proxy="").why == "direct (asked for: --direct)"
    assert choose_route("https://sly.corp.example", proxy="http://127.0.0.1:7").proxy.port == 7  # type: ignore[union-attr]


# --- naming TLS inspection (pure) -------------------------------------------------------------
@pytest.mark.parametrize(
    ("issuer", "product"),
    [
        ("Zscaler Intermediate Root CA", "Zscaler"),
        ("Netskope Certificate Authority", "Netskope"),
        ("Palo Alto Networks Forward Trust CA", "Palo Alto Networks"),
        ("Fortinet_CA_SSL(Proxy)", "Fortinet FortiGate"),
        ("FortiGate CA", "Fortinet FortiGate"),
        ("Cisco Umbrella Secondary SubCA", "Cisco Umbrella"),
        ("BlueCoat ProxySG CA", "Blue Coat / Symantec ProxySG"),
        ("Forcepoint Cloud CA", "Forcepoint / Websense"),
        ("Websense Proxy CA", "Forcepoint / Websense"),
        ("SecurityAppliance_SSL_CA", "Sophos"),
        ("Check Point HTTPS inspection CA", "Check Point"),
        ("Gateway CA - Cloudflare Managed G1", "Cloudflare Gateway"),
        ("iboss SSL Decryption CA", "iboss"),
        ("mitmproxy", "mitmproxy"),
        ("Avast Web/Mail Shield Root", "Avast / AVG / Norton antivirus"),
        ("Kaspersky Anti-Virus Personal Root", "Kaspersky antivirus"),
        ("ESET SSL Filter CA", "ESET antivirus"),
        ("Bitdefender Personal CA.Net-Defender", "Bitdefender antivirus"),
        ("Corp Root CA", None),
    ],
)
def test_inspection_products_are_named_by_their_issuer(issuer: str, product: str | None) -> None:
    leaf = issue("127.0.0.1", issuer=issue(issuer, ca=True), names=("127.0.0.1",))
    assert inspection_product([Certificate.from_x509(leaf.cert)]) == product
    assert len({p for _, p in INSPECTION_PRODUCTS}) >= 16


def test_interception_is_a_different_leaf_key_or_issuer_and_a_name_alone_is_a_hint() -> None:
    def chain(*certs: IssuedCert) -> list[Certificate]:
        return [Certificate.from_x509(c.cert) for c in certs]

    server_ca, proxy_ca = issue("Corp Root CA", ca=True), issue("Zscaler Root CA", ca=True)
    server_leaf = issue("sly.corp", issuer=server_ca, names=("sly.corp",))
    resigned = issue("sly.corp", issuer=proxy_ca, names=("sly.corp",))
    assert detect_interception(chain(server_leaf), chain(server_leaf), proxied=True) is None
    assert detect_interception(chain(resigned), chain(server_leaf), proxied=False) is None
    found = detect_interception(chain(resigned, proxy_ca), chain(server_leaf), proxied=True)
    assert found is not None and found.ca == "Zscaler Root CA" and found.product == "Zscaler" and not found.hint_only
    hint = detect_interception(chain(resigned), None, proxied=True)
    assert hint is not None and hint.hint_only and "a hint only" in hint.evidence
    corp_proxy = issue("sly.corp", issuer=issue("ACME Outbound CA", ca=True), names=("sly.corp",))
    assert detect_interception(chain(corp_proxy), None, proxied=True) is None  # nothing to go on


# --- through a small CONNECT proxy -------------------------------------------------------------
@pytest.fixture
def trusted(server: DemoServer) -> DemoServer:
    sly_nb_tls.add_certs(server.root_path)
    return server


def test_a_plain_tunnel_is_used_and_is_not_inspection(trusted: DemoServer) -> None:
    seen: list[dict[str, str]] = []

    def users_me(handler: object) -> Response:
        seen.append(dict(handler.headers))  # type: ignore[attr-defined]
        return Response(200, {"login": "alice"})

    trusted.responses[USERS_ME] = users_me
    try:
        with connect_proxy(credentials=None) as (port, heads):
            proxy = f"http://pxuser:{PASSWORD}@127.0.0.1:{port}"
            r = sly_nb_tls.test_connection(trusted.url, token=TOKEN, proxy=proxy)
    finally:
        del trusted.responses[USERS_ME]
    assert r.ok, str(r)
    assert r.proxy == f"http://***@127.0.0.1:{port}" and r.route.startswith("via proxy")
    assert [s.name for s in r.steps][:3] == ["resolve proxy", "connect to proxy", f"CONNECT 127.0.0.1:{trusted.port}"]
    assert r.interception is None  # the direct chain is the same
    assert b"Proxy-Authorization: Basic " in heads[0]  # credentials went to the proxy...
    assert not any("Proxy-Authorization" in h for h in seen[-1:][0])  # ...and not to the server
    assert PASSWORD not in _everything(r) and "pxuser" not in _everything(r)


def test_a_403_to_connect_is_proxy_rejected_with_the_status_escaped(server: DemoServer) -> None:
    answer = b"HTTP/1.1 403 <script>alert(1)</script> policy\r\nContent-Length: 0\r\n\r\n"
    with connect_proxy(answer=answer) as (port, _):
        r = sly_nb_tls.test_connection(server.url, proxy=f"http://127.0.0.1:{port}")
    assert r.problem == "proxy_rejected", str(r)
    assert "403" in r.cause and "refused the tunnel" in r.cause
    assert "<script>" not in r._repr_html_() and "&lt;script&gt;" in r._repr_html_()
    assert "NO_PROXY" in r.fix


def test_a_proxy_that_wants_credentials(server: DemoServer) -> None:
    import base64

    basic = "Basic " + base64.b64encode(f"pxuser:{PASSWORD}".encode()).decode()
    with connect_proxy(credentials=basic) as (port, _):
        without = sly_nb_tls.test_connection(server.url, proxy=f"http://127.0.0.1:{port}")
        wrong = sly_nb_tls.test_connection(server.url, proxy=f"http://pxuser:nope@127.0.0.1:{port}")
        sly_nb_tls.add_certs(server.root_path)
        right = sly_nb_tls.test_connection(server.url, proxy=f"http://pxuser:{PASSWORD}@127.0.0.1:{port}")
    assert without.problem == "proxy_auth_required" and "asks for Basic" in without.cause, str(without)
    assert "no credentials" in without.cause and "user:password@" in without.fix
    assert wrong.problem == "proxy_auth_required" and "were refused" in wrong.cause
    assert right.ok, str(right)


def test_a_proxy_that_is_not_there_is_proxy_unreachable(server: DemoServer) -> None:
    with closed_port() as port:
        r = sly_nb_tls.test_connection(server.url, proxy=f"http://pxuser:{PASSWORD}@127.0.0.1:{port}")
    assert r.problem == "proxy_unreachable" and 'proxy="")' in r.fix, str(r)
    assert PASSWORD not in _everything(r)
    r = sly_nb_tls.test_connection(server.url, proxy="http://no-such-proxy.invalid:3128", timeout=5)
    assert r.problem == "proxy_unreachable" and "no-such-proxy.invalid" in r.cause, str(r)


def test_an_https_proxy_is_verified_too(server: DemoServer, tmp_path: Path) -> None:
    proxy_root = issue("Proxy Listener CA", ca=True)
    listener = issue("127.0.0.1", issuer=proxy_root, names=("127.0.0.1",))
    ctx = server_context([listener], listener)
    sly_nb_tls.add_certs(server.root_path)
    with connect_proxy(tls=ctx) as (port, _):
        untrusted = sly_nb_tls.test_connection(server.url, token=TOKEN, proxy=f"https://127.0.0.1:{port}")
        sly_nb_tls.add_certs(proxy_root.pem)
        trusted = sly_nb_tls.test_connection(server.url, token=TOKEN, proxy=f"https://127.0.0.1:{port}")
        fetched = sly_nb_tls.fetch_chain(server.url, proxy=f"https://127.0.0.1:{port}")
    assert untrusted.problem == "proxy_unreachable" and "TLS connection to the proxy" in untrusted.cause
    assert trusted.ok and trusted.login == "alice", str(trusted)
    assert "TLS to proxy" in [s.name for s in trusted.steps]
    assert fetched.verified and fetched.chain[0].issuer_common_name == "sly_nb_tls Demo Intermediate CA"


def test_no_proxy_and_direct_go_around_the_proxy(trusted: DemoServer) -> None:
    with closed_port() as port:
        os.environ["HTTPS_PROXY"] = f"http://127.0.0.1:{port}"
        via = sly_nb_tls.test_connection(trusted.url)
        direct = sly_nb_tls.test_connection(trusted.url, proxy="")
        os.environ["NO_PROXY"] = "localhost,127.0.0.1"
        bypassed = sly_nb_tls.test_connection(trusted.url)
    assert via.problem == "proxy_unreachable" and via.route.endswith("(from the environment, as requests would)")
    assert direct.ok and direct.route == "direct (asked for: --direct)" and direct.proxy is None
    assert bypassed.ok and bypassed.route == "direct (NO_PROXY matched '127.0.0.1')", bypassed.route
    # requests agrees on all three
    with pytest.raises(requests.exceptions.ProxyError):
        del os.environ["NO_PROXY"]
        requests.get(trusted.url, timeout=5)


def test_direct_and_proxy_in_the_magic_and_the_cli(trusted: DemoServer, tmp_path: Path) -> None:
    from IPython.core.interactiveshell import InteractiveShell

    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "sly_nb_tls")
    with closed_port() as port:
        os.environ["HTTPS_PROXY"] = f"http://127.0.0.1:{port}"
        assert ip.run_line_magic("sly_tls", f"test {trusted.url}").problem == "proxy_unreachable"
        assert ip.run_line_magic("sly_tls", f"test {trusted.url} --direct").ok
        fetched = ip.run_line_magic("sly_tls", f"fetch {trusted.url} --direct")
        assert fetched.route == "direct (asked for: --direct)"
        result = ip.run_cell(f"%sly_tls test {trusted.url} --direct --proxy http://127.0.0.1:{port}")
        assert type(result.error_in_exec).__name__ == "UsageError"
        env = controlled_env(False) | {"HTTPS_PROXY": f"http://pxuser:{PASSWORD}@127.0.0.1:{port}",
                                       "SLY_NB_TLS_DIR": str(tmp_path / "u")}  # fmt: skip

        def cli(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run([sys.executable, "-m", "sly_nb_tls", *args], env=env, capture_output=True,
                                  text=True, timeout=120)  # fmt: skip

        through = cli("test", trusted.url, "--ca", trusted.root_path, "--json")
        around = cli("test", trusted.url, "--ca", trusted.root_path, "--direct", "--json")
        both = cli("test", trusted.url, "--direct", "--proxy", "http://127.0.0.1:1")
    assert through.returncode == 1 and json.loads(through.stdout)["problem"] == "proxy_unreachable"
    assert json.loads(through.stdout)["proxy"] == f"http://***@127.0.0.1:{port}"
    assert around.returncode == 0 and json.loads(around.stdout)["ok"], around.stdout + around.stderr
    assert both.returncode == 2 and "not allowed with argument" in both.stderr
    assert PASSWORD not in through.stdout + through.stderr


# --- through mitmproxy ---------------------------------------------------------------------------
def test_an_inspecting_proxy_is_named_and_its_root_is_the_one_to_add(
    trusted: DemoServer, inspecting: str, inspection_ca: IssuedCert, tmp_path: Path
) -> None:
    before = sly_nb_tls.test_connection(trusted.url, token=TOKEN, proxy=inspecting)
    assert before.problem == "untrusted_root", str(before)
    assert before.interception is not None and before.interception.ca == "Test Inspection Root CA"
    assert not before.interception.hint_only and "differs from the server's own" in before.interception.evidence
    assert "the root to add is the proxy's CA \"Test Inspection Root CA\", not the server's" in before.cause
    assert "inspecting proxy" in before.fix and "Test Inspection Root CA" in before.fix
    # mitmproxy presents its leaf alone, so the CA must come from IT or this machine's store
    assert "certificate store" in before.fix
    assert "TLS inspection" in str(before) and "TLS inspection" in before._repr_html_()
    # fetch goes the same way, and sees the proxy's chain, not the server's
    fetched = sly_nb_tls.fetch_chain(trusted.url, proxy=inspecting)
    assert [c.issuer_common_name for c in fetched.chain] == ["Test Inspection Root CA"]
    assert fetched.interception is not None and fetched.route.startswith("via proxy")
    # requests, called by hand, agrees: it fails the same way until that root is added
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(trusted.url, proxies={"https": inspecting}, timeout=10)
    (tmp_path / "from-it.crt").write_text(inspection_ca.pem)
    sly_nb_tls.add_certs(str(tmp_path / "from-it.crt"))
    after = sly_nb_tls.test_connection(trusted.url, token=TOKEN, proxy=inspecting)
    assert after.ok and after.verified_by == "Test Inspection Root CA", str(after)
    assert after.interception is not None  # still reported: trusted now, but still inspected
    assert requests.get(trusted.url, proxies={"https": inspecting}, timeout=10).status_code == 200


def test_mitmproxy_as_a_plain_tunnel_with_proxyauth(trusted: DemoServer, auth_tunnel: str) -> None:
    without = sly_nb_tls.test_connection(trusted.url, token=TOKEN, proxy=auth_tunnel)
    assert without.problem == "proxy_auth_required", str(without)
    with_creds = sly_nb_tls.test_connection(trusted.url, token=TOKEN, proxy=_with_password(auth_tunnel))
    assert with_creds.ok and with_creds.interception is None, str(with_creds)
    assert PASSWORD not in _everything(without) + _everything(with_creds)


@pytest.mark.slow  # every command through two proxies, ~2.5 s: the full run has it, the quick part does not
def test_no_output_shows_the_proxy_password(server: DemoServer, auth_tunnel: str, inspecting: str) -> None:
    """Text, HTML, JSON, steps, warnings and exceptions, for every outcome through a proxy."""
    outputs: list[str] = []
    os.environ["HTTPS_PROXY"] = _with_password(auth_tunnel)
    outputs.append(_everything(sly_nb_tls.test_connection(server.url, token=TOKEN, clients=True)))
    outputs.append(_everything(sly_nb_tls.fetch_chain(server.url)))
    os.environ["HTTPS_PROXY"] = auth_tunnel.replace("http://", "http://pxuser:wrong-pass-word@")
    outputs.append(_everything(sly_nb_tls.test_connection(server.url)))
    with closed_port() as port:
        os.environ["HTTPS_PROXY"] = f"http://pxuser:{PASSWORD}@127.0.0.1:{port}"
        outputs.append(_everything(sly_nb_tls.test_connection(server.url, clients=True)))
        with pytest.raises(sly_nb_tls.errors.FetchError) as info:
            sly_nb_tls.fetch_chain(server.url)
        outputs.append(str(info.value))
    os.environ["HTTPS_PROXY"] = inspecting.replace("http://", f"http://pxuser:{PASSWORD}@")
    outputs.append(_everything(sly_nb_tls.test_connection(server.url)))
    outputs.append(_everything(sly_nb_tls.status()))
    everything = "\n".join(outputs)
    assert "wrong-pass-word" not in everything
    assert PASSWORD not in everything and f"pxuser:{PASSWORD[:6]}" not in everything
    assert "***@127.0.0.1" in everything


# --- each client, as it would go ----------------------------------------------------------------
def _by_hand(url: str) -> dict[str, str | None]:
    """What each client does when called by hand, the way a user calls it."""
    import asyncio

    import aiohttp
    import httpx
    import urllib3

    def outcome(call: object) -> str | None:
        try:
            status = call()  # type: ignore[operator]
        except Exception as exc:  # noqa: BLE001 - any failure is the answer
            from sly_nb_tls.diagnose.attempts import problem_of

            return problem_of(exc, "127.0.0.1")
        return None if status == 200 else f"HTTP {status}"

    headers = {"x-api-key": TOKEN, "Content-Type": "application/json"}

    async def via_aiohttp() -> int:
        async with aiohttp.ClientSession() as s, s.post(url + USERS_ME, headers=headers, data=b"{}") as r:
            return r.status

    import urllib.request

    return {
        "requests": outcome(lambda: requests.post(url + USERS_ME, headers=headers, data=b"{}", timeout=10).status_code),
        "urllib.request": outcome(lambda: urllib.request.urlopen(
            urllib.request.Request(url + USERS_ME, data=b"{}", headers=headers, method="POST"), timeout=10).status),
        "urllib3": outcome(lambda: urllib3.PoolManager(retries=False).request(
            "POST", url + USERS_ME, headers=headers, body=b"{}").status),
        "httpx": outcome(lambda: httpx.post(url + USERS_ME, headers=headers, content=b"{}").status_code),
        "aiohttp": outcome(lambda: asyncio.run(via_aiohttp())),
        "curl": outcome(lambda: int(subprocess.run(
            ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", "-H", f"x-api-key: {TOKEN}",
             "--data-binary", "{}", url + USERS_ME], capture_output=True, text=True, timeout=20, check=True).stdout)),
    }  # fmt: skip


@pytest.mark.slow  # seconds of child processes: the full run has it, the quick part does not
def test_each_client_check_matches_the_client_called_by_hand(
    server: DemoServer, inspecting: str, inspection_ca: IssuedCert
) -> None:
    """Behind an inspecting proxy whose root is trusted: clients that use the proxy get
    through, clients that ignore it meet the server's own (untrusted) chain."""
    os.environ["HTTPS_PROXY"] = inspecting
    sly_nb_tls.add_certs(inspection_ca.pem)
    report = sly_nb_tls.test_connection(server.url, token=TOKEN, clients=True)
    table = {c.client: c.problem for c in report.clients}
    by_hand = _by_hand(server.url)
    for client, problem in by_hand.items():
        assert table[client] == problem, (client, table, by_hand)
    assert table["requests"] is None and table["aiohttp"] == "untrusted_root"
    assert any(n.startswith("aiohttp disagrees with requests") and "trust_env" in n for n in report.client_notes)
    assert report.to_dict()["clients"] and "each client" in str(report) and "each client" in report._repr_html_()
    if "supervisely Api" in table:
        assert table["supervisely Api"] is None  # it uses requests, so it goes through the proxy


@pytest.mark.slow  # waits out a deadline on purpose: the full run only
def test_the_client_check_is_bounded_by_the_timeout(server: DemoServer) -> None:
    from .servers import silent_listener

    with silent_listener() as port:
        os.environ["HTTPS_PROXY"] = f"http://127.0.0.1:{port}"  # accepts, never answers
        report = sly_nb_tls.test_connection(server.url, token=TOKEN, clients=True, timeout=2)
    assert report.problem == "proxy_unreachable"
    # the test itself used the whole limit waiting for CONNECT: no client gets more
    assert report.clients and {c.problem for c in report.clients} == {"timeout"}, report.clients


@pytest.mark.slow  # every client in turn, ~2 s: the full run has it, the quick part does not
def test_the_client_check_never_puts_the_token_on_a_command_line_nor_follows_a_redirect(
    trusted: DemoServer, tmp_path: Path
) -> None:
    """curl gets its headers on stdin (others can read a process's arguments); urllib, like the
    others, reports a 3xx instead of carrying the token to wherever it points."""
    from sly_nb_tls.demo import Response

    from .servers import http_files

    seen = tmp_path / "curl-args.json"
    fake = tmp_path / "bin" / "curl"
    fake.parent.mkdir()
    fake.write_text(f"#!{sys.executable}\nimport json, sys\n"
                    f"json.dump({{'argv': sys.argv, 'stdin': sys.stdin.read()}}, open({str(seen)!r}, 'w'))\n"
                    "sys.exit(7)\n")  # fmt: skip
    fake.chmod(0o755)
    os.environ["PATH"] = f"{fake.parent}{os.pathsep}{os.environ['PATH']}"
    files: dict[str, bytes] = {}
    with http_files(files) as elsewhere:
        trusted.responses[USERS_ME] = Response(302, "moved", headers={"Location": elsewhere + "/login"})
        try:
            report = sly_nb_tls.test_connection(trusted.url, token=TOKEN, clients=True)
        finally:
            del trusted.responses[USERS_ME]
    recorded = json.loads(seen.read_text())
    assert TOKEN not in " ".join(recorded["argv"]) and f"x-api-key: {TOKEN}" in recorded["stdin"]
    table = {c.client: c.problem for c in report.clients}
    assert table["curl"] == "connection_refused"  # the fake's exit 7, read as curl's code
    assert table["urllib.request"] == "not_supervisely" == table["requests"], table
