"""Registration: environment, hooks, live contexts, files, remove and reset — in-process."""

from __future__ import annotations

import os
import ssl
import stat
import subprocess
import sys
import urllib.request
from pathlib import Path

import certifi
import pytest
import requests

import sly_nb_tls
from sly_nb_tls._pem import certificate_blocks as pem_blocks
from sly_nb_tls.demo import DemoServer, issue
from sly_nb_tls.errors import CertificateSourceError, UnknownCertificateError
from sly_nb_tls.trust.environ import EXTRAS_VARIABLE
from sly_nb_tls.trust.extras import at_exit, files_written

from .helpers import (
    ORIGINAL_SSL,
    assert_each_variable_holds_its_base_plus,
    controlled_env,
    expected_base,
    pem_shas,
    ssl_hooks,
    variable_file,
    variable_shas,
    variables_we_set,
)

USERS_ME = "/public/api/v3/users.me"


def _ca_fingerprints(ctx: ssl.SSLContext) -> set[str]:
    import hashlib

    return {hashlib.sha256(der).hexdigest() for der in ctx.get_ca_certs(binary_form=True)}


def _write(tmp_path: Path, name: str, text: str) -> str:
    p = tmp_path / name
    p.write_text(text)
    return str(p)


@pytest.fixture
def root(tmp_path: Path) -> tuple[str, str]:
    """(path, sha256) of a fresh root CA."""
    ca = issue("Unit Test Root CA", ca=True)
    r = sly_nb_tls.add_certs.__module__  # noqa: F841 - import the module before measuring env
    path = _write(tmp_path, "root.pem", ca.pem)
    from sly_nb_tls._sources import read_sources

    return path, read_sources([path]).certificates[0].sha256


def test_reset_restores_os_environ_exactly(ca_env: bool, root: tuple[str, str]) -> None:
    before = dict(os.environ)
    result = sly_nb_tls.add_certs(root[0])
    for var in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "CURL_CA_BUNDLE", "GIT_SSL_CAINFO", "AWS_CA_BUNDLE",
                "HTTPLIB2_CA_CERTS", "NODE_EXTRA_CA_CERTS", "WGETRC", "SLY_EXTRA_CA_CERTS"):  # fmt: skip
        assert var in result.variables_set, var
        assert os.path.dirname(os.environ[var]) == os.environ["SLY_NB_TLS_DIR"], var
    assert ("PIP_CERT" in result.variables_set) == ca_env  # pip reads REQUESTS_CA_BUNDLE when PIP_CERT is unset
    assert os.environ != before
    sly_nb_tls.reset()
    assert dict(os.environ) == before


def test_each_variable_holds_exactly_its_own_previous_roots_plus_the_extras(
    ca_env: bool, root: tuple[str, str]
) -> None:
    before = dict(os.environ)
    sly_nb_tls.add_certs(root[0])
    assert_each_variable_holds_its_base_plus({root[1]}, before)
    # requests keeps certifi (not the system store), curl the system file (not certifi): never each other's
    if not ca_env:
        requests_roots = pem_shas(os.environ["REQUESTS_CA_BUNDLE"])
        curl_roots = pem_shas(os.environ["CURL_CA_BUNDLE"])
        assert requests_roots != curl_roots
        assert requests_roots == pem_shas(certifi.where()) | {root[1]}
    # bundles with equal content share one file
    assert os.environ["SSL_CERT_FILE"] == os.environ["CURL_CA_BUNDLE"]
    assert os.environ["REQUESTS_CA_BUNDLE"] == os.environ["AWS_CA_BUNDLE"]
    # SSL_CERT_DIR adds a lookup directory; it is never touched
    assert os.environ.get("SSL_CERT_DIR") == ("/etc/ssl/certs" if ca_env else None)


