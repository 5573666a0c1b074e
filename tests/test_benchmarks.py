"""The benchmark harness runs end to end, reports every figure, and meets every target.

It runs `alone` (see conftest): a ratio measured while another worker loads
the machine is noise, not a verdict.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from .helpers import controlled_env

pytestmark = [pytest.mark.slow, pytest.mark.alone, pytest.mark.timeout(1800)]
ROOT = Path(__file__).resolve().parents[1]
#: Every figure of the quick run (kernel start and the 1M-object heap: the full run only, see benchmarks/run.py).
FIGURES = [
    "%load_ext sly_nb_tls", "%sly_tls add of a 3", "add of 1,000", "ssl.create_default_context", "warm requests.post",
    "live-context update", "%sly_tls test", "through a CONNECT proxy", "chain completion", "AIA round trips",
    "time to report untrusted_root", "RSS growth",
]  # fmt: skip


@pytest.mark.skipif(bool(os.environ.get("SLY_NB_TLS_NESTED")), reason="inside a nested run")
def test_quick_benchmark_run_reports_every_figure_and_meets_every_target(tmp_path: Path) -> None:
    out_file = tmp_path / "results.md"
    env = controlled_env(False) | {"SLY_NB_TLS_DIR": str(tmp_path / "u")}
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--quick", "--output", str(out_file)],
        capture_output=True, text=True, env=env, timeout=850,
    )  # fmt: skip
    report = out_file.read_text()
    assert out.returncode == 0, "a benchmark target was missed:\n" + out.stdout[-3000:] + out.stderr[-3000:]
    assert "**no**" not in report
    assert "Measured" in report and "quick run" in report
    for figure in FIGURES:
        assert figure in report, figure
