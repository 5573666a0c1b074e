"""The built-in demo server answers as KNOWLEDGE.md §4 describes Supervisely's API."""

from __future__ import annotations

import datetime as dt
import ssl
from pathlib import Path

import pytest
import requests

import sly_nb_tls
from sly_nb_tls.demo import DemoPKI, DemoServer


@pytest.fixture(scope="module")
def server() -> DemoServer:
    with DemoServer(token="demo-secret") as s:
        yield s  # type: ignore[misc]


def _post(server: DemoServer, path: str, **kw: object) -> requests.Response:
    return requests.post(server.url + path, verify=server.chain_path, timeout=10, **kw)  # type: ignore[arg-type]


def test_users_me_needs_the_api_key(server: DemoServer) -> None:
    assert _post(server, "/public/api/v3/users.me", json={}).status_code == 401
    assert _post(server, "/public/api/v3/users.me", json={}, headers={"x-api-key": "wrong"}).status_code == 401
    ok = _post(server, "/public/api/v3/users.me", json={}, headers={"x-api-key": "demo-secret"})
    assert ok.status_code == 200 and ok.json()["login"] == "alice"


def test_instance_version(server: DemoServer) -> None:
    r = _post(server, "/public/api/v3/instance.version", json={})
    assert r.status_code == 200 and "version" in r.json()


def test_presents_leaf_and_intermediate_for_loopback_names(server: DemoServer) -> None:
    chain = sly_nb_tls.fetch_chain(server.url).chain
    assert [c.kind for c in chain] == ["leaf", "intermediate CA"]
    assert set(chain[0].names) == {"127.0.0.1", "localhost"}
    assert Path(server.root_path).read_text().count("BEGIN CERTIFICATE") == 1
    assert Path(server.chain_path).read_text().count("BEGIN CERTIFICATE") == 2
    assert "PRIVATE" not in Path(server.chain_path).read_text() + Path(server.root_path).read_text()


def test_binds_loopback_only(server: DemoServer) -> None:
    assert server._httpd.server_address[0] == "127.0.0.1"


def test_bad_presented_choice() -> None:
    with pytest.raises(ValueError, match="presented must be one of"):
        DemoServer(presented="everything")


def test_report_warns_when_the_server_certificate_expires_within_30_days() -> None:
    soon = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=5)
    with DemoServer(DemoPKI.create(leaf_not_after=soon)) as s:
        sly_nb_tls.add_certs(s.root_path)
        r = sly_nb_tls.test_connection(s.url)
    assert r.ok and any("expires soon" in w for w in r.warnings), r.warnings


def test_requests_232_preloaded_context_is_swapped_and_restored() -> None:
    """requests 2.32.0–2.32.4 kept a module-level context; simulate it on this newer requests."""
    import requests.adapters as adapters
    from requests import utils
    from urllib3.util.ssl_ import create_urllib3_context

    preloaded = create_urllib3_context()
    preloaded.load_verify_locations(utils.extract_zipped_paths(utils.DEFAULT_CA_BUNDLE_PATH))
    adapters._preloaded_ssl_context = preloaded  # type: ignore[attr-defined]
    try:
        with DemoServer() as s:
            result = sly_nb_tls.add_certs(s.root_path)
            assert "requests preloaded context" in result.live_updated
            swapped = adapters._preloaded_ssl_context  # type: ignore[attr-defined]
            assert swapped is not preloaded and swapped.verify_mode == ssl.CERT_REQUIRED
            import hashlib

            have = {hashlib.sha256(d).hexdigest() for d in swapped.get_ca_certs(binary_form=True)}
            assert result.added[0].sha256 in have
            sly_nb_tls.reset()
            assert adapters._preloaded_ssl_context is preloaded  # type: ignore[attr-defined]
    finally:
        del adapters._preloaded_ssl_context  # type: ignore[attr-defined]
