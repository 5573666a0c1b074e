"""Each client keeps exactly its own roots plus the extras; live objects and processes made earlier.

In-process, against the demo server: the pieces the client matrices exercise end to end,
one at a time, including every way a client can be *left alone* (pinned) and every
process that cannot be reached (listed by `status`).
"""

from __future__ import annotations

import hashlib
import os
import ssl
import subprocess
import sys
import threading
from pathlib import Path

import certifi
import pytest
import requests

import sly_nb_tls
from sly_nb_tls.demo import DemoServer, issue
from sly_nb_tls.trust.extras import at_exit

from .helpers import CA_VARIABLES, expected_base, pem_shas


def _fingerprints(ctx: ssl.SSLContext) -> set[str]:
    return {hashlib.sha256(d).hexdigest() for d in ctx.get_ca_certs(binary_form=True)}


@pytest.fixture
def other_ca(tmp_path: Path) -> str:
    path = tmp_path / "their-own-ca.pem"
    path.write_text(issue("Their Own CA", ca=True).pem)
    return str(path)


def test_httpx_keeps_certifi_and_does_not_get_openssl_roots_through_ssl_cert_file(
    ca_env: bool, demo_server: DemoServer
) -> None:
    httpx = pytest.importorskip("httpx")
    before = dict(os.environ)
    sha = sly_nb_tls.add_certs(demo_server.root_path).added[0].sha256
    with httpx.Client() as client:
        held = _fingerprints(client._transport._pool._ssl_context)
        assert client.get(demo_server.url + "/").status_code == 200
    own = pem_shas(before["SSL_CERT_FILE"]) if ca_env else pem_shas(certifi.where())
    assert held == own | {sha}


def test_a_context_made_before_add_on_a_default_store_gets_the_extras_and_a_pinned_one_never(
    ca_env: bool, demo_server: DemoServer, other_ca: str
) -> None:
    default = ssl.create_default_context()
    on_certifi = ssl.create_default_context(cafile=certifi.where())
    pinned = ssl.create_default_context(cafile=other_ca)
    pinned_before = _fingerprints(pinned)
    result = sly_nb_tls.add_certs(demo_server.root_path)
    sha = result.added[0].sha256
    assert sha in _fingerprints(default) and sha in _fingerprints(on_certifi)
    assert _fingerprints(pinned) == pinned_before, "a context pinned to its own CA was given the extras"
    st = sly_nb_tls.status()
    assert st.pinned >= 1
    assert "pinned: left alone" in str(st)
    reset = sly_nb_tls.reset()
    assert reset.live_contexts_holding >= 2  # OpenSSL cannot take them out again: reset says so


def test_botocore_sessions_made_before_add_are_repointed_and_put_back_exactly(
    ca_env: bool, demo_server: DemoServer, other_ca: str
) -> None:
    boto3 = pytest.importorskip("boto3")
    from botocore.httpsession import URLLib3Session

    default_client = boto3.client("s3", endpoint_url=demo_server.url, region_name="us-east-1",
                                  aws_access_key_id="k", aws_secret_access_key="s")  # fmt: skip
    pinned_client = boto3.client("s3", endpoint_url=demo_server.url, region_name="us-east-1", verify=other_ca,
                                 aws_access_key_id="k", aws_secret_access_key="s")  # fmt: skip
    default_session: URLLib3Session = default_client._endpoint.http_session
    pinned_session: URLLib3Session = pinned_client._endpoint.http_session
    verify_before = default_session._verify
    result = sly_nb_tls.add_certs(demo_server.root_path)
    assert any("botocore session" in x for x in result.live_updated), result.live_updated
    assert default_session._verify == os.environ["AWS_CA_BUNDLE"]
    assert pinned_session._verify == other_ca, "a client pinned to its own CA file was repointed"
    sly_nb_tls.reset()
    assert default_session._verify == verify_before


