"""The public verbs in one module, and the one place the two halves meet: diagnose asks what trust knows.

`sly_nb_tls` resolves its verbs here on first use, and the front-ends (`ui/`)
call them here, never in the halves.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from .diagnose.anchors import tell_trusted_extras
from .diagnose.connection import fetch_chain, test_connection
from .diagnose.issuers import KnownFiles, tell_known_files
from .trust.envfile import load_env
from .trust.extras import add_certs, files_named_before_add, files_written, registered, remove, reset, status
from .trust.install import install, uninstall
from .trust.stored import StoredCertificate

if TYPE_CHECKING:
    from ._audit import AuditTrail
    from ._certs import Certificate
    from ._policy import Policy

__all__ = [
    "add_certs",
    "audit",
    "fetch_chain",
    "install",
    "load_env",
    "policy",
    "proxy_for",
    "remove",
    "reset",
    "status",
    "test_connection",
    "uninstall",
]


def _known_files() -> KnownFiles:
    """What the trust half knows of the CA files here: those the variables named before `add`, ours."""
    return KnownFiles(before=tuple(files_named_before_add()), ours=tuple(files_written()))


tell_known_files(_known_files)


def _trusted_extras() -> list[Certificate]:
    """The certificates `add` trusts now, parsed: test and fetch compare a chain's names, keys and dates with them."""
    return [c.parsed if isinstance(c, StoredCertificate) else cast("Certificate", c) for c in registered()]


tell_trusted_extras(_trusted_extras)


def proxy_for(url: str | None = None) -> str | None:
    """The proxy requests (and so `test_connection`) would use for `url` (default SERVER_ADDRESS),
    credentials masked; None when it would connect directly.  Without a usable URL: the proxy
    for a server NO_PROXY does not name."""
    from .diagnose.proxy import choose_route
    from .diagnose.target import Target
    from .errors import SlyTlsError

    try:
        target = Target.parse(url).text
    except SlyTlsError:
        target = "https://server.invalid"  # RFC 2606: never resolves, and nothing connects to it here
    try:
        route = choose_route(target)
    except SlyTlsError:  # a proxy variable that is no usable URL
        return None
    return route.proxy.shown if route.proxy else None


def audit(n: int = 20) -> AuditTrail:
    """The last `n` records of the audit log: who added, removed or was refused what, and when.

    The log is the policy's ``audit_log``, else ``$XDG_STATE_HOME/sly-nb-tls/audit.jsonl``.
    """
    from ._audit import audit_file, read_trail
    from .errors import SlyTlsError
    from .trust.gate import policy_or_default

    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise SlyTlsError(f"audit: the number of records must be a whole number of at least 1, not {n!r}")
    current, problems = policy_or_default()
    trail = read_trail(audit_file(current), n)
    trail.warnings = problems
    return trail


def policy() -> Policy:
    """The admin's policy in force: its file and rules (`PolicyError` when the file cannot be read)."""
    from ._policy import policy_in_force

    return policy_in_force()
