"""Ray workers trust what the notebook trusts: a ``runtime_env`` with a setup hook.

The runtime_env carries the certificates' PEM text in ``SLY_NB_TLS_CA_CERTS``
(never a path: the notebook's files are not on the workers' hosts), and its
``worker_process_setup_hook`` applies it with `add_certs` in each worker
process.  A runtime_env has one such hook, so a `base` runtime_env's own hook
runs from ours, after it.  Ray has no teardown hook: a worker's files go when
it exits, and a job started without this runtime_env trusts nothing extra.
The workers need sly_nb_tls installed.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from typing import Any

from .._pem import Source

__all__ = ["ChainedSetupHook", "ray_runtime_env", "ray_worker_setup"]

#: The rollout variable (see `trust.startup`): the same text a kernel would apply at start.
VARIABLE = "SLY_NB_TLS_CA_CERTS"
#: A base runtime_env's hook given as "module.func": an env var keeps the runtime_env plain
#: data (JSON for ``ray job submit``), which a callable would not.
BASE_HOOK_VARIABLE = "SLY_NB_TLS_RAY_BASE_HOOK"
HOOK = f"{__name__}.ray_worker_setup"


def ray_runtime_env(*sources: Source, base: dict[str, Any] | None = None) -> dict[str, Any]:
    """A ``runtime_env`` that trusts `sources` (default: what this process trusts now) in every worker.

    `base` is another runtime_env to extend; its ``env_vars`` are kept, and its own
    ``worker_process_setup_hook`` ("module.func" or a callable) runs after ours.
    """
    from ..trust.shipping import shipped_pem

    env = dict(base or {})
    env_vars = {**env.get("env_vars", {}), VARIABLE: shipped_pem(*sources)}
    theirs = env.get("worker_process_setup_hook")
    hook: str | ChainedSetupHook = HOOK
    if isinstance(theirs, ChainedSetupHook):
        hook = ChainedSetupHook(theirs.then)  # already chained to ours: once is enough
    elif isinstance(theirs, str):
        if theirs != HOOK:
            env_vars[BASE_HOOK_VARIABLE] = theirs
    elif callable(theirs):
        hook = ChainedSetupHook(theirs)
    elif theirs is not None:
        raise TypeError(f"worker_process_setup_hook must be a function or 'module.func', got {type(theirs)}")
    env["env_vars"] = env_vars
    env["worker_process_setup_hook"] = hook
    return env


def ray_worker_setup() -> None:
    """Run by Ray in each worker process: trust the PEM text the runtime_env shipped, then run the base's hook."""
    pem = os.environ.get(VARIABLE, "")
    if pem.strip():
        from ..trust.extras import add_certs

        add_certs(pem)
    theirs = os.environ.get(BASE_HOOK_VARIABLE, "").strip()
    if theirs:
        _load(theirs)()


def _load(path: str) -> Callable[[], object]:
    """The function "module.func" names, resolved as Ray resolves a string hook."""
    module, _, name = path.rpartition(".")
    if not module:
        raise ValueError(f"{BASE_HOOK_VARIABLE}={path!r}: expected 'module.func'")
    func: Callable[[], object] = getattr(importlib.import_module(module), name)
    return func


class ChainedSetupHook:
    """Ours, then a base runtime_env's callable hook.  Ray pickles it to the workers, which import
    this class from sly_nb_tls; the base's callable must be picklable, as Ray already requires."""

    def __init__(self, then: Callable[[], object]) -> None:
        self.then = then
        # Ray names the hook by __name__ in its messages and in the runtime_env it records.
        self.__name__ = f"ray_worker_setup+{getattr(then, '__name__', type(then).__name__)}"

    def __call__(self) -> None:
        ray_worker_setup()
        self.then()
