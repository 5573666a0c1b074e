"""`%sly_tls env` / `load_env`: defaults, precedence, --override, masking, errors, CA registration."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from IPython.core.interactiveshell import InteractiveShell

import sly_nb_tls
from sly_nb_tls._secrets import is_secret_key
from sly_nb_tls.demo import DemoServer, issue
from sly_nb_tls.errors import CertificateSourceError, EnvFileError

TOKEN = "a3f9c1b2d4e5f60718293a4b5c6d7e8f90a1b2c3"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    h = tmp_path / "home"
    h.mkdir()
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.setenv("HOME", str(h))
    monkeypatch.chdir(work)
    for var in ("SLY_TEST_A", "SLY_TEST_B", "SLY_TEST_C", "MY_SECRET", "DB_PASSWORD"):
        monkeypatch.delenv(var, raising=False)
    return h


def test_defaults_local_env_over_dot_env_over_home(home: Path) -> None:
    (home / "supervisely.env").write_text("SERVER_ADDRESS=https://from-home\nSLY_TEST_A=home\nSLY_TEST_C=home\n")
    Path(".env").write_text("SLY_TEST_A=dotenv\nSLY_TEST_B=dotenv\n")
    Path("local.env").write_text("SLY_TEST_B=local\n")
    r = sly_nb_tls.load_env()
    assert r.files_read == ["local.env", ".env", "~/supervisely.env"]
    assert os.environ["SLY_TEST_A"] == "dotenv"
    assert os.environ["SLY_TEST_B"] == "local"
    assert os.environ["SLY_TEST_C"] == "home"
    assert os.environ["SERVER_ADDRESS"] == "https://from-home"


def test_kernel_environment_wins_unless_override(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLY_TEST_A", "kernel")
    Path("local.env").write_text("SLY_TEST_A=file\n")
    r = sly_nb_tls.load_env()
    assert os.environ["SLY_TEST_A"] == "kernel"
    assert [k.action for k in r.keys] == ["kept"] and "--override" in str(r)
    r = sly_nb_tls.load_env(override=True)
    assert os.environ["SLY_TEST_A"] == "file"
    assert [k.action for k in r.keys] == ["overridden"]


def test_no_files_at_all_is_not_an_error(home: Path) -> None:
    r = sly_nb_tls.load_env()
    assert r.files_read == [] and "No env file found" in str(r)


def test_secret_values_are_never_shown(home: Path) -> None:
    Path("local.env").write_text(
        f"API_TOKEN={TOKEN}\nMY_SECRET=hunter2-hunter2\nDB_PASSWORD=pw-123456\nSERVER_ADDRESS=https://x\n"
    )
    r = sly_nb_tls.load_env()
    out = str(r) + r._repr_html_()
    for secret in (TOKEN, "hunter2-hunter2", "pw-123456"):
        assert secret not in out
    assert f"({len(TOKEN)} chars, hidden)" in out
    assert "https://x" in out
    assert os.environ["API_TOKEN"] == TOKEN


@pytest.mark.parametrize("name", ["API_TOKEN", "SLY_API_TOKEN", "AWS_SECRET_ACCESS_KEY", "DB_PASS", "GITHUB_TOKEN"])
def test_secret_key_names(name: str) -> None:
    assert is_secret_key(name)


@pytest.mark.parametrize("name", ["SERVER_ADDRESS", "TEAM_ID", "SLY_EXTRA_CA_CERTS", "HOME"])
def test_non_secret_key_names(name: str) -> None:
    assert not is_secret_key(name)


def test_syntax_error_names_file_and_line_and_applies_nothing(home: Path) -> None:
    Path("local.env").write_text('SLY_TEST_A=1\nSLY_TEST_B="unterminated\nSLY_TEST_C=3\n')
    before = dict(os.environ)
    with pytest.raises(EnvFileError, match=r"local.env:2: syntax error"):
        sly_nb_tls.load_env()
    assert dict(os.environ) == before


def test_missing_explicit_file(home: Path) -> None:
    with pytest.raises(EnvFileError, match="no such file"):
        sly_nb_tls.load_env("nope.env")


def test_sly_extra_ca_certs_is_registered_not_exported(home: Path) -> None:
    with DemoServer() as server:
        Path("certs").mkdir()
        Path("certs/corp.crt").write_text(Path(server.chain_path).read_text())
        # relative to the env file's folder, as a user writing the file expects
        (home / "supervisely.env").write_text(f"SERVER_ADDRESS={server.url}\nAPI_TOKEN={TOKEN}\n")
        Path("local.env").write_text("SLY_EXTRA_CA_CERTS=certs/corp.crt\n")
        r = sly_nb_tls.load_env()
        assert r.certificates is not None and len(r.certificates.added) == 2
        assert [k.action for k in r.keys if k.name == "SLY_EXTRA_CA_CERTS"] == ["registered"]
        report = sly_nb_tls.test_connection()
    assert report.ok and report.login == "alice", str(report)
    # the variable now names our extras file, not the user's relative path
    assert os.environ["SLY_EXTRA_CA_CERTS"] != "certs/corp.crt"


def test_ca_variable_naming_a_missing_file_applies_nothing(home: Path) -> None:
    Path("local.env").write_text("SLY_TEST_A=1\nSLY_EXTRA_CA_CERTS=/nonexistent/corp.crt\n")
    before = dict(os.environ)
    with pytest.raises(
        EnvFileError, match=r"SLY_EXTRA_CA_CERTS=/nonexistent/corp\.crt.*no such file.*nothing was applied"
    ):
        sly_nb_tls.load_env()
    assert dict(os.environ) == before
    assert not sly_nb_tls.status().active


def test_requests_ca_bundle_in_env_file_is_registered(home: Path, tmp_path: Path) -> None:
    bundle = tmp_path / "bundle.pem"
    bundle.write_text(issue("Bundle CA 1", ca=True).pem + issue("Bundle CA 2", ca=True).pem)
    Path(".env").write_text(f"REQUESTS_CA_BUNDLE={bundle}\n")
    r = sly_nb_tls.load_env()
    assert r.certificates is not None and len(r.certificates.added) == 2
    assert os.environ["REQUESTS_CA_BUNDLE"] != str(bundle)  # points at the merged bundle


def test_env_magic_is_a_usage_error_on_bad_files(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "sly_nb_tls")
    try:
        Path("bad.env").write_text("this line is wrong\n")
        result = ip.run_cell("%sly_tls env bad.env")
        out = capsys.readouterr()
        assert type(result.error_in_exec).__name__ == "UsageError"
        assert "bad.env:1: syntax error" in out.err + out.out and "Traceback" not in out.err + out.out
        Path("ok.env").write_text(f"API_TOKEN={TOKEN}\n")
        r = ip.run_line_magic("sly_tls", "env ok.env --override")
        assert TOKEN not in str(r) + r._repr_html_()
    finally:
        ip.run_line_magic("unload_ext", "sly_nb_tls")


def test_cert_error_surfaces_as_env_file_error(home: Path) -> None:
    Path("k.pem").write_text("-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n")
    Path("local.env").write_text("SLY_EXTRA_CA_CERTS=k.pem\n")
    with pytest.raises(EnvFileError, match="private key"):
        sly_nb_tls.load_env()
    assert issubclass(EnvFileError, sly_nb_tls.SlyTlsError) and not issubclass(EnvFileError, CertificateSourceError)
