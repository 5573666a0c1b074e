"""install / uninstall per scope, --persist, SLY_NB_TLS_CA_CERTS: real kernels through jupyter_client.

A fresh kernel must trust the demo CA with zero cells after `install`, and not after
`uninstall`; a broken CA at start must never stop a kernel.  The system scope
(/etc/ipython) is not written here: every other kernel on the machine reads it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import sly_nb_tls
from sly_nb_tls import install, uninstall
from sly_nb_tls.demo import DemoServer, issue
from sly_nb_tls.errors import CertificateSourceError, StorageError
from sly_nb_tls.trust.install import scope_dir

from .helpers import controlled_env
from .kernels import run_in_fresh_kernel

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
PROBE = textwrap.dedent(
    """
    import requests
    try:
        print("STATUS", requests.get({url!r}, timeout=10).status_code)
    except requests.exceptions.SSLError as exc:
        print("STATUS cert-fail" if "CERTIFICATE_VERIFY_FAILED" in str(exc) else f"STATUS other {{exc}}")
    import sly_nb_tls
    print(sly_nb_tls.status())
    print("LOADED", "sly_nb_tls" in get_ipython().extension_manager.loaded)
    """
)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    e = controlled_env(False) | {
        "IPYTHONDIR": str(tmp_path / "ipython"),
        "SLY_NB_TLS_DIR": str(tmp_path / "userdir"),
        "SLY_TEST_TMP": str(tmp_path),
        "PYTHONPATH": str(ROOT),
    }
    os.environ["IPYTHONDIR"] = e["IPYTHONDIR"]  # install() in this process writes there too
    os.environ["SLY_NB_TLS_DIR"] = e["SLY_NB_TLS_DIR"]  # and prepares the start's files in the same cache
    return e


def _files(directory: Path) -> dict[str, bytes]:
    """Every file of a profile but IPython's own history and startup files, which kernels write."""
    return {
        str(p.relative_to(directory)): p.read_bytes()
        for p in sorted(directory.rglob("*"))
        if p.is_file() and not p.name.startswith("history.sqlite") and "startup" not in p.parts
    }


def test_user_scope_install_then_uninstall_in_real_kernels(env: dict[str, str], demo_server: DemoServer) -> None:
    probe = PROBE.format(url=demo_server.url + "/")
    assert "STATUS cert-fail" in run_in_fresh_kernel(probe, env)
    profile = scope_dir("user")
    profile.mkdir(parents=True, exist_ok=True)  # the first kernel may have made it
    (profile / "ipython_config.py").write_text('c.InteractiveShellApp.extensions.append("autoreload")\n# mine\n')
    before = _files(profile)
    result = install(demo_server.root_path, scope="user")
    assert "Installed" in str(result) and "sly_nb_tls Demo Root CA" in str(result)
    heavy = "('requests', 'ipywidgets', 'cryptography')"
    first = f"import sys; print('HEAVY', sorted(m for m in {heavy} if m in sys.modules))\n"
    out = run_in_fresh_kernel(first + probe + "\nprint('EXT', sorted(get_ipython().extension_manager.loaded))", env)
    assert "HEAVY []" in out, out  # the start path imports none of them (cryptography: parsed when shown)
    assert "STATUS 200" in out, out
    assert "at start: 1 new certificate(s) from install (scope user)" in out
    assert "autoreload'" in out and "'sly_nb_tls'" in out  # the user's own list survived
    uninstall(scope="user")
    assert _files(profile) == before, "uninstall left something behind, or took something of the user's"
    out = run_in_fresh_kernel(probe, env)
    assert "STATUS cert-fail" in out and "LOADED False" in out