def test_reset_rewrites_every_file_to_its_base_and_deletes_nothing_until_exit(
    ca_env: bool, root: tuple[str, str]
) -> None:
    before = dict(os.environ)
    sly_nb_tls.add_certs(root[0])
    ours = {var: os.environ[var] for var in variables_we_set()}
    bundle = Path(ours["SSL_CERT_FILE"])
    assert stat.S_IMODE(bundle.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(bundle.stat().st_mode) == 0o644
    assert not str(bundle).startswith("/tmp/sly")  # per-user dir, not a fixed name in /tmp
    assert [p.name for p in bundle.parent.iterdir() if p.name.startswith(".tmp-")] == []
    sly_nb_tls.reset()
    for var, value in ours.items():
        assert Path(variable_file(var, value)).exists(), f"reset deleted {var}'s file, which a process may read"
        if var != "WGETRC":
            base = expected_base(var, before)
            assert base is not None
            assert variable_shas(var, value) == base, f"{var}: reset left the extras in its file"
    assert "ca_certificate" not in Path(ours["WGETRC"]).read_text()
    # a second add reuses the same files: nothing piles up over add/reset cycles
    sly_nb_tls.add_certs(root[0])
    assert {var: os.environ[var] for var in variables_we_set()} == ours
    sly_nb_tls.reset()
    at_exit()  # the interpreter ends: nothing names the files any more
    assert not any(Path(variable_file(var, value)).exists() for var, value in ours.items())


def test_new_contexts_trust_the_extras_until_reset(root: tuple[str, str]) -> None:
    sly_nb_tls.add_certs(root[0])
    assert root[1] in _ca_fingerprints(ssl.create_default_context())
    assert root[1] in _ca_fingerprints(ssl.create_default_context(cafile=certifi.where()))
    assert root[1] in _ca_fingerprints(ssl._create_default_https_context())
    manual = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    manual.load_default_certs()
    assert root[1] in _ca_fingerprints(manual)
    sly_nb_tls.reset()
    assert root[1] not in _ca_fingerprints(ssl.create_default_context())
    assert root[1] not in _ca_fingerprints(ssl.create_default_context(cafile=certifi.where()))


def test_server_side_and_cert_none_contexts_are_never_touched(
    root: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    httpx = pytest.importorskip("httpx")
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    unverified_client = httpx.Client(verify=False)
    try:
        sly_nb_tls.add_certs(root[0])
        # live update: neither a server context nor a CERT_NONE client context is given the extras
        assert root[1] not in _ca_fingerprints(server_ctx)
        assert root[1] not in _ca_fingerprints(unverified_client._transport._pool._ssl_context)
        # the hook: with SSL_CERT_FILE pointing elsewhere, only verifying client contexts get the extras
        monkeypatch.setenv("SSL_CERT_FILE", certifi.where())
        unverified = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        unverified.check_hostname = False
        unverified.verify_mode = ssl.CERT_NONE
        unverified.load_default_certs()
        assert root[1] not in _ca_fingerprints(unverified)
        assert root[1] not in _ca_fingerprints(ssl.create_default_context(ssl.Purpose.CLIENT_AUTH))
        assert root[1] in _ca_fingerprints(ssl.create_default_context())
    finally:
        unverified_client.close()


def test_hooks_are_removed_exactly_and_foreign_patches_are_left(root: tuple[str, str]) -> None:
    original = ssl.create_default_context
    sly_nb_tls.add_certs(root[0])
    assert ssl.create_default_context is not original
    someone_else = ssl.create_default_context

    def foreign(*a: object, **k: object) -> ssl.SSLContext:
        return someone_else(*a, **k)  # type: ignore[arg-type]

    ssl.create_default_context = foreign
    try:
        result = sly_nb_tls.reset()
        assert any("ssl.create_default_context" in n for n in result.notes)
        assert ssl.create_default_context is foreign
    finally:
        ssl.create_default_context = original


def test_variable_changed_by_someone_else_is_reported_and_left(root: tuple[str, str], tmp_path: Path) -> None:
    sly_nb_tls.add_certs(root[0])
    other = _write(tmp_path, "other.pem", issue("Other CA", ca=True).pem)
    os.environ["REQUESTS_CA_BUNDLE"] = other  # as `import supervisely` does
    st = sly_nb_tls.status()
    assert st.changed_by_other == ["REQUESTS_CA_BUNDLE"]
    assert "reset will leave it" in str(st)
    result = sly_nb_tls.reset()
    assert ("REQUESTS_CA_BUNDLE", other) in result.left
    assert os.environ["REQUESTS_CA_BUNDLE"] == other
    assert "left REQUESTS_CA_BUNDLE" in str(result)
    assert "SSL_CERT_FILE" not in os.environ


def test_second_add_keeps_certificates_of_a_foreign_bundle(root: tuple[str, str], tmp_path: Path) -> None:
    sly_nb_tls.add_certs(root[0])
    other_ca = issue("Foreign CA", ca=True)
    other = _write(tmp_path, "foreign.pem", other_ca.pem)
    os.environ["REQUESTS_CA_BUNDLE"] = other
    result = sly_nb_tls.add_certs(issue("Second CA", ca=True).pem)
    assert any("REQUESTS_CA_BUNDLE was changed to" in n for n in result.notes)
    merged = Path(os.environ["REQUESTS_CA_BUNDLE"]).read_text()
    assert other_ca.pem.strip().splitlines()[1] in merged


def test_all_or_nothing(root: tuple[str, str], tmp_path: Path) -> None:
    before = dict(os.environ)
    with pytest.raises(CertificateSourceError):
        sly_nb_tls.add_certs(root[0], str(tmp_path / "missing.crt"))
    assert dict(os.environ) == before
    assert not sly_nb_tls.status().active
    assert ssl.create_default_context.__module__ == "ssl"


def test_add_twice_reports_already_trusted(root: tuple[str, str]) -> None:
    sly_nb_tls.add_certs(root[0])
    again = sly_nb_tls.add_certs(root[0])
    assert again.added == [] and [c.sha256 for c in again.already_trusted] == [root[1]]
    assert "already trusted" in str(again)


def test_remove_by_prefix_colons_any_case_and_by_path(tmp_path: Path) -> None:
    a, b = issue("CA A", ca=True), issue("CA B", ca=True)
    path_a = _write(tmp_path, "a.pem", a.pem)
    r = sly_nb_tls.add_certs(path_a, b.pem)
    sha_b = next(c.sha256 for c in r.added if c.common_name == "CA B")
    colon_upper = ":".join(sha_b[i : i + 2] for i in range(0, 12, 2)).upper()
    removed = sly_nb_tls.remove(colon_upper)
    assert [c.sha256 for c in removed.removed] == [sha_b]
    assert sly_nb_tls.status().active
    assert sha_b not in _ca_fingerprints(ssl.create_default_context())
    last = sly_nb_tls.remove(path_a)
    assert last.reset is not None and last.reset.was_active
    assert not sly_nb_tls.status().active
    assert "SSL_CERT_FILE" not in os.environ


def test_remove_errors_name_what_is_registered(root: tuple[str, str], tmp_path: Path) -> None:
    sly_nb_tls.add_certs(root[0])
    with pytest.raises(UnknownCertificateError, match="at least 8 hex digits"):
        sly_nb_tls.remove("abcd")
    with pytest.raises(UnknownCertificateError, match="Unit Test Root CA"):
        sly_nb_tls.remove("00000000")
    with pytest.raises(UnknownCertificateError, match="no such file"):
        sly_nb_tls.remove(str(tmp_path / "never-added.pem"))
    other = _write(tmp_path, "other.pem", issue("Not Added CA", ca=True).pem)
    with pytest.raises(UnknownCertificateError, match="none of its certificates is registered"):
        sly_nb_tls.remove(other)
    assert len(sly_nb_tls.status().certificates) == 1


def test_live_contexts_swapped_back_and_httpx_counted(root: tuple[str, str]) -> None:
    aiohttp_connector = pytest.importorskip("aiohttp.connector")
    httpx = pytest.importorskip("httpx")
    original_aiohttp = aiohttp_connector._SSL_CONTEXT_VERIFIED
    client = httpx.Client()
    try:
        result = sly_nb_tls.add_certs(root[0])
        assert "aiohttp default context" in result.live_updated
        assert any("on a default store (" in x and "httpx" in x for x in result.live_updated), result.live_updated
        assert aiohttp_connector._SSL_CONTEXT_VERIFIED is not original_aiohttp
        assert root[1] in _ca_fingerprints(aiohttp_connector._SSL_CONTEXT_VERIFIED)
        assert root[1] in _ca_fingerprints(client._transport._pool._ssl_context)
        reset = sly_nb_tls.reset()
        assert aiohttp_connector._SSL_CONTEXT_VERIFIED is original_aiohttp
        assert reset.live_contexts_holding >= 1
        assert reset.holding.get("httpx", 0) >= 1, reset.holding  # more: live clients of earlier tests here
        assert "httpx ×" in str(reset) and "still trust the removed certificates" in str(reset)
    finally:
        client.close()


def test_no_live_leaves_existing_clients_alone(root: tuple[str, str]) -> None:
    aiohttp_connector = pytest.importorskip("aiohttp.connector")
    httpx = pytest.importorskip("httpx")
    original_aiohttp = aiohttp_connector._SSL_CONTEXT_VERIFIED
    client = httpx.Client()
    try:
        result = sly_nb_tls.add_certs(root[0], live=False)
        assert result.live_updated == []
        assert aiohttp_connector._SSL_CONTEXT_VERIFIED is original_aiohttp
        assert root[1] not in _ca_fingerprints(client._transport._pool._ssl_context)
    finally:
        client.close()


def _urlopen_context() -> ssl.SSLContext:
    """What 3.12+'s HTTPSHandler builds for urlopen (http.client._create_https_context), on any version."""
    ctx = ssl._create_default_https_context()
    ctx.set_alpn_protocols(["http/1.1"])
    ctx.post_handshake_auth = True
    return ctx


def test_urllib_cached_opener_is_dropped_and_restored(root: tuple[str, str]) -> None:
    opener = urllib.request.build_opener()
    https = next(h for h in opener.handlers if isinstance(h, urllib.request.HTTPSHandler))
    https._context = _urlopen_context()
    saved = urllib.request._opener  # type: ignore[attr-defined]
    urllib.request._opener = opener  # type: ignore[attr-defined]
    try:
        sly_nb_tls.add_certs(root[0])
        assert urllib.request._opener is None  # type: ignore[attr-defined]
        sly_nb_tls.reset()
        assert urllib.request._opener is opener  # type: ignore[attr-defined]
    finally:
        urllib.request._opener = saved  # type: ignore[attr-defined]


def test_user_installed_opener_is_left_alone(root: tuple[str, str]) -> None:
    class Custom(urllib.request.BaseHandler):
        def http_request(self, req: urllib.request.Request) -> urllib.request.Request:
            return req

    opener = urllib.request.build_opener(Custom(), urllib.request.HTTPSHandler(context=ssl.create_default_context()))
    saved = urllib.request._opener  # type: ignore[attr-defined]
    urllib.request.install_opener(opener)
    try:
        sly_nb_tls.add_certs(root[0])
        assert urllib.request._opener is opener  # type: ignore[attr-defined]
    finally:
        urllib.request._opener = saved  # type: ignore[attr-defined]


def test_requests_reaches_demo_server_only_while_added(ca_env: bool) -> None:
    with DemoServer() as server:
        with pytest.raises(requests.exceptions.SSLError):
            requests.post(server.url + USERS_ME, headers={"x-api-key": "k"}, timeout=10)
        sly_nb_tls.add_certs(server.chain_path)
        assert requests.post(server.url + USERS_ME, headers={"x-api-key": "k"}, timeout=10).json()["login"] == "alice"
        sly_nb_tls.reset()
        with pytest.raises(requests.exceptions.SSLError):
            requests.post(server.url + USERS_ME, headers={"x-api-key": "k"}, timeout=10)


def test_registry_state_is_clean_after_reset(root: tuple[str, str]) -> None:
    sly_nb_tls.add_certs(root[0])
    sly_nb_tls.reset()
    st = sly_nb_tls.status()
    assert not st.active and st.certificates == [] and files_written() == [] and st.swapped == []
    assert st.hooks == [] and ssl_hooks() == ORIGINAL_SSL
    assert "sly_nb_tls.trust.extras" in sys.modules


def test_swapped_context_grows_on_add_and_is_rebuilt_without_removed_certs() -> None:
    aiohttp_connector = pytest.importorskip("aiohttp.connector")
    original = aiohttp_connector._SSL_CONTEXT_VERIFIED
    a = sly_nb_tls.add_certs(issue("Swap CA A", ca=True).pem).added[0]
    first = aiohttp_connector._SSL_CONTEXT_VERIFIED
    b = sly_nb_tls.add_certs(issue("Swap CA B", ca=True).pem).added[0]
    assert aiohttp_connector._SSL_CONTEXT_VERIFIED is first  # ours, extended in place
    assert {a.sha256, b.sha256} <= _ca_fingerprints(first)
    sly_nb_tls.remove(b.sha256)
    rebuilt = aiohttp_connector._SSL_CONTEXT_VERIFIED
    assert rebuilt is not first and rebuilt is not original
    assert a.sha256 in _ca_fingerprints(rebuilt) and b.sha256 not in _ca_fingerprints(rebuilt)
    sly_nb_tls.reset()
    assert aiohttp_connector._SSL_CONTEXT_VERIFIED is original


def test_live_update_finds_subclassed_and_async_httpx_clients(root: tuple[str, str]) -> None:
    httpx = pytest.importorskip("httpx")

    class MyClient(httpx.Client):
        pass

    clients = [MyClient(), httpx.AsyncClient()]
    try:
        result = sly_nb_tls.add_certs(root[0])
        assert any("on a default store (" in x and "httpx" in x for x in result.live_updated), result.live_updated
        for c in clients:
            assert root[1] in _ca_fingerprints(c._transport._pool._ssl_context)
    finally:
        clients[0].close()


def test_folding_a_foreign_bundle_does_not_pin_our_own_extras(tmp_path: Path) -> None:
    """`import supervisely` after add writes extras + our merged bundle to its own file."""
    a = sly_nb_tls.add_certs(issue("Fold CA A", ca=True).pem).added[0]
    other = issue("Foreign Fold CA", ca=True)
    sly_file = tmp_path / "sly_extra_ca_certs.crt"
    sly_file.write_bytes(
        Path(os.environ[EXTRAS_VARIABLE]).read_bytes()
        + Path(os.environ["REQUESTS_CA_BUNDLE"]).read_bytes()
        + other.pem.encode()
    )
    os.environ["REQUESTS_CA_BUNDLE"] = str(sly_file)
    sly_nb_tls.add_certs(issue("Fold CA B", ca=True).pem)
    sly_nb_tls.remove(a.sha256)
    # that file is now what requests' readers trust: REQUESTS_CA_BUNDLE's new base
    merged = {sha for sha, _ in pem_blocks(Path(os.environ["REQUESTS_CA_BUNDLE"]).read_bytes())}
    assert a.sha256 not in merged  # removed means removed
    from sly_nb_tls._sources import read_sources

    assert read_sources([other.pem]).certificates[0].sha256 in merged  # the other party's CA is kept


def test_a_preset_sly_extra_ca_certs_is_kept_in_its_own_file_and_nowhere_else(tmp_path: Path) -> None:
    preset = tmp_path / "preset-extra.pem"
    preset_ca = issue("Preset Extra CA", ca=True)
    preset.write_text(preset_ca.pem)
    os.environ[EXTRAS_VARIABLE] = str(preset)
    from sly_nb_tls._sources import read_sources

    preset_sha = read_sources([str(preset)]).certificates[0].sha256
    ours = sly_nb_tls.add_certs(issue("Ours CA", ca=True).pem).added[0]
    extras = {sha for sha, _ in pem_blocks(Path(os.environ[EXTRAS_VARIABLE]).read_bytes())}
    merged = {sha for sha, _ in pem_blocks(Path(os.environ["SSL_CERT_FILE"]).read_bytes())}
    assert extras == {preset_sha, ours.sha256}
    # OpenSSL's readers never trusted the SDK's preset extras: giving them those would widen trust
    assert ours.sha256 in merged and preset_sha not in merged
    sly_nb_tls.reset()
    assert os.environ[EXTRAS_VARIABLE] == str(preset)


# --- hooks are tracked by the objects they replaced, not by name (truststore renames SSLContext) ---
STDLIB_CONTEXT = ssl.SSLContext  # this test module imports before anything injects truststore


def _pristine() -> tuple[object, ...]:
    return (
        ssl.SSLContext,
        STDLIB_CONTEXT.__dict__["load_default_certs"],
        ssl.create_default_context,
        ssl._create_default_https_context,
    )


@pytest.mark.parametrize("order", ["add-inject-reset-extract", "inject-add-reset-extract", "inject-add-extract-reset"])
def test_truststore_in_any_order_leaves_ssl_exactly_as_it_was(order: str, root: tuple[str, str]) -> None:
    truststore = pytest.importorskip("truststore")
    before = _pristine()
    truststore_load = truststore.SSLContext.__dict__["load_default_certs"]
    steps = {
        "add": lambda: sly_nb_tls.add_certs(root[0]),
        "inject": truststore.inject_into_ssl,
        "reset": sly_nb_tls.reset,
        "extract": truststore.extract_from_ssl,
    }
    try:
        for name in order.split("-"):
            steps[name]()
    finally:
        truststore.extract_from_ssl()
    assert _pristine() == before
    assert truststore.SSLContext.__dict__["load_default_certs"] is truststore_load  # ours never went there
    # and the next add wraps the original once, not our old wrapper again
    sly_nb_tls.add_certs(root[0])
    assert STDLIB_CONTEXT.load_default_certs.__wrapped__ is before[1]  # type: ignore[attr-defined]
    sly_nb_tls.reset()
    assert _pristine() == before


def test_contexts_built_through_truststore_get_the_extras(root: tuple[str, str]) -> None:
    truststore = pytest.importorskip("truststore")
    truststore.inject_into_ssl()
    try:
        sly_nb_tls.add_certs(root[0])
        ctx = ssl.create_default_context()
        assert type(ctx) is truststore.SSLContext or isinstance(ctx, truststore.SSLContext)
        assert root[1] in _ca_fingerprints(ctx._ctx)  # truststore's inner stdlib context
    finally:
        sly_nb_tls.reset()
        truststore.extract_from_ssl()


# --- honest accounting: every live context that may still hold the extras ---------------------
def test_a_client_made_after_add_still_trusts_after_reset_and_is_counted(
    root: tuple[str, str], full_chain_server: DemoServer
) -> None:
    httpx = pytest.importorskip("httpx")
    sly_nb_tls.add_certs(full_chain_server.root_path)
    client = httpx.Client()  # built by the hooks while they were active
    try:
        assert client.post(full_chain_server.url + USERS_ME, headers={"x-api-key": "k"}).status_code == 200
        reset = sly_nb_tls.reset()
        # OpenSSL cannot take the root back out: the client still gets through...
        assert client.post(full_chain_server.url + USERS_ME, headers={"x-api-key": "k"}).status_code == 200
        # ...and reset and status say so, and name the client to recreate
        assert reset.live_contexts_holding >= 1 and reset.holding.get("httpx", 0) >= 1, reset.holding
        assert "recreate those clients" in str(reset) and "httpx" in str(reset)
        st = sly_nb_tls.status()
        assert sum(st.holding.values()) >= 1 and "httpx" in str(st) and "httpx" in st._repr_html_()
    finally:
        client.close()
    del client
    import gc

    gc.collect()
    assert sly_nb_tls.status().holding.get("httpx", 0) == 0  # gone once the client is gone


def test_remove_counts_contexts_that_hold_the_removed_certificate(tmp_path: Path) -> None:
    import gc

    gc.collect()  # contexts of earlier tests that are garbage already
    earlier = sly_nb_tls.status().holding.get("tests", 0)
    a = sly_nb_tls.add_certs(issue("Count CA A", ca=True).pem).added[0]
    ctx = ssl.create_default_context()  # holds A
    sly_nb_tls.add_certs(issue("Count CA B", ca=True).pem)
    removed = sly_nb_tls.remove(a.sha256)
    assert removed.holding.get("tests", 0) == earlier + 1, removed.holding
    assert f"tests ×{earlier + 1}" in str(removed) and "still trust the removed certificate(s)" in str(removed)
    del ctx


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX")
def test_a_child_forked_while_a_thread_holds_the_lock_is_not_stuck(tmp_path: Path) -> None:
    """The lock's fork hook is registered at the registry's first use, before anyone takes it: a
    child forked while another thread holds it, in a process that never added, gets a fresh one."""
    script = tmp_path / "fork.py"
    script.write_text(
        "import os, signal, threading\n"
        "import sly_nb_tls\n"
        "held, release = threading.Event(), threading.Event()\n"
        "class Slow:\n"  # remove() reads .sha256 while it holds the registry's lock
        "    common_name = 'slow'\n"
        "    @property\n"
        "    def sha256(self):\n"
        "        held.set(); release.wait(30); return '0' * 64\n"
        "def hold():\n"
        "    try:\n"
        "        sly_nb_tls.remove(Slow())\n"
        "    except sly_nb_tls.SlyTlsError:\n"
        "        pass\n"
        "threading.Thread(target=hold, daemon=True).start(); held.wait()\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    signal.alarm(20)\n"
        "    sly_nb_tls.status(); print('child ok', flush=True); os._exit(0)\n"
        "release.set()\n"
        "print('child status', os.waitpid(pid, 0)[1])\n"
    )
    env = controlled_env(False) | {"SLY_NB_TLS_DIR": str(tmp_path / "userdir")}
    out = subprocess.run([sys.executable, "-W", "ignore", str(script)], capture_output=True, text=True, env=env,
                         timeout=60)  # fmt: skip
    assert "child ok" in out.stdout and "child status 0" in out.stdout, (out.stdout, out.stderr)
