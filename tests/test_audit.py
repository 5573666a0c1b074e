"""The audit trail, expiry warnings and name constraints (issue 21), through real changes.

Every record is read back from the log file itself, as an admin would: one JSON object per line,
at ``$XDG_STATE_HOME/sly-nb-tls/audit.jsonl`` (conftest gives each test its own state directory).
Other processes are real processes; clocks are injected, never slept.
"""

from __future__ import annotations

import base64
import datetime as dt
import getpass
import json
import os
import socket
import ssl
import stat
import subprocess
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

import sly_nb_tls
from sly_nb_tls import _audit
from sly_nb_tls._certs import expires_within, expiry_warning
from sly_nb_tls._sources import read_sources
from sly_nb_tls.demo import DemoServer, IssuedCert, issue
from sly_nb_tls.errors import PolicyError, SlyTlsError
from sly_nb_tls.trust.gate import expiry_warnings

from .helpers import controlled_env, root_ca
from .test_hardening import DSN_PASSWORD, OTHER_SECRETS, PROXY_PASSWORD, TOKEN
from .test_hardening_v3 import PASSWORD as V3_PASSWORD
from .test_hardening_v3 import TOKEN as V3_TOKEN
from .test_secrets import DB_PASSWORD as SECRETS_DB_PASSWORD
from .test_secrets import PROXY_PASSWORD as SECRETS_PROXY_PASSWORD

ROOT = Path(__file__).resolve().parents[1]
FIELDS = {"time", "user", "host", "pid", "kernel", "action", "outcome", "certificates", "sources"}
CERT_FIELDS = {"sha256", "subject", "issuer", "kind", "not_after"}


# -- helpers ---------------------------------------------------------------------------------------
def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def _log() -> Path:
    """Where the issue says the log is by default (written out here, not asked of the package)."""
    return Path(os.environ["XDG_STATE_HOME"]) / "sly-nb-tls" / "audit.jsonl"


def _records(path: Path | None = None) -> list[dict[str, Any]]:
    """Every line of the log, each one whole JSON object."""
    path = path or _log()
    if not path.exists():
        return []
    lines = path.read_bytes().split(b"\n")
    assert lines[-1] == b"", "the log does not end with a whole line"
    out = [json.loads(line) for line in lines[:-1]]
    assert all(isinstance(r, dict) for r in out)
    return out


def _write(path: Path, text: str) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return str(path)


def _policy(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, text: str) -> Path:
    """An admin's policy file, in force for this test (monkeypatch: undone before conftest's reset)."""
    path = tmp_path / "policy" / "policy.toml"
    _write(path, text)
    monkeypatch.setenv("SLY_NB_TLS_POLICY", str(path))
    return path


def _sha(cert: IssuedCert) -> str:
    return read_sources([cert.pem]).certificates[0].sha256


def _handshake(server: DemoServer) -> None:
    """A TLS handshake with a context made the way clients make theirs; raises if not trusted."""
    context = ssl.create_default_context()
    with (
        socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1"),
    ):
        pass


def constrained_ca(name: str, permitted: Sequence[str] = (), excluded: Sequence[str] = ()) -> IssuedCert:
    """A root CA with a nameConstraints extension (DNS names), RFC 5280-strict like the demo's."""
    return root_ca(
        name,
        permitted=[x509.DNSName(n) for n in permitted] or None,
        excluded=[x509.DNSName(n) for n in excluded] or None,
    )


