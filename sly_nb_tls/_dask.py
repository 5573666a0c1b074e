"""Dask workers trust what the notebook trusts: a `distributed` worker plugin.

In [1]: client = Client(cluster)                        # workers started before or after %sly_tls add
In [2]: client.register_plugin(sly_nb_tls.dask_plugin())  # every worker, and those that join later
In [3]: client.unregister_worker_plugin("sly_nb_tls")     # each worker resets

The plugin carries the certificates' PEM text, never a path: a bundle on the
notebook's host means nothing on a worker on another machine.  Each worker
applies it with `add_certs` (its own per-variable bundles, hooks, variables)
at setup and undoes it with `reset` at teardown.  The workers need sly_nb_tls
installed, as they need every other package the tasks use.  This module
imports `distributed`; nothing imports it unless `dask_plugin` is called.
"""

from __future__ import annotations

from typing import Any

from distributed.diagnostics.plugin import WorkerPlugin

from ._pem import Source

__all__ = ["PLUGIN_NAME", "SlyTlsWorkerPlugin", "dask_plugin"]

PLUGIN_NAME = "sly_nb_tls"


class SlyTlsWorkerPlugin(WorkerPlugin):  # type: ignore[misc]
    """Trusts the shipped PEM text on a worker at setup; `reset` at teardown."""

    name = PLUGIN_NAME

    def __init__(self, pem: str) -> None:
        self.pem = pem

    def setup(self, worker: Any) -> None:
        from ._trust import add_certs

        add_certs(self.pem)

    def teardown(self, worker: Any) -> None:
        from ._trust import reset

        reset()


def dask_plugin(*sources: Source) -> SlyTlsWorkerPlugin:
    """A worker plugin that trusts `sources` (default: what this process trusts now) on every worker."""
    from ._trust import shipped_pem

    return SlyTlsWorkerPlugin(shipped_pem(*sources))
