"""A newcomer's first minutes: clone the repository, run the README's two commands as written.

Both must succeed on a machine that has Python and pip (plus what .ci/run installs).
The inner test run sets SLY_NB_TLS_FRESH_CLONE and SLY_NB_TLS_NESTED so it does
not clone again or start nox.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]
ROOT = Path(__file__).resolve().parents[1]


def _readme_commands() -> list[str]:
    return re.findall(r"```(?:bash|sh)\n(.*?)\n```", (ROOT / "README.md").read_text(), re.S)[:2]


@pytest.mark.skipif(bool(os.environ.get("SLY_NB_TLS_FRESH_CLONE")), reason="this is the fresh clone's own run")
@pytest.mark.skipif(bool(os.environ.get("SLY_NB_TLS_NESTED")), reason="inside a nested run (nox or a fresh clone)")
@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_readme_commands_work_on_a_fresh_clone(tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTEST_ADDOPTS", "VIRTUAL_ENV", "PYTHONPATH")}
    env |= {"SLY_NB_TLS_FRESH_CLONE": "1", "SLY_NB_TLS_NESTED": "1"}
    # The command runs as written; inside it only the files that check the clone itself run
    # (the package, the README's contract, the CLI and the demo): this very run is the rest,
    # and CI runs the whole command on a fresh clone.
    env["PYTEST_ADDOPTS"] = "-m 'not slow' tests/test_package.py tests/test_demo.py tests/test_cli.py"
    demo, tests = _readme_commands()
    for name, command in (("demo", demo), ("tests", tests)):
        out = subprocess.run(["bash", "-c", command], cwd=clone, env=env, capture_output=True, text=True, timeout=3000)
        tail = "\n".join(out.stdout.splitlines()[-30:])  # pip's warnings go to stderr
        print(f"--- {name}: {command}\n{tail}")
        assert out.returncode == 0, f"{name} failed:\n{tail}\n{out.stderr[-3000:]}"
        if name == "demo":
            assert "Demo finished: untrusted_root → fetch → add → ok → reset." in out.stdout
        else:
            summary = out.stdout.strip().splitlines()[-1]
            assert re.search(r"\d+ passed", summary) and " failed" not in summary, summary
