"""Carry what the notebook trusts to Dask and Ray workers, on this machine or others.

In [1]: import sly_nb_tls, sly_nb_tls.workers
In [2]: sly_nb_tls.add_certs("corp-chain.crt")
In [3]: client.register_plugin(sly_nb_tls.workers.dask_plugin())          # every worker, now and later
In [4]: ray.init(runtime_env=sly_nb_tls.workers.ray_runtime_env())        # every Ray worker process

Both carry the certificates' PEM text, never a path (a file on the notebook's
host means nothing on another machine); each worker applies it with
`sly_nb_tls.add_certs`, and the Dask plugin's teardown is the exact inverse.
The workers need sly_nb_tls installed.  Importing this module imports neither
`distributed` nor `ray`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._pem import Source

if TYPE_CHECKING:
    from .integrations.dask import SlyTlsWorkerPlugin

__all__ = ["dask_plugin", "ray_runtime_env"]


def dask_plugin(*sources: Source) -> SlyTlsWorkerPlugin:
    """A `distributed` WorkerPlugin that trusts `sources` (default: every certificate trusted here)."""
    from .integrations.dask import dask_plugin as plugin

    return plugin(*sources)


def ray_runtime_env(*sources: Source, base: dict[str, Any] | None = None) -> dict[str, Any]:
    """A Ray ``runtime_env`` (merged into `base`) whose workers trust `sources` (default: every one trusted here)."""
    from .integrations.ray import ray_runtime_env as runtime_env

    return runtime_env(*sources, base=base)
