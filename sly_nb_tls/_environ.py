"""The CA variables: which ones `add` sets, what they were before, and restoring only ours.

In [1]: from sly_nb_tls._environ import CaVariables
In [2]: env = CaVariables(); env.remember()
In [3]: env.point_at("/…/bundle-42-ab.pem", "/…/extra-42-ab.pem")
['REQUESTS_CA_BUNDLE', 'SSL_CERT_FILE', 'CURL_CA_BUNDLE', 'SLY_EXTRA_CA_CERTS']
In [4]: env.restore()                 # (restored, left): a variable someone else rewrote is left
([('REQUESTS_CA_BUNDLE', None), …], [])

Children inherit os.environ, so these variables are what carries the extras
into curl, child Pythons and the SDK's ``import supervisely``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

__all__ = [
    "ALWAYS_SET",
    "EXTRAS_VARIABLE",
    "MANAGED_VARIABLES",
    "PROXY_VARIABLES",
    "SET_IF_PRESET",
    "VARIABLES_READ",
    "CaVariables",
    "EnvVarState",
]

#: Variables that replace trust for Python, curl and OpenSSL clients: always
#: pointed at the merged bundle.
ALWAYS_SET = ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "CURL_CA_BUNDLE")
#: Variables of other tools (git, pip, node, AWS, httplib2, gRPC).  Pointed at
#: the merged bundle only if already set: then they name a file that would hide
#: the extras; the merged bundle contains that file, so nothing is lost.  Unset,
#: those tools keep their own defaults and we stay out of their way.
SET_IF_PRESET = (
    "GIT_SSL_CAINFO",
    "PIP_CERT",
    "NODE_EXTRA_CA_CERTS",
    "AWS_CA_BUNDLE",
    "HTTPLIB2_CA_CERTS",
    "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH",
)
#: Read by the Supervisely SDK at ``import supervisely`` (in children, too).
EXTRAS_VARIABLE = "SLY_EXTRA_CA_CERTS"
#: Every variable `add` may set and `reset` restores.
MANAGED_VARIABLES = ALWAYS_SET + SET_IF_PRESET + (EXTRAS_VARIABLE,)
#: Where clients (and `test`) look for a proxy; read, never set.
PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy",
                   "NO_PROXY", "no_proxy")  # fmt: skip
#: Every variable that changes what sly_nb_tls or an HTTPS client does here: the suite,
#: the notebooks' kernel and the benchmarks set or clear each one explicitly.
VARIABLES_READ = (*MANAGED_VARIABLES, "SSL_CERT_DIR", *PROXY_VARIABLES, "SERVER_ADDRESS", "API_TOKEN")


@dataclass
class EnvVarState:
    name: str
    original: str | None
    ours: str | None
    current: str | None

    @property
    def changed_by_other(self) -> bool:
        return self.ours is not None and self.current != self.ours

    def describe(self) -> str:
        if self.ours is None:
            return "untouched"
        if self.changed_by_other:
            return f"changed by something else after add (now {self.current})"
        was = self.original if self.original is not None else "unset"
        return f"ours (was {was})"


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

    def point_at(self, merged: str, extras: str) -> list[str]:
        original = self.remember()
        applied = {var: merged for var in ALWAYS_SET}
        applied.update({var: merged for var in SET_IF_PRESET if original.get(var)})
        applied[EXTRAS_VARIABLE] = extras
        os.environ.update(applied)
        self.applied = applied
        return list(applied)

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

    def states(self) -> list[EnvVarState]:
        original = self.original or {}
        return [
            EnvVarState(var, original.get(var), self.applied.get(var), os.environ.get(var)) for var in MANAGED_VARIABLES
        ]
