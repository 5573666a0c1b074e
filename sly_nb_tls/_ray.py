"""Ray workers trust what the notebook trusts: a ``runtime_env`` with a setup hook.

In [1]: ray.init(runtime_env=sly_nb_tls.ray_runtime_env())   # or per job / per task

The runtime_env carries the certificates' PEM text in ``SLY_NB_TLS_CA_CERTS``
(never a path: the notebook's files are not on the workers' hosts), and its
``worker_process_setup_hook`` applies it with `add_certs` in each worker
process.  Ray has no teardown hook: a worker's files go when it exits, and a
job started without this runtime_env trusts nothing extra.  The workers need
sly_nb_tls installed.
"""

from __future__ import annotations

import os
from typing import Any

from ._pem import Source

__all__ = ["ray_runtime_env", "ray_worker_setup"]

#: The rollout variable (see `_startup`): the same text a kernel would apply at start.
VARIABLE = "SLY_NB_TLS_CA_CERTS"


def ray_runtime_env(*sources: Source, base: dict[str, Any] | None = None) -> dict[str, Any]:
    """A ``runtime_env`` that trusts `sources` (default: what this process trusts now) in every worker.

    `base` is another runtime_env to extend; its ``env_vars`` are kept.
    """
    from ._trust import shipped_pem

    env = dict(base or {})
    env["env_vars"] = {**env.get("env_vars", {}), VARIABLE: shipped_pem(*sources)}
    env["worker_process_setup_hook"] = f"{__name__}.ray_worker_setup"
    return env


def ray_worker_setup() -> None:
    """Run by Ray in each worker process: trust the PEM text the runtime_env shipped."""
    pem = os.environ.get(VARIABLE, "")
    if pem.strip():
        from ._trust import add_certs

        add_certs(pem)
