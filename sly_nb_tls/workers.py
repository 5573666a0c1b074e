"""Carry what the notebook trusts to Dask and Ray workers and Spark executors, on this machine or others.

In [1]: import sly_nb_tls, sly_nb_tls.workers
In [2]: sly_nb_tls.add_certs("corp-chain.crt")
In [3]: client.register_plugin(sly_nb_tls.workers.dask_plugin())          # every worker, now and later
In [4]: ray.init(runtime_env=sly_nb_tls.workers.ray_runtime_env())        # every Ray worker process
In [5]: SparkSession.builder.config(map=sly_nb_tls.workers.spark_conf())    # Spark's executors

Dask and Ray carry the certificates' PEM text, never a path (a file on the notebook's
host means nothing on another machine); each worker applies it with
`sly_nb_tls.add_certs`, and the Dask plugin's teardown is the exact inverse.
The workers need sly_nb_tls installed.  Spark's executors are JVMs: they get the
truststore file itself, through ``spark.files``, and need nothing installed.
Importing this module imports none of `distributed`, `ray` and `pyspark`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._pem import Source

if TYPE_CHECKING:
    from .integrations.dask import SlyTlsWorkerPlugin

__all__ = ["dask_plugin", "ray_runtime_env", "spark_conf"]


def dask_plugin(*sources: Source) -> SlyTlsWorkerPlugin:
    """A `distributed` WorkerPlugin that trusts `sources` (default: every certificate trusted here)."""
    from .integrations.dask import dask_plugin as plugin

    return plugin(*sources)


def ray_runtime_env(*sources: Source, base: dict[str, Any] | None = None) -> dict[str, Any]:
    """A Ray ``runtime_env`` (merged into `base`) whose workers trust `sources` (default: every one trusted here)."""
    from .integrations.ray import ray_runtime_env as runtime_env

    return runtime_env(*sources, base=base)


def spark_conf(base: dict[str, str] | None = None) -> dict[str, str]:
    """Spark conf (merged into `base`) whose executors trust what this process's JVMs trust: the JVM
    truststore `add` wrote, shipped through ``spark.files`` and named by executor options."""
    from .integrations.spark import spark_conf as conf

    return conf(base)
