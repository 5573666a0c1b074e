"""%sly_tls in a real IPython InteractiveShell: results, UsageErrors, help, unload."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from IPython.core.interactiveshell import InteractiveShell

import sly_nb_tls
from sly_nb_tls.demo import issue
from sly_nb_tls.trust.results import AddResult, RemoveResult, ResetResult, TrustStatus


@pytest.fixture
def ip() -> Iterator[InteractiveShell]:
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "sly_nb_tls")
    yield shell
    shell.run_line_magic("unload_ext", "sly_nb_tls")


@pytest.fixture
def root_pem(tmp_path: Path) -> Path:
    p = tmp_path / "root.pem"
    p.write_text(issue("Magic Root CA", ca=True).pem)
    return p


def run(ip: InteractiveShell, code: str, capsys: pytest.CaptureFixture[str]) -> tuple[object, str]:
    result = ip.run_cell(code)
    out = capsys.readouterr()
    return result, out.out + out.err


def test_add_status_remove_reset_return_result_objects(ip: InteractiveShell, root_pem: Path) -> None:
    added = ip.run_line_magic("sly_tls", f"add {root_pem}")
    assert isinstance(added, AddResult) and added.added[0].common_name == "Magic Root CA"
    status = ip.run_line_magic("sly_tls", "status")
    assert isinstance(status, TrustStatus) and status.active
    assert isinstance(ip.run_line_magic("sly_tls", ""), TrustStatus)  # bare %sly_tls is status
    removed = ip.run_line_magic("sly_tls", f"remove {added.added[0].sha256[:12]}")
    assert isinstance(removed, RemoveResult) and removed.reset is not None
    ip.run_line_magic("sly_tls", f"add --no-live {root_pem}")
    assert isinstance(ip.run_line_magic("sly_tls", "reset"), ResetResult)
    assert not sly_nb_tls.status().active


def test_assignment_form_and_cell_magic(ip: InteractiveShell, capsys: pytest.CaptureFixture[str]) -> None:
    pem = issue("Cell Magic CA", ca=True).pem
    result, _ = run(ip, "%%sly_tls add\n" + pem, capsys)
    assert result.success  # type: ignore[attr-defined]
    assert isinstance(result.result, AddResult)  # type: ignore[attr-defined]
    result, _ = run(ip, "r = %sly_tls status", capsys)
    assert result.success  # type: ignore[attr-defined]
    assert ip.user_ns["r"].certificates[0].common_name == "Cell Magic CA"


def test_paths_with_variables_and_relative_to_cwd(
    ip: InteractiveShell, root_pem: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(root_pem.parent)
    assert ip.run_line_magic("sly_tls", "add root.pem").added
    ip.run_line_magic("sly_tls", "reset")
    monkeypatch.setenv("SLY_TEST_CERTS", str(root_pem.parent))
    assert ip.run_line_magic("sly_tls", "add $SLY_TEST_CERTS/root.pem").added


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        ("add /nonexistent/ca.crt", "no such file"),
        ("add", "needs a PATH"),
        ("frobnicate", "invalid choice"),
        ("add --bogus x.crt", "unrecognized arguments"),
        ("remove", "required"),
        ("remove 12", "at least 8 hex digits"),
        ("add https://sly.example.com", "this is a URL"),
        ("status extra", "unrecognized arguments"),
        ("test --json", "unrecognized arguments: --json"),  # the command line's: a kernel gets the object
        ("install --scope everyone", "invalid choice: 'everyone'"),
        ("demo", "invalid choice"),  # the command line's: it would reset this kernel's trust
    ],
)
def test_bad_usage_is_a_one_line_usage_error_without_traceback(
    ip: InteractiveShell, capsys: pytest.CaptureFixture[str], line: str, fragment: str
) -> None:
    before = dict(os.environ)
    result, output = run(ip, f"%sly_tls {line}", capsys)
    assert type(result.error_in_exec).__name__ == "UsageError", output  # type: ignore[attr-defined]
    assert fragment in output
    assert "Traceback" not in output
    assert dict(os.environ) == before


def test_cell_body_only_for_add(ip: InteractiveShell, capsys: pytest.CaptureFixture[str]) -> None:
    _result, output = run(ip, "%%sly_tls status\nsomething", capsys)
    assert "only %%sly_tls add" in output and "Traceback" not in output
    _result, output = run(ip, "%%sly_tls add\n   \n", capsys)
    assert "cell is empty" in output


def test_help_lists_every_subcommand(ip: InteractiveShell) -> None:
    doc = ip.find_line_magic("sly_tls").__doc__
    for sub in ("add", "remove", "status", "reset", "--no-live", "FINGERPRINT-PREFIX|PATH"):
        assert sub in doc
    subcommands = doc.split("Subcommands:", 1)[1]
    for name in ("add", "remove", "status", "reset", "env", "test", "fetch", "panel"):
        assert f"\n  %sly_tls {name}" in subcommands, name
    assert "::" not in subcommands and "%%sly_tls remove" not in subcommands
    assert "--timeout S: bound for the whole test" in subcommands


def test_unload_resets(root_pem: Path) -> None:
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "sly_nb_tls")
    shell.run_line_magic("sly_tls", f"add {root_pem}")
    assert "SSL_CERT_FILE" in os.environ
    shell.run_line_magic("unload_ext", "sly_nb_tls")
    assert "SSL_CERT_FILE" not in os.environ
    assert not sly_nb_tls.status().active


def test_load_ext_imports_nothing_heavy() -> None:
    code = (
        "import sys\n"
        "from IPython.core.interactiveshell import InteractiveShell\n"
        "ip = InteractiveShell.instance()\n"
        "before = set(sys.modules)\n"
        "ip.run_line_magic('load_ext', 'sly_nb_tls')\n"
        "heavy = {'cryptography', 'requests', 'ipywidgets', 'httpx', 'aiohttp', 'sly_nb_tls.trust.extras'}\n"
        "print(sorted(m for m in set(sys.modules) - before if m.split('.')[0] in heavy or m in heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_html_escapes_certificate_strings(tmp_path: Path) -> None:
    hostile = issue("<script>alert(1)</script>\u202eevil", ca=True, organization='"><img src=x onerror=alert(2)>')
    result = sly_nb_tls.add_certs(hostile.pem)
    html = result._repr_html_() + result.added[0]._repr_html_() + sly_nb_tls.status()._repr_html_()
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "\u202e" not in html and "&lt;U+202E&gt;" in html
    assert "\u202e" not in str(result) and "<U+202E>" in str(result)


def test_ipython_shows_every_result_type_by_its_text_form(tmp_path: Path) -> None:
    from sly_nb_tls.demo import DemoServer

    shell = InteractiveShell.instance()
    (tmp_path / "x.env").write_text("SLY_TEST_X=1\n")
    with DemoServer() as server:
        added = sly_nb_tls.add_certs(server.root_path)
        results = [
            added,
            added.added[0],
            sly_nb_tls.status(),
            sly_nb_tls.load_env(str(tmp_path / "x.env")),
            sly_nb_tls.test_connection(server.url),
            sly_nb_tls.fetch_chain(server.url),
            sly_nb_tls.remove(added.added[0].sha256),
            sly_nb_tls.reset(),
        ]
    for result in results:
        data, _ = shell.display_formatter.format(result)
        assert data["text/plain"] == str(result), type(result).__name__
        assert data["text/html"] == result._repr_html_(), type(result).__name__


def test_quoted_paths_with_spaces(ip: InteractiveShell, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "my certs"
    folder.mkdir()
    (folder / "corp root.pem").write_text(issue("Spaced CA", ca=True).pem)
    added = ip.run_line_magic("sly_tls", f'add "{folder}/corp root.pem"')
    assert added.added[0].common_name == "Spaced CA"
    result, output = run(ip, f"%sly_tls add '{folder}/unbalanced.pem", capsys)
    assert type(result.error_in_exec).__name__ == "UsageError" and "quotation" in output  # type: ignore[attr-defined]


@pytest.mark.parametrize(("after", "shown"), [(0.0, True), (3600.0, False)], ids=["slow", "fast"])
def test_progress_line_only_when_the_work_outlasts_its_delay(
    ip: InteractiveShell, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, after: float, shown: bool
) -> None:
    """The delay is set, not raced against: 0 s means every run is "slow", an hour means none is."""
    from sly_nb_tls.ui import magic as _magic

    from .servers import closed_port

    monkeypatch.setattr(_magic, "PROGRESS_AFTER", after)
    with closed_port() as port:
        result, output = run(ip, f"%sly_tls test https://127.0.0.1:{port}", capsys)
    assert result.result.problem == "connection_refused"  # type: ignore[attr-defined]
    assert ("⋯ testing https://127.0.0.1" in output) is shown, output
    assert ("done in" in output) is shown, output