def _assert_certificate_entry(entry: dict[str, Any], cert: IssuedCert) -> None:
    """The log's view of one certificate: exactly its fingerprint, names, kind and end date."""
    parsed = read_sources([cert.pem]).certificates[0]
    assert set(entry) == CERT_FIELDS
    assert entry["sha256"] == parsed.sha256 and len(entry["sha256"]) == 64
    assert entry["subject"] == parsed.subject and entry["issuer"] == parsed.issuer
    assert entry["kind"] == parsed.kind
    assert dt.datetime.strptime(entry["not_after"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc) == (
        cert.cert.not_valid_after_utc
    )


# -- records for each action -----------------------------------------------------------------------
def test_an_add_from_a_file_writes_one_record_with_every_field(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    ca = issue("Audit File CA", ca=True)
    path = _write(tmp_path / "home" / "cas" / "root.pem", ca.pem)
    before = dt.datetime.now(dt.timezone.utc)
    sly_nb_tls.add_certs(path)
    after = dt.datetime.now(dt.timezone.utc)
    (record,) = _records()
    assert FIELDS <= set(record)
    when = dt.datetime.strptime(record["time"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.timezone.utc)
    assert before - dt.timedelta(seconds=1) <= when <= after + dt.timedelta(seconds=1)  # UTC, not local time
    assert record["user"] == getpass.getuser() and record["host"] == socket.gethostname()
    assert record["pid"] == os.getpid() and record["kernel"] is None
    assert (record["action"], record["outcome"]) == ("add", "ok")
    (entry,) = record["certificates"]
    _assert_certificate_entry(entry, ca)
    assert record["sources"] == [{"kind": "file", "path": "~/cas/root.pem"}]  # the home directory as ~
    log = _log()
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    assert stat.S_IMODE(log.parent.stat().st_mode) == 0o700


def test_without_xdg_state_home_the_log_is_under_local_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("XDG_STATE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    sly_nb_tls.add_certs(issue("Audit Default Place CA", ca=True).pem)
    (record,) = _records(tmp_path / ".local" / "state" / "sly-nb-tls" / "audit.jsonl")
    assert record["action"] == "add"


def test_an_add_of_pem_text_records_no_path_and_no_pem() -> None:
    ca = issue("Audit PEM Text CA", ca=True)
    sly_nb_tls.add_certs(ca.pem)
    sly_nb_tls.add_certs(ca.pem)  # already trusted: no change, so no record
    (record,) = _records()
    assert record["sources"] == [{"kind": "PEM text", "path": None}]
    _assert_certificate_entry(record["certificates"][0], ca)
    raw = _log().read_text()
    assert "-----BEGIN" not in raw and ca.pem.splitlines()[1] not in raw  # not the body either


def test_load_env_records_the_env_file_and_the_ca_file_it_names(tmp_path: Path) -> None:
    ca = issue("Audit Env CA", ca=True)
    _write(tmp_path / "project" / "env-ca.pem", ca.pem)
    env_file = _write(tmp_path / "project" / "local.env", "SSL_CERT_FILE=env-ca.pem\nSERVER_ADDRESS=https://x.corp\n")
    sly_nb_tls.load_env(env_file)
    (record,) = _records()
    assert (record["action"], record["outcome"]) == ("add", "ok")
    assert {"kind": "env file", "path": env_file} in record["sources"]
    assert {"kind": "file", "path": str(tmp_path / "project" / "env-ca.pem")} in record["sources"]
    _assert_certificate_entry(record["certificates"][0], ca)


def test_remove_and_reset_are_recorded_with_what_they_took_away(tmp_path: Path) -> None:
    one, two, three = (issue(f"Audit Remove CA {n}", ca=True) for n in (1, 2, 3))
    path = _write(tmp_path / "one.pem", one.pem)
    sly_nb_tls.add_certs(path, two.pem, three.pem)
    sly_nb_tls.remove(path)
    sly_nb_tls.remove(_sha(two)[:16])
    sly_nb_tls.reset()
    sly_nb_tls.reset()  # nothing to undo: no change, no record
    add, by_path, by_sha, reset = _records()
    assert [r["action"] for r in (add, by_path, by_sha, reset)] == ["add", "remove", "remove", "reset"]
    assert {e["sha256"] for e in add["certificates"]} == {_sha(one), _sha(two), _sha(three)}
    assert [e["sha256"] for e in by_path["certificates"]] == [_sha(one)]
    assert by_path["sources"] == [{"kind": "file", "path": path}]
    assert [e["sha256"] for e in by_sha["certificates"]] == [_sha(two)]
    assert [e["sha256"] for e in reset["certificates"]] == [_sha(three)]
    assert all(r["outcome"] == "ok" and r["pid"] == os.getpid() for r in (by_path, by_sha, reset))


def test_install_and_uninstall_are_recorded_with_their_scope(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    ca = issue("Audit Install CA", ca=True)
    sly_nb_tls.install(ca.pem, scope="user")
    sly_nb_tls.uninstall(scope="user")
    sly_nb_tls.uninstall(scope="user")  # nothing left: no change, no record
    install, uninstall = _records()
    for record, action in ((install, "install"), (uninstall, "uninstall")):
        assert (record["action"], record["outcome"]) == (action, "ok")
        assert {"kind": "install scope", "path": "user"} in record["sources"]
        (entry,) = record["certificates"]
        _assert_certificate_entry(entry, ca)
    assert sly_nb_tls.status().active is False  # install trusts nothing in this process


def test_a_refusal_by_the_policy_is_recorded_and_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, demo_server: DemoServer
) -> None:
    root = read_sources([demo_server.root_path]).certificates[0]
    _policy(monkeypatch, tmp_path, f'deny = ["{root.sha256}"]\n')
    with pytest.raises(PolicyError, match="deny list"):
        sly_nb_tls.add_certs(demo_server.root_path)
    assert sly_nb_tls.status().active is False
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(demo_server)
    (record,) = _records()
    assert (record["action"], record["outcome"]) == ("add", "refused")
    assert "deny list" in record["reason"]
    assert [e["sha256"] for e in record["certificates"]] == [root.sha256]
    assert record["sources"] == [{"kind": "file", "path": demo_server.root_path}]
    assert FIELDS <= set(record) and record["pid"] == os.getpid()


def test_a_process_started_with_a_connection_file_records_its_name(tmp_path: Path) -> None:
    ca_path = _write(tmp_path / "ca.pem", issue("Audit Kernel CA", ca=True).pem)
    code = "import os, sly_nb_tls; sly_nb_tls.add_certs(os.environ['AUDIT_CA']); print('PID', os.getpid())"
    env = controlled_env(False) | {"AUDIT_CA": ca_path, "PYTHONPATH": str(ROOT), "SLY_NB_TLS_DIR": str(tmp_path / "u")}
    out = subprocess.run(
        [sys.executable, "-c", code, "-f", "/some/dir/kernel-abc.json"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    (record,) = _records()
    assert record["pid"] == int(out.stdout.split("PID ")[1]) != os.getpid()
    assert record["kernel"] == "kernel-abc.json"  # the file's name: not the directory it is in


@pytest.mark.parametrize(
    "argv",
    [
        ["-f", "/some/dir/kernel-abc.json"],
        ["--f", "/some/dir/kernel-abc.json"],
        ["--f=/some/dir/kernel-abc.json"],
    ],
    ids=["-f FILE", "--f FILE", "--f=FILE"],
)
def test_the_kernel_field_names_the_connection_file_however_the_launcher_spells_it(
    argv: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """jupyter_client's kernelspecs pass ``-f {connection_file}``; VS Code's launcher and others ``--f=FILE``."""
    monkeypatch.setattr(sys, "argv", ["/venv/lib/ipykernel_launcher.py", *argv])
    sly_nb_tls.add_certs(issue("Audit Kernel CA", ca=True).pem)
    (record,) = _records()
    assert record["kernel"] == "kernel-abc.json"


@pytest.mark.parametrize("typed", ["relative", "tilde"])
def test_remove_by_path_names_the_file_as_add_did(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, typed: str) -> None:
    """An audit line is read later, elsewhere: a path relative to a working directory it does not name says nothing."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    _write(tmp_path / "ca.pem", issue("Audit Relative CA", ca=True).pem)
    named = "ca.pem" if typed == "relative" else "~/ca.pem"
    sly_nb_tls.add_certs(named)
    sly_nb_tls.remove(named)
    add, remove = _records()
    assert add["sources"] == [{"kind": "file", "path": "~/ca.pem"}]
    assert remove["sources"] == add["sources"]


def test_an_install_the_policy_forbids_is_recorded_as_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    _policy(monkeypatch, tmp_path, "allow_user_install = false\n")
    ca = issue("Audit Forbidden Install CA", ca=True)
    with pytest.raises(PolicyError, match="allow_user_install"):
        sly_nb_tls.install(ca.pem, scope="user")
    assert not (tmp_path / "ipython").exists()
    (record,) = _records()
    assert (record["action"], record["outcome"]) == ("install", "refused")
    assert {"kind": "install scope", "path": "user"} in record["sources"]
    assert [e["sha256"] for e in record["certificates"]] == [_sha(ca)] and "allow_user_install" in record["reason"]


def test_the_start_records_what_the_variable_applied(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sly_nb_tls.trust import startup

    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))  # no installed store of this machine's
    ca = issue("Audit Variable CA", ca=True)
    monkeypatch.setenv("SLY_NB_TLS_CA_CERTS", ca.pem)
    startup.forget()
    try:
        startup.apply_at_start()
    finally:
        startup.forget()
    (record,) = _records()
    assert (record["action"], record["outcome"]) == ("start", "ok")
    assert record["sources"] == [
        {"kind": "variable", "path": "SLY_NB_TLS_CA_CERTS"},
        {"kind": "PEM text", "path": None},
    ]
    _assert_certificate_entry(record["certificates"][0], ca)
    assert "-----BEGIN" not in _log().read_text()


# -- never a secret ----------------------------------------------------------------------------------
#: the hardening tests' secrets (the same values): tokens, service secrets, proxy and database passwords
ENV_SECRETS = {
    "API_TOKEN": TOKEN,
    **OTHER_SECRETS,
    "HTTPS_PROXY": f"http://pxuser:{PROXY_PASSWORD}@127.0.0.1:9",
    "DATABASE_URL": f"postgresql://app:{DSN_PASSWORD}@db.corp/x",
}
#: set only by the env file that `load_env` reads
FILE_SECRETS = {
    "SERVICE_TOKEN": V3_TOKEN,
    "HTTP_PROXY": f"alice:{V3_PASSWORD}@proxy.corp.example:3128",
    "ALL_PROXY": f"http://alice:{SECRETS_PROXY_PASSWORD}@127.0.0.1:3128",
    "PG_DSN": f"host=db.corp user=app password={SECRETS_DB_PASSWORD} dbname=x",
}
CORPUS = [
    TOKEN, *OTHER_SECRETS.values(), PROXY_PASSWORD, DSN_PASSWORD, V3_TOKEN, V3_PASSWORD,
    SECRETS_PROXY_PASSWORD, SECRETS_DB_PASSWORD,
    base64.b64encode(f"pxuser:{PROXY_PASSWORD}".encode()).decode(),
    base64.b64encode(f"alice:{V3_PASSWORD}".encode()).decode(),
]  # fmt: skip


def test_no_secret_no_pem_and_no_private_key_in_any_record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in ENV_SECRETS.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    env_ca, text_ca, keyed_ca, denied = (issue(f"Audit Secret CA {n}", ca=True) for n in range(4))
    project = tmp_path / "project"
    _write(project / "env-ca.pem", env_ca.pem)
    env_lines = "".join(f"{k}={v}\n" for k, v in FILE_SECRETS.items())
    env_file = _write(project / "local.env", f"SSL_CERT_FILE=env-ca.pem\n{env_lines}")
    keyed = _write(tmp_path / "with-key.pem", keyed_ca.pem + keyed_ca._key_pem().decode())

    sly_nb_tls.load_env(env_file)
    assert os.environ["SERVICE_TOKEN"] == V3_TOKEN  # applied: the file's secrets are the environment's now
    sly_nb_tls.add_certs(text_ca.pem)
    added = sly_nb_tls.add_certs(keyed)
    assert any("private key" in w for w in added.warnings)
    sly_nb_tls.remove(keyed)
    sly_nb_tls.install(keyed, scope="user")
    sly_nb_tls.uninstall(scope="user")
    _policy(monkeypatch, tmp_path, f'deny = ["{_sha(denied)}"]\n')
    with pytest.raises(PolicyError):
        sly_nb_tls.add_certs(denied.pem)
    sly_nb_tls.reset()

    records = _records()
    assert [r["action"] for r in records] == ["add", "add", "add", "remove", "install", "uninstall", "add", "reset"]
    assert records[-2]["outcome"] == "refused"
    raw = _log().read_bytes()
    for secret in CORPUS:
        assert secret.encode() not in raw, f"{secret!r} is in the audit log"
    assert b"-----BEGIN" not in raw and b"PRIVATE KEY" not in raw
    assert keyed_ca._key_pem().splitlines()[1] not in raw


def test_a_secret_in_a_path_is_masked_in_the_record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The issue: never a token in any record.  A path is the user's text, and may hold one (a folder
    named after a token, a mount with credentials in its name); the environment says which values are secret."""
    monkeypatch.setenv("API_TOKEN", TOKEN)
    hidden = _write(tmp_path / TOKEN / "ca.pem", issue("Audit Hidden CA", ca=True).pem)
    sly_nb_tls.add_certs(hidden)
    assert TOKEN.encode() not in _log().read_bytes()
    (record,) = _records()
    assert record["sources"] == [{"kind": "file", "path": str(tmp_path / "***" / "ca.pem")}]


# -- appends from many processes -------------------------------------------------------------------------
APPENDER = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path

    go, count, mode, ca = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
    if mode == "direct":
        from sly_nb_tls import _audit
        from sly_nb_tls._sources import read_sources

        certs = read_sources([ca]).certificates
        log = Path(os.environ["XDG_STATE_HOME"]) / "sly-nb-tls" / "audit.jsonl"
    else:
        import sly_nb_tls
    while not go.exists():  # all start together: the appends overlap
        time.sleep(0.005)
    for n in range(count):
        if mode == "direct":
            _audit.append(log, _audit.make_entry("add", "ok", certs, [("file", ca)], seq=n))
        elif n % 2 == 0:
            sly_nb_tls.add_certs(ca)
        else:
            sly_nb_tls.remove(ca)
    """
)


def _append_from_processes(tmp_path: Path, mode: str, processes: int, count: int) -> dict[int, str]:
    """`processes` real processes append `count` records each at once; {pid: the CA file each used}."""
    go = tmp_path / "go"
    children = {}
    for n in range(processes):
        ca = _write(tmp_path / f"ca{n}.pem", issue(f"Audit Concurrent CA {n}", ca=True).pem)
        env = controlled_env(False) | {"PYTHONPATH": str(ROOT), "SLY_NB_TLS_DIR": str(tmp_path / f"userdir{n}")}
        argv = [sys.executable, "-c", APPENDER, str(go), str(count), mode, ca]
        children[ca] = subprocess.Popen(argv, env=env, stderr=subprocess.PIPE, text=True)
    go.touch()
    for child in children.values():
        _, err = child.communicate(timeout=240)
        assert child.returncode == 0, err
    return {child.pid: ca for ca, child in children.items()}


def _assert_intact(records: list[dict[str, Any]], pids: dict[int, str], count: int) -> None:
    assert len(records) == len(pids) * count
    for pid, ca in pids.items():
        own = [r for r in records if r["pid"] == pid]
        assert len(own) == count, (pid, len(own))
        assert all(FIELDS <= set(r) and r["sources"][-1]["path"] == ca for r in own)


@pytest.mark.slow
def test_four_processes_appending_500_records_each_give_2000_intact_lines(tmp_path: Path) -> None:
    pids = _append_from_processes(tmp_path, "direct", processes=4, count=500)
    records = _records()
    _assert_intact(records, pids, 500)
    for pid in pids:  # each process's records in the order it wrote them
        assert [r["seq"] for r in records if r["pid"] == pid] == list(range(500))


@pytest.mark.slow
@pytest.mark.parametrize("count", [500, 20], ids=["500-each", "20-each"])
def test_four_processes_making_real_changes_at_once_give_every_line_intact(tmp_path: Path, count: int) -> None:
    pids = _append_from_processes(tmp_path, "changes", processes=4, count=count)
    records = _records()
    _assert_intact(records, pids, count)
    for pid in pids:
        assert [r["action"] for r in records if r["pid"] == pid] == ["add", "remove"] * (count // 2)


# -- rotation ----------------------------------------------------------------------------------------------
def _fill(path: Path, size: int) -> list[bytes]:
    """Valid records filling `path` to exactly `size` bytes; the lines written."""

    def line(n: int, pad: int) -> bytes:
        return (json.dumps({"action": "add", "outcome": "ok", "seq": n, "pad": "x" * pad}) + "\n").encode()

    lines: list[bytes] = []
    total = 0
    while size - total > 2000:
        lines.append(line(len(lines), 900))
        total += len(lines[-1])
    rest = size - total
    lines.append(line(len(lines), rest - len(line(len(lines), 0))))  # the last one takes up what is left
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.write_bytes(b"".join(lines))
    assert path.stat().st_size == size
    return lines


def test_a_log_at_the_size_limit_is_rotated_to_dot_1_before_the_next_line() -> None:
    log = _log()
    old = _fill(log, _audit.AUDIT_LIMIT)
    Path(f"{log}.1").write_bytes(b'{"action": "the rotation before"}\n')
    sly_nb_tls.add_certs(issue("Audit Rotation CA", ca=True).pem)
    assert Path(f"{log}.1").read_bytes() == b"".join(old)  # moved whole; the one before it replaced
    (record,) = _records(log)
    assert record["action"] == "add"


def test_rotation_from_just_under_the_limit_loses_and_tears_no_line() -> None:
    log = _log()
    old = _fill(log, _audit.AUDIT_LIMIT - 100)
    sly_nb_tls.add_certs(issue("Audit Rotation CA", ca=True).pem)
    sly_nb_tls.reset()
    rotated = Path(f"{log}.1").read_bytes()
    assert rotated.startswith(b"".join(old)) and rotated.endswith(b"\n")
    lines = rotated.splitlines(keepends=True) + log.read_bytes().splitlines(keepends=True)
    assert lines[: len(old)] == old
    assert [json.loads(line)["action"] for line in lines[len(old) :]] == ["add", "reset"]
    biggest_line = max(len(line) for line in lines)
    assert len(rotated) <= _audit.AUDIT_LIMIT + biggest_line  # past the limit by one line at most
    assert log.stat().st_size < _audit.AUDIT_LIMIT


# -- a log that cannot be written ---------------------------------------------------------------------------
def _blocker(tmp_path: Path) -> Path:
    """A regular file where the log's directory would have to be: no one can create the log (root neither)."""
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file, not a directory\n")
    return blocker


def test_a_log_that_cannot_be_written_never_blocks_a_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, demo_server: DemoServer
) -> None:
    blocker = _blocker(tmp_path)
    monkeypatch.setenv("XDG_STATE_HOME", str(blocker))
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(demo_server)
    added = sly_nb_tls.add_certs(demo_server.root_path)
    _handshake(demo_server)  # trusted all the same
    about_log = [w for w in added.warnings if "audit log" in w]
    assert len(about_log) == 1 and str(blocker) in about_log[0], added.warnings
    assert f"! {about_log[0]}" in str(added)  # shown with the result, not only kept on it
    removed = sly_nb_tls.remove(demo_server.root_path)
    assert len([w for w in removed.warnings if "audit log" in w]) == 1, removed.warnings
    assert sly_nb_tls.status().active is False
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(demo_server)


def test_a_log_the_policy_names_must_be_writable_or_a_widening_change_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, demo_server: DemoServer
) -> None:
    kept = issue("Audit Kept CA", ca=True)
    other = issue("Audit Other Kept CA", ca=True)
    sly_nb_tls.add_certs(kept.pem, other.pem)  # before the policy: in the default log
    _policy(monkeypatch, tmp_path, f'audit_log = "{_blocker(tmp_path)}/audit.jsonl"\n')
    with pytest.raises(PolicyError, match="audit log"):
        sly_nb_tls.add_certs(demo_server.root_path)
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(demo_server)
    # Taking trust away is never refused (a CA someone wants gone must go): it says the log failed.
    removed = sly_nb_tls.remove(kept.pem)
    assert any("audit log" in w for w in removed.warnings), removed.warnings
    assert [c.sha256 for c in sly_nb_tls.status().certificates] == [_sha(other)]
    reset = sly_nb_tls.reset()
    assert any("audit log" in n for n in reset.notes), reset.notes
    assert not sly_nb_tls.status().active
    assert [r["action"] for r in _records()] == ["add"]


def test_the_log_the_policy_names_replaces_the_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    named = tmp_path / "admin" / "logs" / "sly-audit.jsonl"
    _policy(monkeypatch, tmp_path, f'audit_log = "{named}"\n')
    sly_nb_tls.add_certs(issue("Audit Named Log CA", ca=True).pem)
    (record,) = _records(named)
    assert record["action"] == "add"
    assert not _log().exists()
    assert stat.S_IMODE(named.stat().st_mode) == 0o600 and stat.S_IMODE(named.parent.stat().st_mode) == 0o700
    trail = sly_nb_tls.audit(5)
    assert [r["sha256"] for r in trail.records[0]["certificates"]] == [e["sha256"] for e in record["certificates"]]
    assert "sly-audit.jsonl" in trail.path


# -- sly_nb_tls.audit(n) ------------------------------------------------------------------------------------
def test_audit_shows_the_last_records_as_an_escaped_table() -> None:
    evil = issue("<script>alert(1)</script> CA", ca=True)
    sly_nb_tls.add_certs(evil.pem)
    with _log().open("a") as log:
        log.write("<b>not a record</b>\n")  # a damaged line: counted, never shown
    sly_nb_tls.add_certs(issue("Audit Table CA", ca=True).pem)
    sly_nb_tls.remove(_sha(evil)[:16])
    sly_nb_tls.reset()
    trail = sly_nb_tls.audit(3)
    assert [r["action"] for r in trail.records] == ["add", "remove", "reset"]
    text, html = str(trail), trail._repr_html_()
    for action in ("add", "remove", "reset"):
        assert f" {action} " in text and f"<td>{action}</td>" in html
    assert "Audit Table CA" in text and "script" in text  # the certificates by name
    assert "<script>" not in html and "&lt;script" in html
    everything = sly_nb_tls.audit()  # 20 by default
    assert len(everything.records) == 4 and everything.unreadable == 1
    assert "not a record" not in str(everything) and "not a record" not in everything._repr_html_()
    assert "1 line(s)" in str(everything)
    assert json.loads(json.dumps(everything.to_dict()))["records"][0]["action"] == "add"


@pytest.mark.parametrize("n", [0, -1, "x", True, 2.5, None])
def test_audit_refuses_a_count_that_is_not_a_positive_whole_number(n: object) -> None:
    with pytest.raises(SlyTlsError):
        sly_nb_tls.audit(n)  # type: ignore[arg-type]


def test_audit_of_a_log_not_yet_written_has_no_records() -> None:
    trail = sly_nb_tls.audit(3)
    assert trail.records == [] and "no records" in str(trail) and "no records" in trail._repr_html_()


# -- expiry -------------------------------------------------------------------------------------------------
def test_expiry_warns_at_29_days_and_not_at_31_with_the_clock_injected() -> None:
    not_after = dt.datetime(2031, 3, 15, 12, 0, tzinfo=dt.timezone.utc)
    at_29, at_31 = not_after - dt.timedelta(days=29), not_after - dt.timedelta(days=31)
    warning = expiry_warning("Corp Root CA", not_after, 30, now=at_29)
    assert "Corp Root CA" in warning and "2031-03-15" in warning and "29 days" in warning
    assert expiry_warning("Corp Root CA", not_after, 30, now=at_31) == ""
    assert "2031-03-15" in expiry_warning("Corp Root CA", not_after, 40, now=at_31)  # the policy's days
    gone = expiry_warning("Corp Root CA", not_after, 30, now=not_after + dt.timedelta(days=1))
    assert "expired" in gone and "2031-03-15" in gone
    assert expires_within(not_after, 30, at_29) and not expires_within(not_after, 30, at_31)
    assert expires_within(not_after, 40, at_31) and not expires_within(not_after, 30, not_after + dt.timedelta(days=1))
    # the same rule over real certificates, as add, status and the start apply it
    ca = issue("Audit Clock CA", ca=True, not_after=not_after)
    certs = read_sources([ca.pem]).certificates
    (line,) = expiry_warnings(certs, 30, now=at_29)
    assert "Audit Clock CA" in line and "2031-03-15" in line
    assert expiry_warnings(certs, 30, now=at_31) == []
    assert len(expiry_warnings(certs, 40, now=at_31)) == 1
    assert certs[0].expires_soon(at_29) and not certs[0].expires_soon(at_31)  # type: ignore[attr-defined]


def test_add_and_status_warn_of_a_ca_expiring_within_the_policy_days(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    soon = issue("Audit Soon CA", ca=True, not_after=_now() + dt.timedelta(days=29, hours=12))
    later = issue("Audit Later CA", ca=True, not_after=_now() + dt.timedelta(days=31, hours=12))
    soon_date, later_date = (f"{c.cert.not_valid_after_utc:%Y-%m-%d}" for c in (soon, later))
    added = sly_nb_tls.add_certs(soon.pem, later.pem)
    status = sly_nb_tls.status()
    for warnings, shown in ((added.warnings, str(added)), (status.warnings, str(status))):
        (line,) = [w for w in warnings if "Audit Soon CA" in w]
        assert soon_date in line and "29 days" in line and line in shown
        assert not any("Audit Later CA" in w for w in warnings)
    assert soon_date in added._repr_html_() and soon_date in status._repr_html_()
    _policy(monkeypatch, tmp_path, "expiry_warning_days = 40\n")
    status = sly_nb_tls.status()
    assert any("Audit Later CA" in w and later_date in w for w in status.warnings)
    third = sly_nb_tls.add_certs(issue("Audit Third CA", ca=True, not_after=_now() + dt.timedelta(days=35)).pem)
    assert any("Audit Third CA" in w for w in third.warnings)


# -- name constraints -----------------------------------------------------------------------------------------
def test_a_cas_name_constraints_show_in_text_html_and_json_of_add_and_status() -> None:
    ca = constrained_ca("Audit Constrained CA", permitted=["corp.example"], excluded=["secret.corp.example"])
    parsed = read_sources([ca.pem]).certificates[0]
    assert parsed.name_constraints is not None
    assert parsed.name_constraints.permitted == ("DNS:corp.example",)
    assert parsed.name_constraints.excluded == ("DNS:secret.corp.example",)
    added = sly_nb_tls.add_certs(ca.pem)
    status = sly_nb_tls.status()
    for result in (added, status):
        for shown in (str(result), result._repr_html_()):
            assert "corp.example" in shown and "secret.corp.example" in shown
            assert "may vouch for any site" not in shown
    expected = {"permitted": ["DNS:corp.example"], "excluded": ["DNS:secret.corp.example"]}
    assert json.loads(json.dumps(added.to_dict()))["added"][0]["name_constraints"] == expected
    assert json.loads(json.dumps(status.to_dict()))["certificates"][0]["name_constraints"] == expected
    assert not any("corp.example" in w for w in added.warnings + status.warnings)


def test_a_ca_without_name_constraints_may_vouch_for_any_site_as_information_only() -> None:
    added = sly_nb_tls.add_certs(issue("Audit Open CA", ca=True).pem)
    status = sly_nb_tls.status()
    for result in (added, status):
        assert "may vouch for any site" in str(result) and "may vouch for any site" in result._repr_html_()
        assert not any("vouch" in w or "constraint" in w.lower() for w in result.warnings), result.warnings
    (shown,) = added.to_dict()["added"]
    assert shown["name_constraints"] is None and shown["vouches_for"] == "may vouch for any site"
    assert status.to_dict()["certificates"][0]["name_constraints"] is None


def test_a_policy_that_requires_name_constraints_refuses_a_ca_without_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _policy(monkeypatch, tmp_path, "require_name_constraints = true\n")
    with pytest.raises(PolicyError, match="nameConstraints"):
        sly_nb_tls.add_certs(issue("Audit Unconstrained CA", ca=True).pem)
    assert sly_nb_tls.status().active is False
    added = sly_nb_tls.add_certs(constrained_ca("Audit Constrained CA", permitted=["corp.example"]).pem)
    assert len(added.added) == 1
    assert [(r["outcome"], r["certificates"][0]["subject"]) for r in _records()] == [
        ("refused", "CN=Audit Unconstrained CA,O=sly_nb_tls demo"),
        ("ok", "CN=Audit Constrained CA"),
    ]


# -- at start -------------------------------------------------------------------------------------------------
START_PROBE = textwrap.dedent(
    """
    import json, os, sly_nb_tls
    status = sly_nb_tls.status()
    print("RESULT", json.dumps({"pid": os.getpid(), "trusted": [c.sha256 for c in status.certificates]}))
    """
)


@pytest.mark.slow
def test_at_start_the_installed_cas_are_applied_and_recorded_the_expired_and_refused_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    soon = issue("Start Soon CA", ca=True, not_after=_now() + dt.timedelta(days=20))
    expired = issue("Start Expired CA", ca=True, not_before=_now() - dt.timedelta(days=400),
                    not_after=_now() - dt.timedelta(days=2))  # fmt: skip
    denied = issue("Start Denied CA", ca=True)
    sly_nb_tls.install(soon.pem, expired.pem, denied.pem, scope="user")
    policy = _write(tmp_path / "policy.toml", f'deny = ["{_sha(denied)}"]\n')  # for the new process only
    env = controlled_env(False) | {
        "IPYTHONDIR": str(tmp_path / "ipython"), "SLY_NB_TLS_DIR": str(tmp_path / "userdir"),
        "PYTHONPATH": str(ROOT), "SLY_NB_TLS_POLICY": policy,
    }  # fmt: skip
    out = subprocess.run(
        [sys.executable, "-m", "IPython", "--no-banner", "--colors=NoColor", "-c", START_PROBE],
        env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 0 and "RESULT" in out.stdout, out.stdout + out.stderr
    result = json.loads(out.stdout.split("RESULT ", 1)[1].splitlines()[0])
    assert result["trusted"] == [_sha(soon)]
    (gone,) = [ln for ln in out.stderr.splitlines() if "Start Expired CA" in ln]
    assert f"expired on {expired.cert.not_valid_after_utc:%Y-%m-%d}" in gone and "started without it" in gone
    assert any("Start Denied CA" in ln and "deny list" in ln for ln in out.stderr.splitlines()), out.stderr
    assert any(
        "Start Soon CA" in ln and f"{soon.cert.not_valid_after_utc:%Y-%m-%d}" in ln for ln in out.stderr.splitlines()
    ), out.stderr  # expires within the warning days: trusted, and said
    at_start = [r for r in _records() if r["pid"] == result["pid"]]
    assert [(r["action"], r["outcome"]) for r in at_start] == [("start", "refused"), ("start", "ok")]
    refused, applied = at_start
    assert [e["sha256"] for e in refused["certificates"]] == [_sha(denied)] and "deny list" in refused["reason"]
    assert [e["sha256"] for e in applied["certificates"]] == [_sha(soon)]
    _assert_certificate_entry(applied["certificates"][0], soon)  # from OpenSSL's decode: the same as parsed
    for record in at_start:
        assert {"kind": "install scope", "path": "user"} in record["sources"] and FIELDS <= set(record)
    sly_nb_tls.uninstall(scope="user")


def test_the_log_is_never_written_through_a_link_nor_into_a_fifo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In a folder others can write to, a link would put our lines in a file of their choosing, and a
    FIFO would hang every change: both are refused, and the change still goes through with a warning."""
    victim = tmp_path / "victim-rc"
    victim.write_text("# a user's shell rc\n")
    log_dir = Path(os.environ["XDG_STATE_HOME"]) / "sly-nb-tls"
    log_dir.mkdir(parents=True)
    (log_dir / "audit.jsonl").symlink_to(victim)
    result = sly_nb_tls.add_certs(issue("Audit Link CA", ca=True).pem)
    assert result.added and any("audit log" in w for w in result.warnings), result.warnings
    assert victim.read_text() == "# a user's shell rc\n"
    (log_dir / "audit.jsonl").unlink()
    os.mkfifo(log_dir / "audit.jsonl")
    result = sly_nb_tls.add_certs(issue("Audit Fifo CA", ca=True).pem)  # does not hang
    assert result.added and any("audit log" in w for w in result.warnings), result.warnings