def test_httplib2_ca_certs_is_repointed_unless_pinned_and_put_back(ca_env: bool, demo_server: DemoServer) -> None:
    httplib2 = pytest.importorskip("httplib2")
    before = httplib2.CA_CERTS
    sly_nb_tls.add_certs(demo_server.root_path)
    assert httplib2.CA_CERTS == os.environ["HTTPLIB2_CA_CERTS"]
    _, body = httplib2.Http(timeout=10).request(demo_server.url + "/", headers={"connection": "close"})
    assert b"demo server" in body
    sly_nb_tls.reset()
    assert httplib2.CA_CERTS == before


def test_httplib2_pinned_by_the_user_is_left_alone_and_flagged(
    demo_server: DemoServer, other_ca: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    httplib2 = pytest.importorskip("httplib2")
    monkeypatch.setattr(httplib2, "CA_CERTS", other_ca)
    sly_nb_tls.add_certs(demo_server.root_path)
    assert httplib2.CA_CERTS == other_ca
    rows = {c.client: c for c in sly_nb_tls.status(clients=True).clients}
    assert rows["httplib2"].sees_extras is False
    assert "pinned" in rows["httplib2"].why
    assert rows["requests"].sees_extras is True


def test_tornado_default_context_is_rebuilt_at_add_and_at_reset(demo_server: DemoServer) -> None:
    netutil = pytest.importorskip("tornado.netutil")
    cached = callable(netutil._client_ssl_defaults)  # tornado 6.5+: an lru_cache; before: a module attribute

    def current() -> ssl.SSLContext:
        return netutil._client_ssl_defaults() if cached else netutil._client_ssl_defaults  # type: ignore[no-any-return]

    stale = current()
    sha = sly_nb_tls.add_certs(demo_server.root_path).added[0].sha256
    fresh = current()
    assert fresh is not stale and sha in _fingerprints(fresh)
    sly_nb_tls.reset()
    after = current()
    assert after is not fresh and sha not in _fingerprints(after)


def test_status_clients_says_which_library_sees_the_extras(ca_env: bool, demo_server: DemoServer) -> None:
    st = sly_nb_tls.status(clients=True)
    assert st.clients and all(c.sees_extras is False for c in st.clients)
    sly_nb_tls.add_certs(demo_server.root_path)
    rows = {c.client: c for c in sly_nb_tls.status(clients=True).clients}
    for name in ("requests", "urllib", "urllib3", "httpx", "aiohttp", "botocore", "grpc"):
        assert rows[name].sees_extras is True, (name, rows[name])
    os.environ["REQUESTS_CA_BUNDLE"] = certifi.where()  # as `import supervisely` may do
    rows = {c.client: c for c in sly_nb_tls.status(clients=True).clients}
    assert rows["requests"].sees_extras is False and "of its own" in rows["requests"].why
    text, html = str(sly_nb_tls.status(clients=True)), sly_nb_tls.status(clients=True)._repr_html_()
    assert "each HTTPS library here" in text and "each HTTPS library here" in html


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="children are listed from /proc")
def test_status_lists_children_started_before_add_and_not_those_started_after(demo_server: DemoServer) -> None:
    quiet = {"stdin": subprocess.PIPE, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    early = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], **quiet)  # type: ignore[call-overload]
    try:
        import time

        time.sleep(0.05)  # /proc start times tick in 10 ms steps: this child starts ticks before add
        sly_nb_tls.add_certs(demo_server.root_path)
        late = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], **quiet)  # type: ignore[call-overload]
        try:
            st = sly_nb_tls.status()
            listed = [c.split(" ", 1)[0] for c in st.children_before_add or []]
            assert str(early.pid) in listed and str(late.pid) not in listed
            assert "started before the last add" in str(st) and "recreate" in str(st)
        finally:
            late.communicate(b"", timeout=30)
    finally:
        early.communicate(b"", timeout=30)
    sly_nb_tls.reset()
    assert sly_nb_tls.status().children_before_add == []


