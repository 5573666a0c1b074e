"""A CA trusted here, re-keyed under the same name, and one about to expire: what `test` and `fetch` say of them.

Real TLS on 127.0.0.1: demo servers (and mitmproxy, as the inspecting proxy whose CA IT
re-keys) present chains under a CA with the same subject as an extra trusted with
`add_certs` but another key.  Expiry is judged with the clock injected (`now`) for the
exact 29/31-day boundary, and end to end with certificates made to expire that far
from now: nothing sleeps.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509

import sly_nb_tls
from sly_nb_tls._certs import Certificate
from sly_nb_tls._fixes import Fix, command
from sly_nb_tls.demo import DemoPKI, DemoServer, IssuedCert, issue
from sly_nb_tls.diagnose.anchors import (
    expiry_notes,
    extras_in_use,
    find_rotation,
    trusted_extras,
    warning_days,
)

from .proxies import mitmproxy

CA_NAME = "Corp Inspection CA"
NOW = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def cert(issued: IssuedCert, source: str = "") -> Certificate:
    return Certificate.from_x509(issued.cert, source)


def key_id(issued: IssuedCert) -> str:
    return x509.SubjectKeyIdentifier.from_public_key(issued.key.public_key()).digest.hex()


def everything(report: object) -> str:
    """Every form a user or a program sees: text, repr, HTML, JSON."""
    data = json.dumps(report.to_dict())  # type: ignore[attr-defined]
    return str(report) + repr(report) + report._repr_html_() + data  # type: ignore[attr-defined]


def trust(issued: IssuedCert, tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    path.write_text(issued.pem)
    sly_nb_tls.add_certs(str(path))
    return path


def said(fix: Fix | None) -> list[tuple[str, tuple[str, ...]]]:
    assert fix is not None
    return [(c.action, c.args) for c in fix.commands]


@dataclass
class Rekeyed:
    """IT's CA before and after re-keying (one subject, two keys), and a chain issued under the new one."""

    old: IssuedCert
    new: IssuedCert
    pki: DemoPKI


def rekeyed(name: str = CA_NAME) -> Rekeyed:
    old = issue(name, ca=True, not_after=NOW + dt.timedelta(days=90))
    new = issue(name, ca=True)
    inter = issue("Corp Issuing CA", issuer=new, ca=True)
    leaf = issue("127.0.0.1", issuer=inter, names=("127.0.0.1", "localhost"))
    return Rekeyed(old, new, DemoPKI(new, inter, leaf))


@pytest.fixture(scope="module")
def ca() -> Rekeyed:
    return rekeyed()


@pytest.fixture(scope="module")
def sends_root(ca: Rekeyed) -> Iterator[DemoServer]:
    with DemoServer(ca.pki, presented="full") as server:
        yield server


@pytest.fixture(scope="module")
def keeps_root(ca: Rekeyed) -> Iterator[DemoServer]:
    with DemoServer(ca.pki) as server:  # leaf + intermediate: the re-keyed root is not sent
        yield server


# --- rotation ---------------------------------------------------------------------------------
def test_a_rekeyed_ca_the_server_sends_is_named_with_both_fingerprints(
    ca: Rekeyed, sends_root: DemoServer, tmp_path: Path
) -> None:
    old_file = trust(ca.old, tmp_path, "old-ca.crt")
    old, new = cert(ca.old), cert(ca.new)
    report = sly_nb_tls.test_connection(sends_root.url)
    assert report.problem == "untrusted_root", str(report)
    rotation = report.rotation
    assert rotation is not None, str(report)
    assert (rotation.old_sha256, rotation.new_sha256) == (old.sha256, new.sha256)
    assert rotation.old_not_after == old.not_after and not rotation.old_expired
    assert rotation.old_source == str(old_file) and rotation.new_source == "presented"
    assert "re-keyed" in report.cause
    # the fix: check the new fingerprint with IT, save and add the new CA, remove the old one when it expires
    assert said(report.remedy) == [
        ("fetch", (sends_root.url,)), ("add", ("new-ca.crt",)), ("remove", (old.sha256[:16],)),
    ]  # fmt: skip
    assert new.fingerprint in report.fix and f"expires on {old.not_after:%Y-%m-%d}" in report.fix
    for shown in (str(report), report._repr_html_()):
        assert old.fingerprint in shown and new.fingerprint in shown and "rotated" in shown
    data = json.loads(json.dumps(report.to_dict()))["rotation"]
    assert (data["old"]["sha256"], data["new"]["sha256"]) == (old.sha256, new.sha256)
    assert data["old"]["not_after"] == old.not_after.isoformat() and data["new"]["sent"] is True
    # fetch shows the same, and the file its fix saves is the new CA, which then makes the test pass
    saved = tmp_path / "new-ca.crt"
    fetched = sly_nb_tls.fetch_chain(sends_root.url, save=str(saved))
    assert fetched.rotation is not None and fetched.rotation.new_sha256 == new.sha256, str(fetched)
    assert said(fetched.remedy) == [("add", (str(saved),)), ("remove", (old.sha256[:16],))]
    assert old.fingerprint in str(fetched) and new.fingerprint in fetched._repr_html_()
    assert fetched.to_dict()["rotation"]["new"]["fingerprint"] == new.fingerprint
    assert saved.read_text() == ca.new.pem
    sly_nb_tls.add_certs(str(saved))
    after = sly_nb_tls.test_connection(sends_root.url)
    assert after.ok and after.rotation is None, str(after)


