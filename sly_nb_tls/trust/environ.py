"""The CA variables: who reads each one, what it trusted before, and restoring only ours.

Children inherit os.environ, so these variables are what carries the extras
into curl, git, node, child Pythons and the SDK's ``import supervisely``.

Each variable *replaces* its readers' trust (except the additive ones), so
each gets its own bundle: what its readers trusted before (`base`) plus the
extras, never another client's roots.  `bases.collect_bases` finds the bases.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from ..clients import families, variables
from ..clients.base import CaVariable

__all__ = [
    "CA_VARIABLES",
    "EXTRAS_VARIABLE",
    "MANAGED_VARIABLES",
    "PROXY_VARIABLES",
    "VARIABLES_READ",
    "WGET_VARIABLE",
    "CaVariables",
    "EnvVarState",
    "inherited_from_server",
]


#: Every variable `add` may point at a bundle, each declared by the client family that reads it.
#: A variable whose base cannot be found here (gRPC not installed, no npm ``cafile``
#: configured, PIP_CERT unset: pip reads REQUESTS_CA_BUNDLE then) is left alone.
CA_VARIABLES: tuple[CaVariable, ...] = variables()
#: Read by the Supervisely SDK at ``import supervisely`` (in children, too).
EXTRAS_VARIABLE = "SLY_EXTRA_CA_CERTS"
#: The one variable that names a wget configuration file, not a PEM file.
WGET_VARIABLE = "WGETRC"
#: Every variable `add` may set and `reset` restores.
MANAGED_VARIABLES = tuple(v.name for v in CA_VARIABLES)
#: Where clients (and `test`) look for a proxy; read, never set.
PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy",
                   "NO_PROXY", "no_proxy")  # fmt: skip
#: Every variable that changes what sly_nb_tls or an HTTPS client does here: the suite,
#: the notebooks' kernel and the benchmarks set or clear each one explicitly.
VARIABLES_READ = (
    *MANAGED_VARIABLES,
    "SSL_CERT_DIR",
    "NPM_CONFIG_USERCONFIG",
    *(name for family in families() for name in family.also_reads),
    *PROXY_VARIABLES,
    "SERVER_ADDRESS",
    "API_TOKEN",
)


@dataclass
class EnvVarState:
    name: str
    original: str | None
    ours: str | None
    current: str | None
    #: what its readers trusted before `add` (the base of its bundle), as shown in `status`
    base: str = ""
    #: how many certificates its bundle holds beyond the base
    extras: int = 0
    #: the file its value names, when the value is more than a path (JAVA_TOOL_OPTIONS)
    file: str = ""

    @property
    def changed_by_other(self) -> bool:
        return self.ours is not None and self.current != self.ours


class CaVariables:
    """What the CA variables were before the first `add`, and what we set them to."""

    def __init__(self) -> None:
        self.original: dict[str, str | None] | None = None
        self.applied: dict[str, str] = {}

    def remember(self) -> dict[str, str | None]:
        """Record the values before the first change (unset included); later calls keep the first record."""
        if self.original is None:
            self.original = {v: os.environ.get(v) for v in MANAGED_VARIABLES}
        return self.original

    def rewritten_by_other(self) -> list[tuple[str, str]]:
        """(variable, new value) for each variable something else changed since we set it."""
        out = []
        for var, ours in self.applied.items():
            current = os.environ.get(var)
            if current and current != ours:
                out.append((var, current))
        return out

    def adopt(self, var: str, value: str | None) -> None:
        """Something else set `var` to `value` after `add`, and the next `add` takes it over:
        `value` is what `restore` puts back now, not what was there before the first `add`."""
        if self.original is not None:
            self.original[var] = value

    def release(self, var: str) -> None:
        """`var` is not ours any more: `restore` leaves it as it is."""
        self.applied.pop(var, None)

    def point_at(self, files: dict[str, str]) -> list[str]:
        """Point each variable in `files` at its file; returns the variables set."""
        self.remember()
        os.environ.update(files)
        self.applied = dict(files)
        return list(files)

    def restore(self) -> tuple[list[tuple[str, str | None]], list[tuple[str, str | None]]]:
        """Put back what each variable was, if it still holds our value: (restored, left)."""
        restored: list[tuple[str, str | None]] = []
        left: list[tuple[str, str | None]] = []
        original = self.original or {}
        for var, ours in self.applied.items():
            current = os.environ.get(var)
            if current != ours:
                left.append((var, current))
                continue
            before = original.get(var)
            if before is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = before
            restored.append((var, before))
        self.original, self.applied = None, {}
        return restored, left

    def states(
        self,
        bases: dict[str, str] | None = None,
        extras: dict[str, int] | None = None,
        files: dict[str, str] | None = None,
    ) -> list[EnvVarState]:
        original = self.original or {}
        bases, extras, files = bases or {}, extras or {}, files or {}
        return [
            EnvVarState(
                var,
                original.get(var),
                self.applied.get(var),
                os.environ.get(var),
                bases.get(var, ""),
                extras.get(var, 0),
                files.get(var, ""),
            )
            for var in MANAGED_VARIABLES
        ]


def inherited_from_server(original: Mapping[str, str | None] | None) -> list[tuple[str, int]]:
    """The CA variables that named a Jupyter server's bundles before this process changed them (now,
    if it has not): the server that started this kernel (``JPY_PARENT_PID``) applied trust at its start
    or since, and the kernel inherited its environment.  (variable, the server's pid) pairs."""
    from .files import written_by

    parent = os.environ.get("JPY_PARENT_PID", "")
    if not parent.isdigit():
        return []
    before = original if original is not None else {v: os.environ.get(v) for v in MANAGED_VARIABLES}
    return [(var, int(parent)) for var, value in before.items() if value and written_by(value) == int(parent)]
