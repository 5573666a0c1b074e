"""PySpark: a driver JVM started after `add` trusts the extras; one started before is given them live.

Each case is a child Python with a real local SparkSession (its driver JVM through py4j) fetching
from the demo server on 127.0.0.1: a driver JVM lives as long as its Python, so each needs its own.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from sly_nb_tls.demo import DemoServer

from .helpers import controlled_env, has_tool

ROOT = Path(__file__).resolve().parents[1]

pytest.importorskip("pyspark")
pytestmark = [pytest.mark.slow, pytest.mark.skipif(not has_tool("java"), reason="no Java here")]

_CHILD = textwrap.dedent(
    """
    import os, sys
    import sly_nb_tls, sly_nb_tls.demo
    from pyspark.sql import SparkSession

    url, root, order = sys.argv[1:]

    def session():
        return (SparkSession.builder.master("local[1]").appName("sly-nb-tls-test")
                .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
                .config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1")
                .getOrCreate())

    def fetch(spark):
        jvm = spark.sparkContext._jvm  # the driver JVM, through py4j: a JVM-side HTTPS request
        try:
            return "ok" if jvm.java.net.URL(url).openConnection().getResponseCode() > 0 else "?"  # an HTTP answer
        except Exception as exc:
            return "cert-fail" if "PKIX path building failed" in str(exc) else "?" + str(exc)[:300]

    def row():
        rows = sly_nb_tls.status(clients=True).clients
        return next((r.row()[2] for r in rows if r.client.startswith("pyspark")), "none")

    if order == "session-after-add":
        sly_nb_tls.add_certs(root)
        spark = session()
        print("ADDED", fetch(spark), flush=True)
        print("ROW", row(), flush=True)
    else:  # a driver JVM running before add, its session stopped: getOrCreate reuses that JVM
        spark = session()
        print("BEFORE", fetch(spark), flush=True)
        spark.stop()
        spark = session()
        print("ROW-BEFORE", row(), flush=True)
        result = sly_nb_tls.add_certs(root)
        print("UPDATED", [u for u in result.live_updated if "JVM" in u], flush=True)
        print("ADDED", fetch(spark), flush=True)
        print("ROW", row(), flush=True)
    other = sly_nb_tls.demo.issue("Another Root CA", ca=True).pem
    sly_nb_tls.add_certs(other)
    print("OTHER", fetch(spark), flush=True)
    sly_nb_tls.remove(root)  # another extra stays: the driver must lose this one, keep that one
    print("REMOVED", fetch(spark), flush=True)
    sly_nb_tls.add_certs(root)
    print("AGAIN", fetch(spark), flush=True)
    sly_nb_tls.reset()
    print("RESET", fetch(spark), flush=True)
    print("ROW-RESET", row(), flush=True)
    spark.stop()
    """
)


# A driver JVM starts in ~5 s: each order runs once, in one of the two CA modes each (a JVM reads
# none of the Python CA variables; the modes matter to the rest of the child's add).
@pytest.mark.parametrize(("order", "preset"), [("session-after-add", False), ("session-before-add", True)],
                         ids=["ca-vars-unset-session-after-add", "ca-vars-preset-session-before-add"])  # fmt: skip
def test_the_driver_jvm_reaches_the_demo_server_after_add_and_not_after_reset(
    demo_server: DemoServer, tmp_path: Path, order: str, preset: bool
) -> None:
    env = controlled_env(preset) | {
        "SLY_NB_TLS_DIR": str(tmp_path / "u"),
        "PYTHONPATH": str(ROOT),
        "SPARK_LOCAL_IP": "127.0.0.1",  # Spark would pick the host's own address, off loopback
        "JAVA_TOOL_OPTIONS": "-XX:TieredStopAtLevel=1",  # the user's own options, kept (a faster start, too)
    }
    url = demo_server.url + "/public/api/v3/instance.version"
    done = subprocess.run([sys.executable, "-c", _CHILD, url, demo_server.root_path, order], env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    out = dict(line.split(" ", 1) for line in done.stdout.splitlines() if " " in line)
    assert done.returncode == 0 and "RESET" in out, done.stdout + done.stderr[-3000:]
    if order == "session-before-add":
        assert out["BEFORE"] == "cert-fail"
        assert out["ROW-BEFORE"] == "✗ no: nothing added", out
        assert out["UPDATED"] == '["PySpark\'s driver JVM: its default SSL context (new connections)"]', out
    assert (out["ADDED"], out["OTHER"], out["REMOVED"], out["AGAIN"]) == ("ok", "ok", "cert-fail", "ok"), out
    assert out["ROW"].startswith("✓"), out
    assert out["RESET"] == "cert-fail", out
    assert out["ROW-RESET"].startswith("✗"), out
    assert os.path.isdir(tmp_path / "u")