def test_a_rekeyed_root_the_server_does_not_send_is_named_by_its_key_id(
    ca: Rekeyed, keeps_root: DemoServer, tmp_path: Path
) -> None:
    trust(ca.old, tmp_path, "old-ca.crt")
    old = cert(ca.old)
    report = sly_nb_tls.test_connection(keeps_root.url)
    rotation = report.rotation
    assert report.problem == "untrusted_root" and rotation is not None, str(report)
    assert rotation.old_sha256 == old.sha256 and rotation.new_sha256 == "" and rotation.new_fingerprint == ""
    # what is known of the new key: the name the intermediate gives, and its Authority Key Identifier
    assert rotation.new_key_id == key_id(ca.new) != key_id(ca.old)
    assert rotation.signed == "Corp Issuing CA"
    assert report.remedy is not None and report.remedy.action == "ask-admin"
    assert said(report.remedy) == [("add", ("FILE",)), ("remove", (old.sha256[:16],))]
    assert key_id(ca.new).upper() in report.fix and key_id(ca.new).upper() in str(report)
    assert report.to_dict()["rotation"]["new"] == {
        "sha256": None, "fingerprint": None, "key_id": key_id(ca.new), "sent": False, "not_after": None,
        "source": None, "signed": "Corp Issuing CA",
    }  # fmt: skip
    fetched = sly_nb_tls.fetch_chain(keeps_root.url)
    assert fetched.rotation == rotation, str(fetched)
    assert old.fingerprint in str(fetched) and key_id(ca.new).upper() in fetched._repr_html_()


