"""`python -m sly_nb_tls`: exit status 0 / 1 / 2, --json, --ca, --env, in real child processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sly_nb_tls.demo import DemoServer

from .helpers import controlled_env
from .servers import closed_port

TOKEN = "cli-token-7e1f0c9a8b"


def cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sly_nb_tls", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env or controlled_env(False),
        cwd=cwd,
    )


@pytest.fixture(scope="module")
def server() -> DemoServer:
    with DemoServer(token=TOKEN) as s:
        yield s  # type: ignore[misc]


def test_problem_exits_1_and_ok_with_ca_exits_0(server: DemoServer, tmp_path: Path) -> None:
    env = controlled_env(True) | {"SLY_NB_TLS_DIR": str(tmp_path / "u")}
    bad = cli("test", server.url, env=env)
    assert bad.returncode == 1 and "untrusted_root" in bad.stdout and "Fix:" in bad.stdout
    good = cli("test", server.url, "--ca", server.chain_path, env=env)
    assert good.returncode == 0, good.stdout + good.stderr
    assert "API check skipped" in good.stdout
    assert list((tmp_path / "u").glob("bundle-*")) == []  # the CLI cleans up after itself


def test_json_output_is_one_object_with_the_contract_fields(server: DemoServer, tmp_path: Path) -> None:
    env = controlled_env(False) | {"API_TOKEN": TOKEN, "SERVER_ADDRESS": server.url}
    env["SLY_NB_TLS_DIR"] = str(tmp_path / "u")
    out = cli("test", server.url, "--ca", server.root_path, "--json", env=env)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["ok"] is True and data["problem"] is None and data["login"] == "alice"
    assert {"ok", "problem", "warnings", "steps", "chain"} <= set(data)
    assert all(len(c["sha256"]) == 64 for c in data["chain"])
    assert TOKEN not in out.stdout + out.stderr


def test_env_file_option_supplies_address_and_token(server: DemoServer, tmp_path: Path) -> None:
    envfile = tmp_path / "local.env"
    envfile.write_text(f"SERVER_ADDRESS={server.url}\nAPI_TOKEN={TOKEN}\nSLY_EXTRA_CA_CERTS={server.chain_path}\n")
    env = controlled_env(False) | {"SLY_NB_TLS_DIR": str(tmp_path / "u")}
    out = cli("test", "--env", str(envfile), env=env)
    assert out.returncode == 0, out.stdout + out.stderr
    assert 'login "alice"' in out.stdout
    assert TOKEN not in out.stdout + out.stderr


def test_fetch_json_and_save(server: DemoServer, tmp_path: Path) -> None:
    out = cli("fetch", server.url, "--save", str(tmp_path / "chain.crt"), "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert len(data["chain"]) == 2 and data["verified"] is False
    assert (tmp_path / "chain.crt").read_text().count("BEGIN CERTIFICATE") == 1  # the intermediate


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["test", "ftp://x"], "unsupported scheme"),
        (["test", "https://127.0.0.1:99999"], "65535"),
        (["test", "https://127.0.0.1:1", "--ca", "/nonexistent.crt"], "no such file"),
        (["test", "https://127.0.0.1:1", "--env", "/nonexistent.env"], "no such file"),
        (["test", "--timeout", "soon"], "timeout must be a positive number of seconds, not 'soon'"),
        (["test", "--timeout", "nan"], "positive, finite number"),
        (["test", "--timeout", "inf"], "positive, finite number"),
        (["test", "--timeout", "0"], "positive, finite number"),
        (["fetch", "--timeout", "-1"], "positive, finite number"),
        (["frobnicate"], "invalid choice"),
        (["reset"], "invalid choice"),  # a run resets itself when it ends: the magic's command only
        (["add", "--no-live", "x.crt"], "unrecognized arguments: --no-live"),
        (["install", "--scope", "everyone"], "invalid choice: 'everyone' (choose from 'user', 'env', 'system')"),
        (["demo-server", "--seconds", "nan"], "--seconds must be a positive, finite number"),
        (["demo-server", "--port", "65536"], "from 1 to 65535"),
        (["test"], "SERVER_ADDRESS is not set"),
    ],
)
def test_usage_errors_exit_2_with_one_line(args: list[str], fragment: str) -> None:
    out = cli(*args)
    assert out.returncode == 2, out.stdout + out.stderr
    assert fragment in out.stderr
    assert "Traceback" not in out.stderr


def test_fetch_of_a_closed_port_exits_2() -> None:
    with closed_port() as port:
        out = cli("fetch", f"https://127.0.0.1:{port}")
    assert out.returncode == 2 and "connection_refused" in out.stderr


def test_demo_runs_the_whole_story(tmp_path: Path) -> None:
    env = controlled_env(True) | {"SLY_NB_TLS_DIR": str(tmp_path / "u")}
    out = cli("demo", env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    for fragment in ("untrusted_root", "[8/8]", 'login "alice"', "Demo finished", "-e '.[widgets]' jupyterlab"):
        assert fragment in out.stdout
    assert "(40 chars, hidden)" in out.stdout


def test_demo_server_prints_url_and_paths() -> None:
    out = cli("demo-server", "--seconds", "0.5")
    assert out.returncode == 0
    assert "https://127.0.0.1:" in out.stdout and "root.pem" in out.stdout and "chain.pem" in out.stdout
    assert not os.path.exists(out.stdout.split("root CA:")[1].split()[0])  # cleaned up on exit


@pytest.mark.parametrize("timeout", ["nan", "inf", "0", "-1", "3601", "soon"])
def test_an_unusable_timeout_is_refused_before_anything_is_read(timeout: str, tmp_path: Path) -> None:
    """The parser applies the API's own timeout rule, so the env file and the CA are never touched."""
    env_file = tmp_path / "local.env"
    env_file.write_text("SERVER_ADDRESS=https://127.0.0.1:9\n")
    out = cli("test", "--env", str(env_file), "--ca", str(tmp_path / "missing.crt"), "--timeout", timeout,
              cwd=tmp_path)  # fmt: skip
    assert out.returncode == 2
    assert "argument --timeout: timeout must be" in out.stderr
    assert out.stdout == "" and "missing.crt" not in out.stderr and "Traceback" not in out.stderr