def test_env_scope_in_a_temporary_venv(env: dict[str, str], demo_server: DemoServer, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    site = next((venv / "lib").glob("python3*/site-packages"))
    # The venv uses this environment's packages; its sys.prefix is its own.
    import sysconfig

    (site / "outer.pth").write_text(sysconfig.get_paths()["purelib"] + "\n" + str(ROOT) + "\n")
    cli = subprocess.run(
        [python, "-m", "sly_nb_tls", "install", demo_server.root_path, "--scope", "env"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert cli.returncode == 0, cli.stderr
    assert (venv / "etc" / "ipython" / "ipython_config.py").exists()
    probe = PROBE.format(url=demo_server.url + "/")
    assert "STATUS 200" in run_in_fresh_kernel(probe, env, python=python)
    assert "STATUS cert-fail" in run_in_fresh_kernel(probe, env)  # this environment's kernels: untouched
    subprocess.run([python, "-m", "sly_nb_tls", "uninstall", "--scope", "env"], env=env, check=True, timeout=120)
    assert not (venv / "etc" / "ipython" / "ipython_config.py").exists()
    assert "STATUS cert-fail" in run_in_fresh_kernel(probe, env, python=python)


@pytest.mark.parametrize("form", ["paths", "pem-text"])
def test_sly_nb_tls_ca_certs_rollout_and_a_broken_ca_never_stops_the_kernel(
    env: dict[str, str], demo_server: DemoServer, tmp_path: Path, form: str
) -> None:
    install(scope="user")  # loads the extension, trusts nothing by itself
    broken = tmp_path / "broken.pem"
    broken.write_text("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n")
    if form == "paths":
        value = os.pathsep.join([str(tmp_path / "missing.pem"), demo_server.root_path, str(broken)])
    else:
        value = Path(demo_server.root_path).read_text()
    out = run_in_fresh_kernel(PROBE.format(url=demo_server.url + "/"), env | {"SLY_NB_TLS_CA_CERTS": value})
    assert "STATUS 200" in out, out
    assert "new certificate(s) from SLY_NB_TLS_CA_CERTS" in out
    if form == "paths":
        assert "missing.pem" in out and "broken.pem" in out and "(skipped)" in out
    uninstall(scope="user")


def test_add_persist_is_add_now_plus_install_for_the_user(env: dict[str, str], demo_server: DemoServer) -> None:
    from IPython.core.interactiveshell import InteractiveShell

    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "sly_nb_tls")
    result = ip.run_line_magic("sly_tls", f"add {demo_server.root_path} --persist")
    assert result.installed is not None and "persisted" in str(result)
    assert any(scope_dir("user").joinpath("sly_nb_tls").glob("*.pem"))
    assert "STATUS 200" in run_in_fresh_kernel(PROBE.format(url=demo_server.url + "/"), env)
    with pytest.raises(Exception, match="persist the CA files themselves"):
        ip.run_line_magic("sly_tls", "add --system --persist")
    out = ip.run_line_magic("sly_tls", "uninstall")
    assert "Uninstalled" in str(out)
    ip.run_line_magic("unload_ext", "sly_nb_tls")


def test_install_refuses_bad_input_and_writes_nothing(env: dict[str, str], tmp_path: Path) -> None:
    garbage = tmp_path / "notes.txt"
    garbage.write_text("not a certificate")
    with pytest.raises(CertificateSourceError):
        install(issue("Fine CA", ca=True).pem, str(garbage))
    assert not scope_dir("user").exists()
    with pytest.raises(StorageError, match="unknown scope"):
        install(scope="galaxy")
    assert "nothing of sly_nb_tls was installed" in str(uninstall(scope="user"))
    assert scope_dir("system") == Path("/etc/ipython") or os.name == "nt"
    assert scope_dir("env") == Path(sys.prefix) / "etc" / "ipython"


def test_install_cli_bad_input_exits_2_with_one_line(env: dict[str, str], tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "sly_nb_tls", "install", str(tmp_path / "missing.pem")],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 2 and out.stderr.startswith("error: ") and "Traceback" not in out.stderr
    assert not Path(env["IPYTHONDIR"]).exists()
    assert sly_nb_tls.status().active is False


def test_a_damaged_store_file_is_skipped_at_start_and_the_rest_applied(
    env: dict[str, str], demo_server: DemoServer
) -> None:
    from sly_nb_tls.trust import startup as _startup

    install(demo_server.root_path, scope="user")
    store = scope_dir("user") / "sly_nb_tls"
    (store / "0000damaged.pem").write_text("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    (store / "0001empty.pem").write_text("nothing here")
    _startup.forget()
    records = _startup.apply_at_start()
    assert any(r.added == 1 for r in records), records
    problems = " ".join(r.problem for r in records)
    assert "0000damaged.pem" in problems and "0001empty.pem" in problems
    st = sly_nb_tls.status()
    assert st.certificates[0].common_name == "sly_nb_tls Demo Root CA"  # parsed when shown
    assert any("0000damaged.pem" in w and "(skipped)" in w for w in st.warnings)
    sly_nb_tls.remove(st.certificates[0])  # the object status gave back works as a remove target
    assert not sly_nb_tls.status().active
    _startup.forget()
    uninstall(scope="user")