def test_a_ca_trusted_at_kernel_start_is_compared_too(
    ca: Rekeyed, keeps_root: DemoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # installed CAs are read at start without parsing (trust.stored); the plug hands diagnose parsed ones
    from sly_nb_tls.trust import startup
    from sly_nb_tls.trust.extras import registered
    from sly_nb_tls.trust.stored import StoredCertificate

    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    sly_nb_tls.install(ca.old.pem, scope="user")
    startup.forget()
    try:
        startup.apply_at_start()
        assert [type(c) for c in registered()] == [StoredCertificate]
        report = sly_nb_tls.test_connection(keeps_root.url)
    finally:
        startup.forget()
        sly_nb_tls.uninstall(scope="user")
    assert report.rotation is not None and report.rotation.old_sha256 == cert(ca.old).sha256, str(report)
    assert report.rotation.new_key_id == key_id(ca.new)


def test_the_fix_is_said_in_the_front_ends_words(ca: Rekeyed, sends_root: DemoServer, tmp_path: Path) -> None:
    import sly_nb_tls.ui.voices  # registers the magic's and the CLI's voices

    trust(ca.old, tmp_path, "old-ca.crt")
    report = sly_nb_tls.test_connection(sends_root.url)
    assert report.remedy is not None
    prefix = cert(ca.old).sha256[:16]
    assert f"%sly_tls remove {prefix}" in report.remedy.render("magic")
    assert f"python -m sly_nb_tls remove {prefix}" in report.remedy.render("cli")
    assert f'sly_nb_tls.remove("{prefix}")' in report.fix


@pytest.mark.slow
def test_an_inspecting_proxy_whose_ca_is_rekeyed(ca: Rekeyed, tmp_path: Path) -> None:
    # mitmproxy re-signs with IT's new key and presents its leaf alone; the old key is the one trusted here
    with (
        DemoServer(presented="full") as server,
        mitmproxy(tmp_path, ca=ca.new, upstream_root=server.root_path) as proxy,
    ):
        trust(ca.old, tmp_path, "proxy-ca-2024.crt")
        report = sly_nb_tls.test_connection(server.url, proxy=proxy)
        fetched = sly_nb_tls.fetch_chain(server.url, proxy=proxy)
        trust(ca.new, tmp_path, "proxy-ca-2025.crt")  # what IT hands over once asked
        after = sly_nb_tls.test_connection(server.url, proxy=proxy)
    assert report.problem == "untrusted_root" and report.interception is not None, str(report)
    assert report.interception.ca == CA_NAME
    rotation = report.rotation
    assert rotation is not None and rotation.name == CA_NAME, str(report)
    assert rotation.old_sha256 == cert(ca.old).sha256 and rotation.new_key_id == key_id(ca.new)
    assert "re-keyed" in report.fix and cert(ca.old).fingerprint in str(report)
    assert fetched.rotation == rotation
    assert after.ok and after.rotation is None, str(after)


def test_a_ca_of_another_name_is_no_rotation(ca: Rekeyed, sends_root: DemoServer, tmp_path: Path) -> None:
    trust(issue(CA_NAME + " 2", ca=True), tmp_path, "other.crt")
    report = sly_nb_tls.test_connection(sends_root.url)
    assert report.problem == "untrusted_root" and report.rotation is None, str(report)
    assert "rotated" not in everything(report) and "re-keyed" not in report.fix
    assert sly_nb_tls.fetch_chain(sends_root.url).rotation is None


def test_the_same_ca_reissued_with_the_same_key_is_no_rotation(tmp_path: Path) -> None:
    ca = rekeyed()
    renewed = issue(CA_NAME, ca=True, key=ca.new.key, not_after=NOW + dt.timedelta(days=900))
    assert cert(renewed).spki_sha256 == cert(ca.new).spki_sha256 and cert(renewed) != cert(ca.new)
    trust(renewed, tmp_path, "renewed.crt")
    with DemoServer(ca.pki, presented="full") as server:
        report = sly_nb_tls.test_connection(server.url)
    assert report.ok and report.rotation is None, str(report)  # the same key: the chain verifies
    # and as a chain that did not verify, it is still not named a rotation
    path = [cert(ca.pki.leaf), cert(ca.pki.intermediate), cert(ca.new)]
    assert find_rotation(path, [cert(renewed)]) is None
    assert find_rotation(path[:2], [cert(renewed)]) is None
    assert find_rotation(path, [cert(ca.old)]) is not None  # the check that is not made above


def test_a_rotation_in_html_is_escaped(tmp_path: Path) -> None:
    name = '<img src=x onerror="alert(1)"> & Co CA'
    ca = rekeyed(name)
    trust(ca.old, tmp_path, "old.crt")
    with DemoServer(ca.pki) as server:
        report = sly_nb_tls.test_connection(server.url)
        fetched = sly_nb_tls.fetch_chain(server.url)
    assert report.rotation is not None and report.rotation.name == name
    for html in (report._repr_html_(), fetched._repr_html_(), report.rotation._repr_html_()):
        assert "<img" not in html and "&lt;img src=x" in html
    assert name in str(report) and name in str(report.rotation)


# --- expiry -----------------------------------------------------------------------------------
def chain_under(root: IssuedCert) -> DemoPKI:
    inter = issue("Corp Issuing CA", issuer=root, ca=True)
    return DemoPKI(root, inter, issue("127.0.0.1", issuer=inter, names=("127.0.0.1",)))


def expiring_root(days: float, name: str = "Corp Root CA") -> IssuedCert:
    return issue(name, ca=True, not_before=NOW - dt.timedelta(days=400), not_after=NOW + dt.timedelta(days=days))


def test_the_expiry_rule_with_the_clock_injected() -> None:
    root = cert(expiring_root(200), "/etc/corp/root.crt")
    due = root.not_after
    at_29, at_31 = due - dt.timedelta(days=29), due - dt.timedelta(days=31)
    (warning,) = expiry_notes([root], 30, now=at_29)
    assert f'"Corp Root CA" trusted here (SHA-256 {root.short_fingerprint}…)' in warning
    assert f"expires in 29 days, on {due:%Y-%m-%d}" in warning
    assert expiry_notes([root], 30, now=at_31) == []
    assert len(expiry_notes([root], 31, now=at_31 + dt.timedelta(seconds=1))) == 1  # the window is the policy's
    (gone,) = expiry_notes([root], 30, now=due + dt.timedelta(days=1))
    assert f"expired on {due:%Y-%m-%d}" in gone and "remove this one" in gone


@pytest.mark.parametrize(("days", "warned"), [(29.5, True), (31.5, False)])
def test_an_extra_in_the_chain_expiring_within_the_window_is_named(days: float, warned: bool, tmp_path: Path) -> None:
    root = expiring_root(days)
    trust(root, tmp_path, "root.crt")
    with DemoServer(chain_under(root)) as server:
        report = sly_nb_tls.test_connection(server.url)
        fetched = sly_nb_tls.fetch_chain(server.url)
    assert report.ok, str(report)
    named = [w for w in report.warnings if '"Corp Root CA" trusted here' in w]
    assert bool(named) is warned, report.warnings
    if warned:
        assert f"expires in 29 days, on {cert(root).not_after:%Y-%m-%d}" in named[0]
        assert named[0] in str(report) and named[0] in fetched.warnings
    # the same chain and extra, judged at a clock 29 and 31 days before the extra expires
    used = extras_in_use(report.chain, trusted_extras())
    assert [c.sha256 for c in used] == [cert(root).sha256]
    assert expiry_notes(used, 30, now=cert(root).not_after - dt.timedelta(days=29)) != []
    assert expiry_notes(used, 30, now=cert(root).not_after - dt.timedelta(days=31)) == []


def test_the_window_is_the_policys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = expiring_root(45.5)
    trust(root, tmp_path, "root.crt")
    policy = tmp_path / "policy.toml"
    policy.write_text("expiry_warning_days = 60\n")
    monkeypatch.setenv("SLY_NB_TLS_POLICY", str(policy))
    assert warning_days() == 60
    with DemoServer(chain_under(root)) as server:
        report = sly_nb_tls.test_connection(server.url)
        policy.write_text("expiry_warning_days = [\n")  # unreadable: refuses changes, the test still runs
        assert warning_days() == 30
        unread = sly_nb_tls.test_connection(server.url)
    assert report.ok and any("expires in 45 days" in w for w in report.warnings), report.warnings
    assert unread.ok and not any("trusted here" in w for w in unread.warnings), unread.warnings


def test_an_expired_extra_is_named_not_the_servers_certificate(tmp_path: Path) -> None:
    root = issue("Corp Root CA", ca=True, not_before=NOW - dt.timedelta(days=400), not_after=NOW - dt.timedelta(days=2))
    trust(root, tmp_path, "root.crt")
    expired = cert(root)
    with DemoServer(chain_under(root)) as server:
        report = sly_nb_tls.test_connection(server.url)
        fetched = sly_nb_tls.fetch_chain(server.url)
    assert report.problem == "expired", str(report)
    assert f'"Corp Root CA" trusted here (SHA-256 {expired.short_fingerprint}…' in report.cause
    assert f"expired on {expired.not_after:%Y-%m-%d}" in report.cause and "in date" in report.cause
    assert "renew" not in report.fix and report.remedy is not None and report.remedy.action == "ask-admin"
    assert command("remove", expired.sha256[:16]) in report.remedy.commands
    assert not any('"Corp Root CA" trusted here' in w for w in report.warnings)  # said once, in the cause
    assert any(f"expired on {expired.not_after:%Y-%m-%d}" in w and "Corp Root CA" in w for w in fetched.warnings)


def test_an_expired_leaf_is_still_the_servers_problem(tmp_path: Path) -> None:
    root = expiring_root(300)
    inter = issue("Corp Issuing CA", issuer=root, ca=True)
    leaf = issue("127.0.0.1", issuer=inter, names=("127.0.0.1",), not_before=NOW - dt.timedelta(days=30),
                 not_after=NOW - dt.timedelta(days=1))  # fmt: skip
    trust(root, tmp_path, "root.crt")
    with DemoServer(DemoPKI(root, inter, leaf)) as server:
        report = sly_nb_tls.test_connection(server.url)
    assert report.problem == "expired" and "renew" in report.fix, str(report)
    assert "trusted here" not in report.cause and report.rotation is None


def test_trusted_extras_follow_add_and_reset(tmp_path: Path) -> None:
    assert trusted_extras() == ()
    first, second = expiring_root(100, "First CA"), expiring_root(200, "Second CA")
    trust(first, tmp_path, "first.crt")
    trust(second, tmp_path, "second.crt")
    extras = trusted_extras()
    assert [c.common_name for c in extras] == ["Second CA", "First CA"]  # latest expiry first
    assert all(isinstance(c, Certificate) and c.spki_sha256 for c in extras)
    sly_nb_tls.reset()
    assert trusted_extras() == ()
