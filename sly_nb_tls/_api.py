"""The public verbs in one module, and the one place the two halves meet: diagnose asks what trust knows.

`sly_nb_tls` resolves its verbs here on first use, and the front-ends (`ui/`)
call them here, never in the halves.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, cast

from .diagnose.anchors import tell_trusted_extras
from .diagnose.connection import fetch_chain, test_connection
from .diagnose.issuers import KnownFiles, tell_known_files
from .trust import extras
from .trust.envfile import load_env
from .trust.extras import files_named_before_add, files_written, registered, remove, reset
from .trust.install import install as install_for_scope
from .trust.install import uninstall
from .trust.stored import StoredCertificate
from .trust.writing import prepare_start_files

if TYPE_CHECKING:
    from ._audit import AuditTrail
    from ._certs import Certificate, TrustedCertificate
    from ._jupyter import ServerTrust
    from ._pem import Source
    from ._policy import Policy
    from .trust.results import AddResult, InstallResult, TrustStatus

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


def install(*sources: str | bytes | os.PathLike[str], scope: str = "user", as_is: bool = False) -> InstallResult:
    """Make every new IPython/ipykernel of `scope` load sly_nb_tls and trust the CAs in `sources`
    (all or nothing: `sly_nb_tls.trust.install.install`), and encode now what their start will need."""
    result = install_for_scope(*sources, scope=scope, as_is=as_is)
    prepare_start_files(extras.values_before_add())
    return result


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


def add_certs(
    *sources: Source,
    live: bool = True,
    system: bool = False,
    persist: bool = False,
    server: bool = False,
    as_is: bool = False,
) -> AddResult:
    """Trust the certificates in `sources` in this process and its children.

    A source is a file (PEM with one or many certificates, DER, PKCS#7), a
    directory of such files, PEM text, or bytes.  All or nothing: if any
    source is rejected, `CertificateSourceError` is raised and nothing changes.
    ``live=False`` leaves already-existing client contexts alone.

    ``system=True`` also trusts this machine's system store (OpenSSL's default
    file, or its hashed directory) in every client, requests included, which
    otherwise reads only certifi: the one explicit way to widen trust.  It is
    undone like any other `add` (`remove` of that file, or `reset`).

    ``persist=True`` also installs the sources for every new kernel of this user
    (`install` with scope ``user``): the same trust after a restart, with zero cells.

    ``server=True`` also adds the certificates to the Jupyter server that started this kernel
    (its terminals, LSP servers and new kernels of any language inherit them); where no server
    started this process, the result says so in one line and only this process changes.

    A root CA that Python 3.13's strict X.509 checks reject only for its own structure (basicConstraints
    not critical, no keyUsage, no Subject Key Identifier) is trusted as its *equivalent anchor*: the same
    name, key, serial, validity and constraints, with only that corrected, so strict and lax clients
    decide alike; the result names both fingerprints.  ``as_is=True`` trusts the original instead.
    """
    if not server:
        return extras.add_certs(*sources, live=live, system=system, persist=persist, as_is=as_is)
    from .errors import NoServerError

    # All or nothing across two processes: first what can be taken back exactly (this process's
    # add without its live clients), then the server, then the install, and live clients last.
    extras.refuse_persisting_the_system_store(persist, system)
    result = extras.add_certs(*sources, live=False, system=system, as_is=as_is)
    on_server: ServerTrust | None = None
    try:
        result.server = on_server = add_to_server("".join(c.pem for c in result.certificates))
    except NoServerError as exc:
        result.notes.append(str(exc))
    except BaseException:
        _take_back(result.added)
        raise
    if persist:
        try:
            result.installed = install(*sources, scope="user", as_is=as_is)
        except BaseException:
            _take_back(result.added)
            remove_from_server(on_server)
            raise
    if live:
        result.live_updated = extras.update_live()
    return result


def _take_back(added: list[TrustedCertificate]) -> None:
    for cert in added:
        extras.remove(cert)


def add_to_server(*sources: Source) -> ServerTrust:
    """Add the certificates in `sources` to the Jupyter server that started this process, as its
    ``POST /sly-tls/certificates`` does; `NoServerError` where no server did."""
    from ._jupyter import ServerTrust, ask_server, find_server
    from ._sources import read_sources

    pem = "".join(c.pem for c in read_sources(sources).certificates)  # bad input: refused here, not there
    found = find_server()
    answer = ask_server(found, "POST", "certificates", pem=pem)
    return ServerTrust.from_answer(found, answer, f"the Jupyter server ({found.url}) trusts them too")


def remove_from_server(added: ServerTrust | None) -> None:
    """Take back, on the server, what `add_to_server` added there (a later step of the same change failed)."""
    if added is None:
        return
    from ._jupyter import ask_server, find_server

    found = find_server()
    for cert in added.certificates:
        ask_server(found, "DELETE", f"certificates/{cert['sha256']}")


def status(clients: bool = False, server: bool = False) -> TrustStatus:
    """What is trusted beyond the defaults, which variables are ours, how to undo.

    ``clients=True`` also lists each HTTPS library importable here (and each tool on
    PATH) with the trust it will use right now, and flags those that will not see the extras.
    ``server=True`` also asks the Jupyter server that started this kernel what it trusts.
    """
    st = extras.status(clients=clients)
    if server:
        from ._jupyter import ServerTrust, ask_server, find_server
        from .errors import NoServerError

        try:
            found = find_server()
        except NoServerError as exc:
            st.warnings.append(str(exc).replace(": the server was not changed", ""))
            return st
        st.server = ServerTrust.from_answer(found, ask_server(found, "GET", "status"))
    return st