def test_wget_gets_a_wgetrc_with_the_users_lines_and_their_ca_plus_the_extras(
    tmp_path: Path, demo_server: DemoServer, other_ca: str
) -> None:
    user_rc = tmp_path / "wgetrc"
    user_rc.write_text(f"tries = 2\nca_certificate = {other_ca}\n")
    os.environ["WGETRC"] = str(user_rc)
    sha = sly_nb_tls.add_certs(demo_server.root_path).added[0].sha256
    ours = Path(os.environ["WGETRC"])
    lines = ours.read_text().splitlines()
    assert "tries = 2" in lines
    ca_lines = [ln for ln in lines if ln.startswith("ca_certificate")]
    assert len(ca_lines) == 1
    assert pem_shas(ca_lines[0].split("=", 1)[1].strip()) == pem_shas(other_ca) | {sha}
    sly_nb_tls.reset()
    assert os.environ["WGETRC"] == str(user_rc)
    assert ours.read_text() == user_rc.read_text()  # rewritten to the user's own wgetrc, kept for live readers


def test_npm_with_a_configured_cafile_gets_that_file_plus_the_extras(
    tmp_path: Path, demo_server: DemoServer, other_ca: str
) -> None:
    npmrc = tmp_path / "npmrc"
    npmrc.write_text(f"cafile={other_ca}\n")
    os.environ["NPM_CONFIG_USERCONFIG"] = str(npmrc)
    sha = sly_nb_tls.add_certs(demo_server.root_path).added[0].sha256
    assert pem_shas(os.environ["npm_config_cafile"]) == pem_shas(other_ca) | {sha}
    sly_nb_tls.reset()
    assert "npm_config_cafile" not in os.environ


def test_git_http_sslcainfo_is_honoured(tmp_path: Path, demo_server: DemoServer, other_ca: str) -> None:
    if not subprocess.run(["git", "--version"], capture_output=True).returncode == 0:
        pytest.skip("git is not installed")
    config = tmp_path / "gitconfig"
    config.write_text(f"[http]\n\tsslCAInfo = {other_ca}\n")
    os.environ["GIT_CONFIG_GLOBAL"] = str(config)
    before = dict(os.environ)
    sha = sly_nb_tls.add_certs(demo_server.root_path).added[0].sha256
    assert expected_base("GIT_SSL_CAINFO", before) == pem_shas(other_ca)
    assert pem_shas(os.environ["GIT_SSL_CAINFO"]) == pem_shas(other_ca) | {sha}


