"""PySpark: its driver JVM reads JAVA_TOOL_OPTIONS when it starts, and outlives ``spark.stop()``.

A session made after `add` starts its driver JVM with the truststore (see `java`).  A driver
JVM already running, even one whose session was stopped (a later ``getOrCreate`` reuses it),
fixed its trust when it started: `add` gives it a default SSL context of its own roots plus the
extras through py4j, and `reset` puts its own back.  Executors on other hosts need the truststore
shipped: ``sly_nb_tls.workers.spark_conf()``.
"""

from __future__ import annotations

import os
import sys

from .base import ClientTrust, Family, RunningJvm, TrustView
from .java import VARIABLE

__all__ = ["FAMILY"]

_DRIVER = "PySpark's driver JVM"
#: py4j's view of the driver JVM: a class attribute, set when the gateway starts and kept after stop()
_GATEWAY_JVM = RunningJvm(_DRIVER, "pyspark", "SparkContext", "_jvm", VARIABLE)


def _rows(view: TrustView) -> list[ClientTrust]:
    if "pyspark" not in sys.modules:
        return []  # no session can run without it
    if _DRIVER in view.jvms:
        if view.jvms[_DRIVER]:
            return [ClientTrust("pyspark driver", "the truststore", True,
                                "new connections; a JVM-side client made before add keeps its trust")]  # fmt: skip
        why = "nothing added" if not view.ours else "it started before add: add again, or restart the kernel"
        return [ClientTrust("pyspark driver", "the trust its JVM started with", False, why)]
    if os.environ.get(VARIABLE) in view.ours:
        return [ClientTrust("pyspark", f"no driver JVM yet; a session made now reads {VARIABLE}", True)]
    why = "nothing added" if not view.ours else f"{VARIABLE} names no truststore (see the java row)"
    return [ClientTrust("pyspark", "no driver JVM yet", False, why)]


FAMILY = Family(name="pyspark", order=71, rows=_rows, running_jvms=(_GATEWAY_JVM,))
