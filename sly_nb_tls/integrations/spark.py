"""Spark executors trust what the notebook's JVMs trust: the truststore shipped through ``spark.files``."""

from __future__ import annotations

import os
from collections.abc import Mapping

from ..clients.java import VARIABLE, truststore_options
from ..errors import CertificateSourceError

__all__ = ["spark_conf"]


def spark_conf(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """Spark conf entries (merged into `base`) that give executors this process's JVM truststore.

    The file goes to each executor through ``spark.files`` (Spark copies it into the executor's
    working directory), and the executors' options name it there, by its bare name: never a path
    that exists only on this host.  The driver of a session made here reads JAVA_TOOL_OPTIONS
    already, so its options are left alone: a relative name there would point it at nothing, and
    a JVM that finds no truststore falls back to the JDK's roots without a word.  In cluster deploy
    mode the driver runs elsewhere too, and gets the same options.
    """
    from ..trust.extras import files_written_by_variable

    path = files_written_by_variable().get(VARIABLE)
    if not path:
        raise CertificateSourceError(
            "no JVM truststore to ship: add certificates first, on a machine where Java is installed"
        )
    conf = dict(base or {})
    conf["spark.files"] = ",".join(p for p in (conf.get("spark.files", ""), path) if p)
    roles = ["executor", *(["driver"] if conf.get("spark.submit.deployMode") == "cluster" else [])]
    for role in roles:
        key = f"spark.{role}.extraJavaOptions"
        conf[key] = " ".join(o for o in (conf.get(key, ""), *truststore_options(os.path.basename(path))) if o)
    return conf