@pytest.mark.slow  # the same on every Python: the main run covers it
def test_add_and_reset_under_load_give_verification_failures_never_os_errors(demo_server: DemoServer) -> None:
    """4 threads send requests through 100 add/reset cycles: each request either works or fails
    verification; none finds its CA file missing (OSError) or anything else."""
    stop = threading.Event()
    outcomes: dict[str, int] = {}
    others: list[str] = []
    lock = threading.Lock()

    def client() -> None:
        while not stop.is_set():
            try:
                requests.get(demo_server.url + "/", timeout=10)
                outcome = "ok"
            except requests.exceptions.SSLError as exc:
                outcome = "verify-failed" if "CERTIFICATE_VERIFY_FAILED" in str(exc) else f"other: {exc!r}"
            except KeyError as exc:
                # CPython's os.environ is not safe to iterate while another thread deletes a key
                # (urllib's getproxies_environment does, for every request): reset's restoring of
                # an unset variable races it.  Only a CA variable's name may show up here.
                outcome = "environ-race" if exc.args and exc.args[0] in CA_VARIABLES else f"other: {exc!r}"
            except Exception as exc:  # noqa: BLE001 - anything else is what this test looks for
                outcome = f"other: {exc!r}"
            with lock:
                outcomes[outcome.split(":")[0]] = outcomes.get(outcome.split(":")[0], 0) + 1
                if outcome.startswith("other"):
                    others.append(outcome)

    threads = [threading.Thread(target=client) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        for _ in range(100):
            sly_nb_tls.add_certs(demo_server.root_path)
            sly_nb_tls.reset()
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    assert not others, others[:5]
    assert outcomes.get("verify-failed", 0) > 0  # the loop did run while trust came and went
    names = sorted(p.name for p in Path(os.environ["SLY_NB_TLS_DIR"]).iterdir())
    assert len(names) <= 8, f"files piled up over the cycles: {names}"


def test_the_only_widening_is_explicit_add_system(demo_server: DemoServer) -> None:
    store = ssl.get_default_verify_paths().openssl_cafile
    if not os.path.isfile(store):
        pytest.skip("no system CA file")
    system = pem_shas(store)
    sly_nb_tls.add_certs(demo_server.root_path)
    requests_roots = pem_shas(os.environ["REQUESTS_CA_BUNDLE"])
    assert not (system - pem_shas(certifi.where())) <= requests_roots  # requests did not gain the system's
    sly_nb_tls.reset()
    sly_nb_tls.add_certs(demo_server.root_path, system=True)
    assert system <= pem_shas(os.environ["REQUESTS_CA_BUNDLE"])  # asked for: now it has them
    assert sly_nb_tls.status().active


def test_a_context_made_before_the_first_add_still_counts_as_default_after_a_reset(demo_server: DemoServer) -> None:
    """It keeps the first round's extras (OpenSSL cannot drop them): it is still no pinned context."""
    made_early = ssl.create_default_context()
    sly_nb_tls.add_certs(issue("First Round CA", ca=True).pem)
    sly_nb_tls.reset()
    sha = sly_nb_tls.add_certs(demo_server.root_path).added[0].sha256
    assert sha in _fingerprints(made_early)


# --- each of these failed before the review's fixes ---------------------------------------------
def test_a_context_pinned_to_the_file_git_uses_is_still_pinned(
    tmp_path: Path, demo_server: DemoServer, other_ca: str
) -> None:
    config = tmp_path / "gitconfig"
    config.write_text(f"[http]\n\tsslCAInfo = {other_ca}\n")
    os.environ["GIT_CONFIG_GLOBAL"] = str(config)
    pinned = ssl.create_default_context(cafile=other_ca)
    sha = sly_nb_tls.add_certs(demo_server.root_path).added[0].sha256
    assert sha not in _fingerprints(pinned)


def test_after_add_system_and_reset_a_context_pinned_to_one_public_root_stays_pinned(demo_server: DemoServer) -> None:
    store = ssl.get_default_verify_paths().openssl_cafile
    if not os.path.isfile(store):
        pytest.skip("no system CA file")
    sly_nb_tls.add_certs(system=True)
    sly_nb_tls.reset()
    one_root = Path(os.environ["SLY_NB_TLS_DIR"]) / "one-root.pem"
    one_root.write_bytes(
        Path(store).read_bytes().split(b"-----END CERTIFICATE-----")[0] + b"-----END CERTIFICATE-----\n"
    )
    pinned = ssl.create_default_context(cafile=str(one_root))
    sha = sly_nb_tls.add_certs(demo_server.root_path).added[0].sha256
    assert sha not in _fingerprints(pinned)


def test_where_a_client_is_configured_beyond_its_variable_is_honoured(
    tmp_path: Path, demo_server: DemoServer, other_ca: str
) -> None:
    aws = tmp_path / "aws-config"
    aws.write_text(f"[default]\nca_bundle = {other_ca}\n")
    os.environ["AWS_CONFIG_FILE"] = str(aws)
    git = tmp_path / "gitconfig"
    git.write_text(f'[http "https://git.corp"]\n\tsslCAInfo = {other_ca}\n')
    os.environ["GIT_CONFIG_GLOBAL"] = str(git)
    sha = sly_nb_tls.add_certs(demo_server.root_path).added[0].sha256
    assert pem_shas(os.environ["AWS_CA_BUNDLE"]) == pem_shas(other_ca) | {sha}
    assert "GIT_SSL_CAINFO" not in os.environ  # a per-URL setting cannot survive GIT_SSL_CAINFO: git left alone


def test_a_botocore_session_on_certifi_is_left_when_its_base_is_a_preset_file(
    tmp_path: Path, demo_server: DemoServer, other_ca: str
) -> None:
    boto3 = pytest.importorskip("boto3")
    os.environ["REQUESTS_CA_BUNDLE"] = other_ca  # botocore's base: this file, not certifi
    client = boto3.client("s3", endpoint_url=demo_server.url, region_name="us-east-1", verify=True,
                          aws_access_key_id="k", aws_secret_access_key="s")  # fmt: skip
    sly_nb_tls.add_certs(demo_server.root_path)
    assert client._endpoint.http_session._verify is True


def test_a_preset_directory_in_a_file_variable_is_left_alone(tmp_path: Path, demo_server: DemoServer) -> None:
    directory = tmp_path / "cas"
    directory.mkdir()
    (directory / "x.pem").write_text(issue("Dir CA", ca=True).pem)
    os.environ["SSL_CERT_FILE"] = str(directory)
    result = sly_nb_tls.add_certs(demo_server.root_path)
    assert os.environ["SSL_CERT_FILE"] == str(directory) and "SSL_CERT_FILE" not in result.variables_set


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="readers are known from /proc")
def test_the_bundle_a_running_wget_may_read_outlives_the_kernel(tmp_path: Path, demo_server: DemoServer) -> None:
    user_rc = tmp_path / "wgetrc"
    user_rc.write_text("tries = 1\nhttp_password = hunter2-not-shown\n")
    os.environ["WGETRC"] = str(user_rc)
    sly_nb_tls.add_certs(demo_server.root_path)
    ours = Path(os.environ["WGETRC"])
    assert oct(ours.stat().st_mode & 0o777) == "0o600"  # it holds the user's password line
    ca_line = next(ln for ln in ours.read_text().splitlines() if ln.startswith("ca_certificate"))
    cafile = Path(ca_line.split("= ", 1)[1])
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        sly_nb_tls.reset()
        assert ours.read_text() == user_rc.read_text()  # the user's own wgetrc, their lines as they were
        at_exit()
        assert cafile.exists(), "the CA file of a wgetrc a live child names was deleted"
    finally:
        child.communicate(b"", timeout=30)


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="children are listed from /proc")
def test_children_are_listed_with_their_secrets_redacted(demo_server: DemoServer) -> None:
    import time

    child = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()", "https://alice:Pa55w0rd-xyz@sly.corp"],
        stdin=subprocess.PIPE,
    )
    try:
        time.sleep(0.05)
        sly_nb_tls.add_certs(demo_server.root_path)
        text = str(sly_nb_tls.status()) + sly_nb_tls.status()._repr_html_()
        assert str(child.pid) in text and "Pa55w0rd-xyz" not in text
    finally:
        child.communicate(b"", timeout=30)


def test_add_works_when_the_working_directory_was_deleted(tmp_path: Path, demo_server: DemoServer) -> None:
    gone = tmp_path / "gone"
    gone.mkdir()
    here = os.getcwd()
    os.chdir(gone)
    gone.rmdir()
    try:
        assert sly_nb_tls.add_certs(demo_server.root_path).added
    finally:
        os.chdir(here)


def test_file_names_of_hosts_with_dashes_are_recognised_for_pruning() -> None:
    from sly_nb_tls.trust.files import _OWNED_NAME

    assert _OWNED_NAME.match("bundle-jupyter_alice-4242-0123abcd-9d03850bbf.pem")
    assert _OWNED_NAME.match("wgetrc-jupyter_alice-4242-0123abcd")
