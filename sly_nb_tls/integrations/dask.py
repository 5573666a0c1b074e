"""Dask workers trust what the notebook trusts: a `distributed` worker plugin.

The plugin carries the certificates' PEM text, never a path: a bundle on the
notebook's host means nothing on a worker on another machine.  Each worker
applies it with `add_certs` (its own per-variable bundles, hooks, variables)
at setup, and teardown is the exact inverse in that process: it removes only
the certificates the plugin's setups newly added there, once no setup in the
process still holds them.  An in-process worker (``LocalCluster(processes=False)``)
shares the kernel's process, so what the kernel trusted before stays trusted.
The workers need sly_nb_tls installed, as they need every other package the
tasks use.  This module imports `distributed`; nothing imports it unless
`dask_plugin` is called.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from distributed.diagnostics.plugin import WorkerPlugin

from .._pem import Source

__all__ = ["PLUGIN_NAME", "SlyTlsWorkerPlugin", "dask_plugin"]

PLUGIN_NAME = "sly_nb_tls"


class _Holds:
    """In one process: which fingerprints the plugin's setups added, and how many setups hold each."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        #: fingerprint -> number of live setups that hold it (only ones a setup here newly added)
        self.counts: dict[str, int] = {}
        #: (plugin, worker) -> the fingerprints that setup holds: one plugin object may serve several
        #: in-process workers (``LocalCluster(plugins=...)``); a worker tears a plugin down before
        #: setting up another of the same name, so a key is never set up twice without teardown
        self.setups: dict[tuple[int, int], list[str]] = {}


_LOCK = threading.Lock()
_HOLDS = _Holds()


def _holds() -> _Holds:
    """This process's holds; call with `_LOCK` held."""
    global _HOLDS
    # A forked worker starts with a copy of the parent's trust, which is the parent's to
    # undo, not its own: the parent's counts would make its teardown remove inherited trust.
    if _HOLDS.pid != os.getpid():
        _HOLDS = _Holds()
    return _HOLDS


def _after_fork_in_child() -> None:
    # A thread of the parent may have held the lock at fork; it does not exist here.
    global _LOCK
    _LOCK = threading.Lock()


os.register_at_fork(after_in_child=_after_fork_in_child)


class SlyTlsWorkerPlugin(WorkerPlugin):  # type: ignore[misc]
    """Trusts the shipped PEM text on a worker at setup; teardown removes only what setup added."""

    name = PLUGIN_NAME

    def __init__(self, pem: str) -> None:
        self.pem = pem

    def setup(self, worker: Any) -> None:
        from ..trust.extras import add_certs

        with _LOCK:
            holds = _holds()
            result = add_certs(self.pem)
            # An earlier setup in this process may have added some already: this one holds them too,
            # or that setup's teardown would take them from this worker.  What the process trusted
            # before any setup (the kernel's own, in-process) is never held, so never removed.
            held = [c.sha256 for c in result.added]
            held += [c.sha256 for c in result.already_trusted if c.sha256 in holds.counts]
            for sha in held:
                holds.counts[sha] = holds.counts.get(sha, 0) + 1
            holds.setups[(id(self), id(worker))] = held

    def teardown(self, worker: Any) -> None:
        from ..errors import UnknownCertificateError
        from ..trust.extras import remove

        with _LOCK:
            holds = _holds()
            for sha in holds.setups.pop((id(self), id(worker)), []):
                holds.counts[sha] -= 1
                if holds.counts[sha] > 0:
                    continue
                del holds.counts[sha]
                try:
                    remove(sha)
                except UnknownCertificateError:
                    pass  # someone removed it (or reset) since: nothing left to undo


def dask_plugin(*sources: Source) -> SlyTlsWorkerPlugin:
    """A worker plugin that trusts `sources` (default: what this process trusts now) on every worker."""
    from ..trust.shipping import shipped_pem

    return SlyTlsWorkerPlugin(shipped_pem(*sources))
