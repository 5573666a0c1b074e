"""The admin's policy through every way in: API, magic, CLI, panel, env files, start, workers.

Each rule is written into a real TOML file that ``SLY_NB_TLS_POLICY`` names.  An allowed
certificate is trusted (a real request to a loopback server then succeeds); a refused one raises
`PolicyError` with one line naming the certificate, the rule and the file, and changes nothing:
the same registry, the same CA variables, the same files, and the request still fails.  A policy
file that cannot be read or is invalid refuses every change that widens trust (fail closed).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import itertools
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID
from IPython.core.interactiveshell import InteractiveShell

import sly_nb_tls
import sly_nb_tls.workers
from sly_nb_tls.demo import DemoPKI, DemoServer, IssuedCert, issue
from sly_nb_tls.errors import PolicyError

from .helpers import controlled_env, root_ca

ROOT = Path(__file__).resolve().parents[1]
DEMO_ROOT = "sly_nb_tls Demo Root CA"
_numbers = itertools.count()


# -- helpers ------------------------------------------------------------------------------------
def sha256_of(issued: IssuedCert) -> str:
    """The fingerprint as an admin computes it (`openssl x509 -fingerprint -sha256`), not as the package does."""
    return hashlib.sha256(issued.cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def ski_of(issued: IssuedCert) -> str:
    return issued.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest.hex()


def as_openssl_shows(hex_digits: str) -> str:
    """Upper case with colons, as `openssl x509 -fingerprint` prints it: the policy accepts it as it is."""
    return ":".join(hex_digits[i : i + 2] for i in range(0, len(hex_digits), 2)).upper()


def use_policy(tmp_path: Path, text: str) -> Path:
    """Write `text` as a new policy file and name it in SLY_NB_TLS_POLICY (the autouse fixture clears it)."""
    path = tmp_path / f"policy-{next(_numbers)}.toml"
    path.write_text(textwrap.dedent(text))
    os.environ["SLY_NB_TLS_POLICY"] = str(path)
    return path


def write_pem(tmp_path: Path, issued: IssuedCert, name: str) -> str:
    path = tmp_path / name
    path.write_text(issued.pem)
    return str(path)


def reach(url: str) -> str:
    """What requests says about `url` from this process: "200", or "cert-fail"."""
    import requests

    try:
        return str(requests.get(url + "/", timeout=10).status_code)
    except requests.exceptions.SSLError as exc:
        return "cert-fail" if "CERTIFICATE_VERIFY_FAILED" in str(exc) else f"other: {exc}"


State = tuple[list[str], dict[str, str], dict[str, bytes]]


def state() -> State:
    """What a refused change must leave as it was: the registry, the environment (the CA variables
    among it), the files in the user dir."""
    user_dir = Path(os.environ["SLY_NB_TLS_DIR"])
    files = {str(p): p.read_bytes() for p in sorted(user_dir.rglob("*")) if p.is_file()} if user_dir.exists() else {}
    return sorted(c.sha256 for c in sly_nb_tls.status().certificates), dict(os.environ), files


def refused(call: Callable[[], object], *fragments: str) -> str:
    """`call` raises PolicyError with one line holding every fragment, and changes nothing; the message."""
    before = state()
    with pytest.raises(PolicyError) as info:
        call()
    message = str(info.value)
    assert "\n" not in message, message
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    assert state() == before, "a refused change changed something"
    return message


def installed_nothing(profile: Path) -> bool:
    """No store and no config block of ours in an IPython profile (IPython's own files may be there)."""
    config = profile / "ipython_config.py"
    return not (profile / "sly_nb_tls").exists() and not (config.exists() and "sly_nb_tls" in config.read_text())


def trusted() -> set[str]:
    return {c.sha256 for c in sly_nb_tls.status().certificates}


@pytest.fixture(scope="module")
def other() -> IssuedCert:
    """A CA the demo server does not chain to: the one the policies refuse."""
    return issue("Other Policy CA", ca=True)


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """IPYTHONDIR and HOME in `tmp_path`: the user scope `install` writes to is this test's own."""
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    return tmp_path / "ipython" / "profile_default"


# -- where the policy is ------------------------------------------------------------------------
def test_policy_files_are_looked_for_in_order_and_the_first_that_exists_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sly_nb_tls._policy import policy_files

    machine = Path("/etc/sly_nb_tls/policy.toml")
    assert policy_files() == [Path(sys.prefix) / "etc" / "sly_nb_tls" / "policy.toml", machine]
    os.environ["SLY_NB_TLS_POLICY"] = "~/admin/policy.toml"
    assert policy_files()[0] == Path.home() / "admin" / "policy.toml" and policy_files()[1:] == [
        Path(sys.prefix) / "etc" / "sly_nb_tls" / "policy.toml",
        machine,
    ]
    del os.environ["SLY_NB_TLS_POLICY"]
    # The environment's prefix, made this test's own: the one place the env scope's policy lives.
    monkeypatch.setattr(sys, "prefix", str(tmp_path / "prefix"))
    if machine.exists():
        pytest.skip(f"{machine} exists on this machine: 'no policy' cannot be shown here")
    assert sly_nb_tls.policy().path is None and "no policy file" in str(sly_nb_tls.policy())
    in_prefix = tmp_path / "prefix" / "etc" / "sly_nb_tls" / "policy.toml"
    in_prefix.parent.mkdir(parents=True)
    in_prefix.write_text("allow_leaf = false\n")
    assert sly_nb_tls.policy().path == str(in_prefix) and sly_nb_tls.policy().allow_leaf is False
    named = use_policy(tmp_path, "allow_system = false\n")
    policy = sly_nb_tls.policy()
    assert policy.path == str(named) and policy.allow_system is False and policy.allow_leaf is True  # not merged
    assert str(named) in str(policy) and "allow_system" in str(policy)


def test_the_policy_is_read_again_at_every_change(tmp_path: Path, demo_server: DemoServer) -> None:
    root = sha256_of(demo_server.pki.root)
    path = use_policy(tmp_path, f'deny = ["{root}"]\n')
    refused(lambda: sly_nb_tls.add_certs(demo_server.root_path), "deny list")
    path.write_text(f'allow = ["{root}"]\n')  # the same file, edited: no restart, no reload
    assert [c.sha256 for c in sly_nb_tls.add_certs(demo_server.root_path).added] == [root]


# -- each rule, through the API -----------------------------------------------------------------
def test_allow_and_deny_by_sha256(ca_env: bool, tmp_path: Path, demo_server: DemoServer, other: IssuedCert) -> None:
    root = sha256_of(demo_server.pki.root)
    other_path = write_pem(tmp_path, other, "other.pem")
    assert reach(demo_server.url) == "cert-fail"
    path = use_policy(tmp_path, f'deny = ["{root}"]\n')
    message = refused(lambda: sly_nb_tls.add_certs(demo_server.root_path), DEMO_ROOT, "deny list", str(path))
    assert message.endswith("nothing was changed")
    assert reach(demo_server.url) == "cert-fail"
    last = sly_nb_tls.audit(1).records[-1]
    assert last["outcome"] == "refused" and [c["sha256"] for c in last["certificates"]] == [root]

    path = use_policy(tmp_path, f'allow = ["{root}"]\n')
    refused(lambda: sly_nb_tls.add_certs(other_path), "Other Policy CA", "not in the allow list", str(path))
    # All or nothing: one refused certificate refuses the whole add, the allowed one with it.
    refused(lambda: sly_nb_tls.add_certs(demo_server.root_path, other_path), "Other Policy CA")
    assert reach(demo_server.url) == "cert-fail"
    added = sly_nb_tls.add_certs(demo_server.root_path)
    assert [c.sha256 for c in added.added] == [root] and trusted() == {root}
    assert reach(demo_server.url) == "200"


def test_allow_by_subject_key_identifier_and_deny_wins_over_allow(
    tmp_path: Path, demo_server: DemoServer, other: IssuedCert
) -> None:
    root, ski = sha256_of(demo_server.pki.root), ski_of(demo_server.pki.root)
    other_path = write_pem(tmp_path, other, "other.pem")
    use_policy(tmp_path, f'allow = ["{as_openssl_shows(ski)}"]\n')  # colons, upper case: as openssl prints it
    refused(lambda: sly_nb_tls.add_certs(other_path), "not in the allow list")
    assert sly_nb_tls.add_certs(demo_server.root_path).added and reach(demo_server.url) == "200"
    sly_nb_tls.reset()
    assert reach(demo_server.url) == "cert-fail"
    path = use_policy(tmp_path, f'allow = ["{root}", "{sha256_of(other)}"]\ndeny = ["{ski}"]\n')
    refused(lambda: sly_nb_tls.add_certs(demo_server.root_path), DEMO_ROOT, "deny list", str(path))
    assert reach(demo_server.url) == "cert-fail"
    assert sly_nb_tls.add_certs(other_path).added  # the allow list still lets the other in
    # A CA that claims an allowed SKI for a key of its own is not allowed by it; one claiming a denied SKI is denied.
    forged = write_pem(tmp_path, root_ca("Forged Root", claimed_ski=ski), "forged.pem")
    sly_nb_tls.reset()
    use_policy(tmp_path, f'allow = ["{ski}"]\n')
    refused(lambda: sly_nb_tls.add_certs(forged), "Forged Root", "not in the allow list")
    use_policy(tmp_path, f'deny = ["{ski}"]\n')
    refused(lambda: sly_nb_tls.add_certs(forged), "Forged Root", "deny list")


def test_allow_system_false_refuses_the_system_store_only(tmp_path: Path, demo_server: DemoServer) -> None:
    use_policy(tmp_path, "allow_system = true\n")
    try:
        sly_nb_tls.add_certs(system=True)
    except sly_nb_tls.SlyTlsError as exc:
        pytest.skip(f"no system store to add here: {exc}")
    sly_nb_tls.reset()
    path = use_policy(tmp_path, "allow_system = false\n")
    refused(lambda: sly_nb_tls.add_certs(system=True), "add --system", "allow_system = false", str(path))
    refused(lambda: sly_nb_tls.add_certs(demo_server.root_path, system=True), "allow_system = false")
    assert sly_nb_tls.add_certs(demo_server.root_path).added and reach(demo_server.url) == "200"


def test_allow_leaf_false_refuses_a_server_certificate(tmp_path: Path, demo_server: DemoServer) -> None:
    leaf_path = write_pem(tmp_path, demo_server.pki.leaf, "leaf.pem")
    self_signed = write_pem(tmp_path, issue("self.corp.example", names=["self.corp.example"]), "self.pem")
    use_policy(tmp_path, "allow_leaf = true\n")
    assert sly_nb_tls.add_certs(leaf_path).added
    sly_nb_tls.reset()
    path = use_policy(tmp_path, "allow_leaf = false\n")
    refused(lambda: sly_nb_tls.add_certs(leaf_path), "127.0.0.1", "allow_leaf = false", str(path))
    refused(lambda: sly_nb_tls.add_certs(self_signed), "self.corp.example", "allow_leaf = false")
    assert sly_nb_tls.add_certs(demo_server.root_path).added and reach(demo_server.url) == "200"


def test_allow_user_install_false_refuses_user_scope_and_persist_not_env_scope(
    tmp_path: Path, isolated: Path, monkeypatch: pytest.MonkeyPatch, demo_server: DemoServer
) -> None:
    path = use_policy(tmp_path, "allow_user_install = false\n")
    refused(lambda: sly_nb_tls.install(demo_server.root_path, scope="user"), "allow_user_install = false", str(path))
    refused(lambda: sly_nb_tls.install(scope="user"), "allow_user_install = false")  # loading it, too
    refused(lambda: sly_nb_tls.add_certs(demo_server.root_path, persist=True), "allow_user_install = false")
    assert installed_nothing(isolated), "a refused install wrote to the user's IPython directory"
    assert reach(demo_server.url) == "cert-fail"
    # The environment's scope is an admin's, not the user's: this rule does not govern it.
    monkeypatch.setattr(sys, "prefix", str(tmp_path / "prefix"))
    installed = sly_nb_tls.install(demo_server.root_path, scope="env")
    assert list((tmp_path / "prefix" / "etc" / "ipython" / "sly_nb_tls").glob("*.pem")), installed
    assert sly_nb_tls.add_certs(demo_server.root_path).added  # and a plain add is not an install
    sly_nb_tls.uninstall(scope="env")


def test_require_name_constraints(tmp_path: Path, demo_server: DemoServer) -> None:
    corp = root_ca(
        "Constrained Corp Root",
        permitted=[x509.DNSName("corp.example"), x509.IPAddress(ipaddress.ip_network("127.0.0.1/32"))],
    )
    inter = issue("Constrained Corp Intermediate", issuer=corp, ca=True)
    # The leaf's CN is checked against the DNS constraint (it has no DNS name), its IP against the IP one.
    leaf = issue("api.corp.example", issuer=inter, names=["127.0.0.1"])
    use_policy(tmp_path, "require_name_constraints = false\n")
    assert sly_nb_tls.add_certs(demo_server.root_path).added
    sly_nb_tls.reset()
    path = use_policy(tmp_path, "require_name_constraints = true\n")
    refused(
        lambda: sly_nb_tls.add_certs(demo_server.root_path), DEMO_ROOT, "require_name_constraints = true", str(path)
    )
    assert reach(demo_server.url) == "cert-fail"
    with DemoServer(DemoPKI(corp, inter, leaf)) as server:
        assert reach(server.url) == "cert-fail"
        added = sly_nb_tls.add_certs(server.root_path)
        assert added.added[0].name_constraints is not None and "corp.example" in added.added[0].vouches_for
        assert reach(server.url) == "200"


def test_required_name_constraints_must_say_where_a_ca_may_vouch(tmp_path: Path) -> None:
    """Exclusions alone leave a CA free to vouch for almost any site: they do not meet the rule."""
    only_excluded = root_ca("Excluding Root", excluded=[x509.DNSName("bank.example")])
    path = use_policy(tmp_path, "require_name_constraints = true\n")
    refused(lambda: sly_nb_tls.add_certs(only_excluded.pem), "Excluding Root", "require_name_constraints", str(path))
    named = root_ca(
        "Directory Root",
        permitted=[x509.DirectoryName(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Corp")]))],
    )
    result = sly_nb_tls.add_certs(named.pem)
    assert result.added and result.added[0].vouches_for == "only dirName:O=Corp", result.added[0].vouches_for


def test_expiry_warning_days_sets_the_warning_window(tmp_path: Path) -> None:
    now = dt.datetime.now(dt.timezone.utc)
    in_60 = issue("Sixty Days CA", ca=True, not_after=now + dt.timedelta(days=60))
    in_10 = issue("Ten Days CA", ca=True, not_after=now + dt.timedelta(days=10))
    sources = write_pem(tmp_path, in_60, "60.pem"), write_pem(tmp_path, in_10, "10.pem")

    def warned(policy: str) -> dict[str, str]:
        """Under `policy`: each CA's expiry warning, as `add` says it (and `status` the same)."""
        use_policy(tmp_path, policy)
        said = [w for w in sly_nb_tls.add_certs(*sources).warnings if "expires in" in w]
        assert said == [w for w in sly_nb_tls.status().warnings if "expires in" in w]
        sly_nb_tls.reset()
        return {name: w for w in said for name in ("Sixty", "Ten") if name in w}

    assert set(warned("allow_leaf = true\n")) == {"Ten"}  # a policy without the rule: the default, 30 days
    ninety = warned("expiry_warning_days = 90\n")
    assert set(ninety) == {"Sixty", "Ten"} and f"{in_60.cert.not_valid_after_utc:%Y-%m-%d}" in ninety["Sixty"]
    assert warned("expiry_warning_days = 0\n") == {}


# -- a broken policy fails closed ---------------------------------------------------------------
BROKEN = {
    "invalid TOML": ("allow_leaf = true\nallow_system = maybe\n", "line 2"),
    "unknown key": ("allow_leaf = true\nallow_lef = false\n", "line 2: allow_lef: not a policy rule"),
    "wrong type": ('expiry_warning_days = 30\nallow_leaf = "no"\n', "line 2: allow_leaf: must be true or false"),
    "not a list": ('allow_leaf = true\ndeny = "ab12"\n', "line 2: deny: must be a list"),
    "non-hex entry": ('allow_leaf = true\nallow = [\n  "corp-root",\n]\n', "line 2: allow: 'corp-root' is not"),
    "short entry": ('deny = ["ab:cd:ef"]\n', "line 1: deny: 'ab:cd:ef' is not a SHA-256 fingerprint"),
    "short allow entry": (
        'allow = ["ab:cd:ef:01:23:45:67:89"]\n',
        "line 1: allow: 'ab:cd:ef:01:23:45:67:89' is not the full",
    ),
    "days out of range": ("expiry_warning_days = -1\n", "line 1: expiry_warning_days"),
    "relative audit log": ('audit_log = "audit.jsonl"\n', "line 1: audit_log: must be an absolute path"),
    "not UTF-8": (b"allow_leaf = \xff\n", "not UTF-8"),
    "missing file": (None, "does not exist"),
    "a directory": ("<dir>", "cannot be read (is a directory)"),
}


def break_policy(tmp_path: Path, kind: str) -> Path:
    content, _ = BROKEN[kind]
    path = tmp_path / f"broken-{next(_numbers)}.toml"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content == "<dir>":
        path.mkdir()
    elif content is not None:
        path.write_text(content)
    os.environ["SLY_NB_TLS_POLICY"] = str(path)
    return path


@pytest.mark.parametrize("kind", list(BROKEN))
def test_a_broken_policy_file_fails_closed_with_one_line_naming_the_file(
    kind: str, tmp_path: Path, demo_server: DemoServer
) -> None:
    path = break_policy(tmp_path, kind)
    message = refused(lambda: sly_nb_tls.add_certs(demo_server.root_path), str(path), BROKEN[kind][1])
    assert message.startswith(str(path))
    refused(sly_nb_tls.policy, str(path))
    assert reach(demo_server.url) == "cert-fail"
    # What only shows still works, and says why nothing more may be trusted.
    st = sly_nb_tls.status()
    assert any(str(path) in w and "nothing more may be trusted" in w for w in st.warnings), st.warnings


def test_a_broken_policy_refuses_every_way_in_but_not_what_narrows_trust(
    tmp_path: Path, isolated: Path, demo_server: DemoServer, other: IssuedCert
) -> None:
    other_path = write_pem(tmp_path, other, "other.pem")
    sly_nb_tls.add_certs(demo_server.root_path)
    sly_nb_tls.add_certs(other_path)
    sly_nb_tls.install(demo_server.root_path, scope="user")
    path = break_policy(tmp_path, "non-hex entry")
    named = str(path)
    env_file = tmp_path / "local.env"
    env_file.write_text(f"SLY_EXTRA_CA_CERTS={other_path}\nSERVER_ADDRESS=https://sly.corp.example\n")
    assert any(named in w for w in sly_nb_tls.remove(other_path).warnings)
    refused(lambda: sly_nb_tls.load_env(str(env_file)), named)
    assert "SERVER_ADDRESS" not in os.environ  # all or nothing: the env file's other keys wait too
    refused(lambda: sly_nb_tls.install(other_path, scope="user"), named)
    refused(lambda: sly_nb_tls.workers.ray_runtime_env(), named)
    # Narrowing trust goes through, and says the policy is broken.
    removed = sly_nb_tls.remove(demo_server.root_path)
    assert removed.removed and any(named in w for w in removed.warnings), removed.warnings
    assert reach(demo_server.url) == "cert-fail"
    uninstalled = sly_nb_tls.uninstall(scope="user")
    assert uninstalled.changed and any(named in n for n in uninstalled.notes), uninstalled.notes
    assert not list((isolated / "sly_nb_tls").glob("*.pem"))


def test_reset_passes_a_broken_policy_and_says_so(tmp_path: Path, demo_server: DemoServer) -> None:
    sly_nb_tls.add_certs(demo_server.root_path)
    path = break_policy(tmp_path, "unknown key")
    result = sly_nb_tls.reset()
    assert result.was_active and any(str(path) in n for n in result.notes), result.notes
    assert not sly_nb_tls.status().active and reach(demo_server.url) == "cert-fail"


def test_a_rule_written_as_a_table_is_named_at_its_own_line(tmp_path: Path) -> None:
    path = use_policy(tmp_path, "allow_leaf = true\n\n[deny]\nroot = 'ab'\n")
    refused(sly_nb_tls.policy, str(path), "line 3")


def test_a_deny_entry_copied_from_the_short_fingerprint_never_lets_that_ca_in(
    tmp_path: Path, demo_server: DemoServer
) -> None:
    short = as_openssl_shows(sha256_of(demo_server.pki.root)[:16])  # as status' SHA-256 column shows it
    use_policy(tmp_path, f'deny = ["{short}"]\n')
    with pytest.raises(PolicyError):
        sly_nb_tls.add_certs(demo_server.root_path)


# -- every other way in -------------------------------------------------------------------------
@pytest.mark.parametrize("key", ["SLY_EXTRA_CA_CERTS", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "CURL_CA_BUNDLE"])
def test_load_env_refuses_a_denied_ca_under_each_ca_key(
    key: str, tmp_path: Path, demo_server: DemoServer, other: IssuedCert
) -> None:
    other_path = write_pem(tmp_path, other, "other.pem")
    (tmp_path / "denied.env").write_text(f"{key}={other_path}\nSERVER_ADDRESS={demo_server.url}\n")
    (tmp_path / "allowed.env").write_text(f"{key}=root.pem\nSERVER_ADDRESS={demo_server.url}\n")
    (tmp_path / "root.pem").write_text(demo_server.pki.root.pem)  # relative: to the env file's folder
    path = use_policy(tmp_path, f'deny = ["{sha256_of(other)}"]\n')
    refused(lambda: sly_nb_tls.load_env(str(tmp_path / "denied.env")), "Other Policy CA", "deny list", str(path))
    assert "SERVER_ADDRESS" not in os.environ
    result = sly_nb_tls.load_env(str(tmp_path / "allowed.env"))
    assert result.certificates is not None and result.certificates.added
    assert os.environ["SERVER_ADDRESS"] == demo_server.url and reach(demo_server.url) == "200"


@pytest.fixture
def ip(isolated: Path) -> Iterator[InteractiveShell]:
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "sly_nb_tls")
    yield shell
    shell.run_line_magic("unload_ext", "sly_nb_tls")


def test_magic_line_and_cell_refuse_with_a_one_line_usage_error(
    ip: InteractiveShell,
    isolated: Path,
    tmp_path: Path,
    demo_server: DemoServer,
    other: IssuedCert,
    capsys: pytest.CaptureFixture[str],
) -> None:
    other_path = write_pem(tmp_path, other, "other.pem")
    (tmp_path / "denied.env").write_text(f"SLY_EXTRA_CA_CERTS={other_path}\n")
    path = use_policy(tmp_path, f'deny = ["{sha256_of(other)}"]\nallow_system = false\nallow_user_install = false\n')
    cells = {
        f"%sly_tls add {other_path}": "deny list",
        "%%sly_tls add\n" + other.pem: "deny list",
        "%sly_tls add --system": "allow_system = false",
        f"%sly_tls add --persist {demo_server.root_path}": "allow_user_install = false",
        f"%sly_tls install {demo_server.root_path}": "allow_user_install = false",
        f"%sly_tls env {tmp_path / 'denied.env'}": "deny list",
    }
    for cell, rule in cells.items():
        capsys.readouterr()
        before = state()
        result = ip.run_cell(cell)
        shown = capsys.readouterr()
        output = (shown.out + shown.err).strip()
        assert type(result.error_in_exec).__name__ == "UsageError", (cell, output)
        assert len(output.splitlines()) == 1 and rule in output and str(path) in output, (cell, output)
        assert "Traceback" not in output
        assert state() == before, cell
    assert installed_nothing(isolated)
    assert reach(demo_server.url) == "cert-fail"
    assert ip.run_line_magic("sly_tls", f"add {demo_server.root_path}").added
    assert reach(demo_server.url) == "200"


def test_panel_shows_each_refusal_as_one_line(
    tmp_path: Path, isolated: Path, demo_server: DemoServer, other: IssuedCert
) -> None:
    import re

    def text(widget: Any) -> str:
        return re.sub(r"<style>.*?</style>|<[^>]+>", " ", str(widget.value))

    other_path = write_pem(tmp_path, other, "other.pem")
    (tmp_path / "denied.env").write_text(f"SLY_EXTRA_CA_CERTS={other_path}\n")
    with DemoServer(presented="full") as sends_its_root:
        denied = [sha256_of(other), sha256_of(sends_its_root.pki.root)]
        path = use_policy(tmp_path, f"deny = {denied}\nallow_system = false\nallow_user_install = false\n")
        p = sly_nb_tls.panel()

        def clicked(setup: Callable[[], object], button: str, area: str, rule: str) -> None:
            setup()
            before = state()
            getattr(p, button).click()
            shown = text(getattr(p, area))
            assert rule in shown and str(path) in shown and "Traceback" not in shown, shown
            assert state() == before, button

        clicked(lambda: setattr(p.cert_path, "value", other_path), "cert_add", "cert_result", "deny list")
        clicked(lambda: None, "cert_system", "cert_result", "allow_system = false")
        clicked(lambda: setattr(p.env_files, "value", str(tmp_path / "denied.env")), "env_load", "env_result", "deny")
        p.cert_persist.value = True
        clicked(lambda: setattr(p.cert_path, "value", demo_server.root_path), "cert_add", "cert_result", "allow_user")
        p.url.value = sends_its_root.url
        p.fetch.click()
        p.trust.click()
        clicked(lambda: None, "trust_confirm", "connection_result", "deny list")
    assert installed_nothing(isolated)
    p.cert_persist.value = False
    p.cert_path.value = demo_server.root_path
    p.cert_add.click()
    assert "Trusted 1 new certificate" in text(p.cert_result) and reach(demo_server.url) == "200"


def test_start_skips_a_refused_ca_with_one_line_and_applies_the_rest(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    isolated: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    demo_server: DemoServer,
    other: IssuedCert,
) -> None:
    """In this process, as loading the extension does it (the real IPython start is the slow test below)."""
    from sly_nb_tls.trust import startup

    request.addfinalizer(startup.forget)  # the next load applies the start-up sources again
    other_path = write_pem(tmp_path, other, "other.pem")

    def start() -> list[str]:
        """A fresh load's start-up: what it printed on stderr."""
        sly_nb_tls.reset()
        startup.forget()
        capsys.readouterr()
        startup.apply_at_start()
        return capsys.readouterr().err.splitlines()

    sly_nb_tls.install(demo_server.root_path, other_path, scope="user")
    path = use_policy(tmp_path, f'deny = ["{sha256_of(other)}"]\n')
    for where in ("install", "SLY_NB_TLS_CA_CERTS"):
        if where == "SLY_NB_TLS_CA_CERTS":
            sly_nb_tls.uninstall(scope="user")
            monkeypatch.setenv("SLY_NB_TLS_CA_CERTS", os.pathsep.join([other_path, demo_server.root_path]))
        lines = start()
        assert len(lines) == 1, lines
        assert "Other Policy CA" in lines[0] and "deny list" in lines[0] and str(path) in lines[0]
        assert trusted() == {sha256_of(demo_server.pki.root)} and reach(demo_server.url) == "200"
        assert any("Other Policy CA" in w and "(skipped)" in w for w in sly_nb_tls.status().warnings)
    path = break_policy(tmp_path, "wrong type")
    lines = start()
    assert len(lines) == 1 and str(path) in lines[0] and "line 2" in lines[0], lines
    assert trusted() == set() and reach(demo_server.url) == "cert-fail"


@pytest.mark.slow
def test_ray_ships_nothing_refused_and_its_workers_apply_under_their_own_policy(
    tmp_path: Path, demo_server: DemoServer, other: IssuedCert, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sly_nb_tls.integrations.ray import ray_worker_setup

    other_path = write_pem(tmp_path, other, "other.pem")
    sly_nb_tls.add_certs(other_path)  # trusted before the admin denied it
    path = use_policy(tmp_path, f'deny = ["{sha256_of(other)}"]\n')
    refused(lambda: sly_nb_tls.workers.ray_runtime_env(other_path), "Other Policy CA", "deny list", str(path))
    # The default ships what is trusted here, which now holds a CA the policy denies.
    refused(sly_nb_tls.workers.ray_runtime_env, "Other Policy CA", "deny list")
    sly_nb_tls.reset()
    shipped = sly_nb_tls.workers.ray_runtime_env(demo_server.root_path)["env_vars"]["SLY_NB_TLS_CA_CERTS"]
    assert shipped == demo_server.pki.root.pem
    # A worker applies what it was sent under its own policy (here, the same file) in its setup hook.
    monkeypatch.setenv("SLY_NB_TLS_CA_CERTS", other.pem)
    refused(ray_worker_setup, "Other Policy CA", "deny list")
    monkeypatch.setenv("SLY_NB_TLS_CA_CERTS", shipped)
    ray_worker_setup()
    assert reach(demo_server.url) == "200"


@pytest.mark.slow
def test_dask_ships_nothing_refused_and_its_workers_apply_under_their_own_policy(
    tmp_path: Path, demo_server: DemoServer, other: IssuedCert
) -> None:
    pytest.importorskip("distributed")
    from sly_nb_tls.integrations.dask import SlyTlsWorkerPlugin

    other_path = write_pem(tmp_path, other, "other.pem")
    sly_nb_tls.add_certs(other_path)
    path = use_policy(tmp_path, f'deny = ["{sha256_of(other)}"]\n')
    refused(lambda: sly_nb_tls.workers.dask_plugin(other_path), "Other Policy CA", "deny list", str(path))
    refused(sly_nb_tls.workers.dask_plugin, "Other Policy CA", "deny list")
    sly_nb_tls.reset()
    assert sly_nb_tls.workers.dask_plugin(demo_server.root_path).pem == demo_server.pki.root.pem
    worker = object()  # setup and teardown only key their bookkeeping by the worker
    refused(lambda: SlyTlsWorkerPlugin(other.pem).setup(worker), "Other Policy CA", "deny list")
    plugin = SlyTlsWorkerPlugin(demo_server.pki.root.pem)
    plugin.setup(worker)
    assert reach(demo_server.url) == "200"
    plugin.teardown(worker)
    assert trusted() == set() and reach(demo_server.url) == "cert-fail"


# -- real processes -----------------------------------------------------------------------------
@pytest.mark.slow
def test_cli_refuses_with_exit_2_and_one_line(tmp_path: Path, demo_server: DemoServer, other: IssuedCert) -> None:
    other_path = write_pem(tmp_path, other, "other.pem")
    policy = tmp_path / "policy.toml"
    env = controlled_env(False) | {
        "IPYTHONDIR": str(tmp_path / "ipython"),
        "HOME": str(tmp_path),
        "SLY_NB_TLS_DIR": str(tmp_path / "userdir"),
        "SLY_NB_TLS_POLICY": str(policy),
        "PYTHONPATH": str(ROOT),
    }

    def cli(*args: str) -> tuple[int, str, str]:
        out = subprocess.run(
            [sys.executable, "-m", "sly_nb_tls", *args], capture_output=True, text=True, timeout=120, env=env
        )
        return out.returncode, out.stdout, out.stderr

    def refused_by_cli(*args: str, rule: str) -> None:
        code, _, err = cli(*args)
        assert code == 2 and len(err.strip().splitlines()) == 1, (args, err)
        assert err.startswith("error: ") and rule in err and str(policy) in err and "Traceback" not in err

    policy.write_text(f'deny = ["{sha256_of(other)}"]\nallow_system = false\n')
    refused_by_cli("add", other_path, rule="deny list")
    assert not (tmp_path / "ipython").exists()
    refused_by_cli("test", demo_server.url, "--system", rule="allow_system = false")
    refused_by_cli("test", demo_server.url, "--ca", other_path, rule="deny list")
    code, out, err = cli("test", demo_server.url, "--ca", demo_server.root_path)
    assert code == 0, out + err  # the allowed CA: the connection succeeds
    code, out, err = cli("add", demo_server.root_path)
    assert code == 0 and list((tmp_path / "ipython" / "profile_default" / "sly_nb_tls").glob("*.pem")), out + err
    policy.write_text("allow_user_install = false\n")
    refused_by_cli("add", demo_server.root_path, rule="allow_user_install = false")
    policy.write_text("allow_leaf = false\nallow_system = 1\n")
    refused_by_cli("add", demo_server.root_path, rule="line 2")


@pytest.mark.slow
def test_a_real_ipython_starts_with_the_allowed_ca_and_skips_the_denied_one(
    tmp_path: Path, isolated: Path, demo_server: DemoServer, other: IssuedCert
) -> None:
    sly_nb_tls.install(demo_server.root_path, write_pem(tmp_path, other, "other.pem"), scope="user")
    policy = tmp_path / "policy.toml"
    env = controlled_env(False) | {"SLY_NB_TLS_POLICY": str(policy), "PYTHONPATH": str(ROOT)}
    code = textwrap.dedent(
        f"""
        import requests, sly_nb_tls
        try:
            print("STATUS", requests.get({demo_server.url + "/"!r}, timeout=10).status_code)
        except requests.exceptions.SSLError:
            print("STATUS cert-fail")
        print("TRUSTED", sorted(c.common_name for c in sly_nb_tls.status().certificates))
        """
    )

    def ipython() -> tuple[str, list[str]]:
        out = subprocess.run(
            [sys.executable, "-m", "IPython", "--no-banner", "-c", code],
            capture_output=True, text=True, timeout=120, env=env,
        )  # fmt: skip
        assert out.returncode == 0, out.stdout + out.stderr
        return out.stdout, [ln for ln in out.stderr.splitlines() if ln.strip()]

    policy.write_text(f'deny = ["{sha256_of(other)}"]\n')
    out, err = ipython()
    assert "STATUS 200" in out and f"TRUSTED ['{DEMO_ROOT}']" in out, out
    assert len(err) == 1 and "Other Policy CA" in err[0] and "deny list" in err[0] and str(policy) in err[0], err
    policy.write_text("deny = [1]\n")  # broken: nothing is trusted, and the shell still works
    out, err = ipython()
    assert "STATUS cert-fail" in out and "TRUSTED []" in out, out
    assert err and all(str(policy) in line and "line 1" in line for line in err), err


def test_json_tells_a_broken_policy_from_none(tmp_path: Path) -> None:
    assert sly_nb_tls.status().to_dict()["policy"] == {"path": None, "rules": {}, "error": None}
    path = break_policy(tmp_path, "unknown key")
    error = sly_nb_tls.status().to_dict()["policy"]["error"]
    assert error and str(path) in error and "\n" not in error
