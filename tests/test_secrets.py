"""Redaction by shape as well as by key name: what `env`, `test` and every message may show."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import sly_nb_tls
from sly_nb_tls._secrets import is_secret_key, redact, secret_values, strip_userinfo
from sly_nb_tls.demo import DemoServer, Response

PROXY_PASSWORD = "Pr0xyPassw0rd"
DB_PASSWORD = "dbS3cretPw"


@pytest.mark.parametrize(
    ("text", "hidden", "kept"),
    [
        ("http://alice:Pr0xyPassw0rd@proxy.corp:3128", ["alice", "Pr0xyPassw0rd"], ["proxy.corp:3128"]),
        ("see https://ghp_tok3nValue@github.com/x.git", ["ghp_tok3nValue"], ["github.com/x.git"]),
        ("postgresql://app:dbS3cretPw@db.corp:5432/x", ["dbS3cretPw"], ["db.corp:5432/x"]),
        ("host=db.corp user=app password=dbS3cretPw dbname=x", ["dbS3cretPw"], ["host=db.corp", "dbname=x"]),
        ("Server=db;Database=x;User Id=app;Password=dbS3cretPw;", ["dbS3cretPw"], ["Server=db", "Database=x"]),
        ('pwd="dbS3cretPw" next', ["dbS3cretPw"], ["next"]),
        ("Authorization: Bearer eyJhbGciOi.abc.def", ["eyJhbGciOi", "Bearer eyJ"], ["Authorization"]),
        ("Proxy-Authorization: Basic YWxpY2U6cHc=\r\nHost: x", ["YWxpY2U6cHc="], ["Host: x"]),
        ("x-api-key: 0123456789abcdef", ["0123456789abcdef"], ["x-api-key"]),
    ],
)
def test_secret_shapes_are_redacted_whatever_the_variable(text: str, hidden: list[str], kept: list[str]) -> None:
    out = redact(text, [])
    for secret in hidden:
        assert secret not in out, out
    for part in kept:
        assert part in out, out
    assert "***" in out


def test_embedded_passwords_of_any_variable_are_known_secrets() -> None:
    env = {
        "HTTPS_PROXY": f"http://alice:{PROXY_PASSWORD}@proxy.corp:3128",
        "DATABASE_URL": f"postgresql://app:{DB_PASSWORD}@db/x",
        "API_TOKEN": "tok-123456",
        "HOME": "/home/alice",
    }
    values = secret_values(env)
    assert PROXY_PASSWORD in values and DB_PASSWORD in values and "tok-123456" in values
    assert "/home/alice" not in values
    # a server that echoes the bare password, with no URL around it, is caught by value
    assert PROXY_PASSWORD not in redact(f"denied for {PROXY_PASSWORD}", values)


def test_strip_userinfo_leaves_the_host() -> None:
    assert strip_userinfo("http://alice:pw@proxy.corp:3128/") == "http://***@proxy.corp:3128/"
    assert strip_userinfo("https://sly.corp") == "https://sly.corp"


@pytest.mark.parametrize("name", ["PWD", "OLDPWD", "HOME", "PATH"])
def test_ordinary_variables_are_not_secret_keys(name: str) -> None:
    assert not is_secret_key(name)


def test_env_shows_no_password_of_a_proxy_or_database_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    Path("local.env").write_text(
        f"HTTPS_PROXY=http://alice:{PROXY_PASSWORD}@127.0.0.1:3128\n"
        f"DATABASE_URL=postgresql://app:{DB_PASSWORD}@db.corp/x\n"
        "SERVER_ADDRESS=https://sly.corp.example\n"
    )
    result = sly_nb_tls.load_env()
    shown = str(result) + result._repr_html_() + repr(result)
    assert PROXY_PASSWORD not in shown and DB_PASSWORD not in shown and "alice" not in shown
    assert "127.0.0.1:3128" in shown and "db.corp/x" in shown  # the rest is still useful
    assert os.environ["HTTPS_PROXY"] == f"http://alice:{PROXY_PASSWORD}@127.0.0.1:3128"  # applied as written


def test_a_token_echoed_at_the_truncation_boundary_is_hidden_whole(full_chain_server: DemoServer) -> None:
    """Server text is shown cut short; the token must be redacted before any cut.

    The fifth copy straddles character 200: cut first, it would escape redaction,
    and once the four whole copies shrink to ``***`` it lands inside what is shown.
    """
    token = "t0ken-" + "a" * 34  # 40 characters
    sly_nb_tls.add_certs(full_chain_server.root_path)
    full_chain_server.responses["/public/api/v3/users.me"] = Response(500, (token + " ") * 4 + token + " end")
    report = sly_nb_tls.test_connection(full_chain_server.url, token=token)
    assert report.problem == "http_error"
    everything = str(report) + report._repr_html_() + json.dumps(report.to_dict())
    for i in range(8, len(token) + 1):
        assert token[:i] not in everything, f"{i} characters of the token shown"
