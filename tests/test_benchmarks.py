"""The benchmark harness runs end to end and reports every figure (timings are not judged here)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import controlled_env

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]
ROOT = Path(__file__).resolve().parents[1]
FIGURES = ["%load_ext sly_nb_tls", "%sly_tls add of a 3", "add of 1,000", "ssl.create_default_context",
           "warm requests.post", "live-context update", "%sly_tls test", "time to report untrusted_root",
           "RSS growth"]  # fmt: skip


@pytest.mark.skipif(bool(os.environ.get("SLY_NB_TLS_NESTED")), reason="inside a nested run")
def test_quick_benchmark_run_reports_every_figure(tmp_path: Path) -> None:
    out_file = tmp_path / "results.md"
    env = controlled_env(False) | {"SLY_NB_TLS_DIR": str(tmp_path / "u")}
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--quick", "--output", str(out_file)],
        capture_output=True, text=True, env=env, timeout=850,
    )  # fmt: skip
    # A missed target exits 1 on a busy machine; that is the benchmark's verdict, not this test's.
    assert out.returncode in (0, 1), out.stderr[-3000:]
    report = out_file.read_text()
    assert "Measured" in report and "quick run" in report
    for figure in FIGURES:
        assert figure in report, figure
