"""What to do next: the fix rule for each problem (`FIXES`, `fix_for`), and which certificates to trust.

Pure functions, no sockets.  The fix is data: `FIXES` holds one rule per
problem, each returning a `Fix` (words and commands) that every front-end says
in its own words.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .._fixes import Command, Fix, command, fix

if TYPE_CHECKING:
    from .._certs import Certificate
    from .issuers import Completion
    from .proxy import Route
    from .results import Interception
    from .target import Target

__all__ = ["FIXES", "Facts", "certificates_to_save", "fix_for", "trust_candidates"]


@dataclass(frozen=True)
class Facts:
    """What the fix rules look at: the tested URL, the presented chain and what else the test found."""

    target: Target
    chain: list[Certificate]
    route: Route | None = None
    interception: Interception | None = None
    #: the proxy's answer to CONNECT: (status, reason, the authentication scheme it asks for)
    connect_status: tuple[int, str, str] | None = None
    completion: Completion | None = None


def _fetch_then_add(facts: Facts, file: str, after: str = "") -> Fix:
    return fix(
        command("fetch", facts.target.text, save=file), ", check the fingerprint with your admin, then ",
        command("add", file), after,
    )  # fmt: skip


def _root_advice(facts: Facts) -> Fix | None:
    """Where the missing root is, and the commands that fetch and trust just it (never the same advice twice)."""
    completion = facts.completion
    root = completion.root if completion is not None else None
    if completion is None or root is None or root.source == "presented":
        return None
    missing = ", ".join(f'"{c.common_name}"' for c in completion.completed)
    what = f'its root "{root.common_name}"' if len(completion.completed) == 1 else f"{missing} (up to its root)"
    file = "root.crt" if len(completion.completed) == 1 else "missing-chain.crt"
    save, add = command("fetch", facts.target.text, save=file), command("add", file)
    if root.source.startswith("aia:"):
        where = root.source.removeprefix("aia:")
        return fix(
            f"the server does not send {what}, but its certificates say where to fetch it ({where}): ", save,
            ", check the fingerprints with your admin, then ", add,
        )  # fmt: skip
    return fix(
        f"the server does not send {what}; it is on this machine ({root.source}), in a store requests does not "
        "read: ", save, ", check the fingerprints, then ", add, "; or trust that whole store: ",
        command("add", system=True),
    )  # fmt: skip


def _inspecting_proxy(facts: Facts) -> Fix | None:
    """Behind a TLS-inspecting proxy the CA to trust is the proxy's, not the server's."""
    if facts.interception is None:
        return None
    ca = facts.interception.ca
    top = facts.chain[-1] if facts.chain else None
    if top is not None and top.self_signed:
        how: tuple[str | Command, ...] = (
            command("fetch", facts.target.text, save="proxy-ca.crt"),
            " (through the proxy, it saves that CA)",
        )
    else:
        how = ("export it from this machine's certificate store as proxy-ca.crt (IT usually installs it there)",)
    return fix(
        f"trust the inspecting proxy's CA \"{ca}\", not the server's: ", *how,
        f', check its fingerprint with IT (quote the name "{ca}"), then ', command("add", "proxy-ca.crt"),
    )  # fmt: skip


def _nothing_found(facts: Facts) -> Fix | None:
    completion = facts.completion
    if completion is None or completion.root is not None:
        return None
    aki = f", Authority Key Identifier {completion.missing_aki.upper()}" if completion.missing_aki else ""
    return fix(
        f'ask your admin for the root CA certificate of "{completion.missing}"{aki}: the server does not send it '
        f"and it is nowhere here (searched: {', '.join(completion.searched)}); then trust the file you get: ",
        command("add", "FILE"), kind="ask-admin",
    )  # fmt: skip


def _untrusted_root(facts: Facts) -> Fix:
    return (
        _root_advice(facts)
        or _inspecting_proxy(facts)
        or _nothing_found(facts)
        or _fetch_then_add(facts, "corp-chain.crt")
    )


def _missing_intermediate(facts: Facts) -> Fix:
    issuer = facts.chain[0].issuer_common_name if facts.chain else "the issuing CA"
    return _root_advice(facts) or fix(
        f'ask the server\'s admin to install the full chain (leaf + "{issuer}"); meanwhile get "{issuer}" and its '
        "root from your admin and trust them: ", command("add", "FILE"), kind="ask-admin",
    )  # fmt: skip


def _proxy_unreachable(facts: Facts) -> Fix:
    return fix(
        f"check the proxy address {_proxy_shown(facts)} (HTTPS_PROXY / ALL_PROXY) and that it runs (VPN?); "
        "to test without it: ", command("test", facts.target.text, direct=True), kind="check-proxy",
    )  # fmt: skip


def _proxy_shown(facts: Facts) -> str:
    route = facts.route
    return route.proxy.shown if route is not None and route.proxy is not None else "HTTPS_PROXY"


def _proxy_auth_required(facts: Facts) -> Fix:
    scheme = facts.connect_status[2] if facts.connect_status else ""
    if scheme and scheme.lower() != "basic":
        return fix(
            f"the proxy asks for {scheme}, which requests cannot answer by itself: run a local "
            "authenticating proxy (cntlm, px) and point HTTPS_PROXY at it, or ask IT for Basic access",
            kind="check-proxy",
        )
    return fix(
        "put your proxy credentials in the proxy URL: ",
        command("set-variable", "HTTPS_PROXY", "http://user:password@host:port"),
    )


def _proxy_rejected(facts: Facts) -> Fix:
    target = facts.target
    return fix(
        f"the proxy {_proxy_shown(facts)} will not open a tunnel to {target.host}:{target.port}: ask IT to allow "
        "it, or, if this server must be reached directly, add it to NO_PROXY", kind="ask-admin",
    )  # fmt: skip


def _not_yet_valid(facts: Facts) -> Fix:
    now = dt.datetime.now(dt.timezone.utc)
    return fix(
        f"check this machine's clock (it says {now:%Y-%m-%d %H:%M} UTC) or ask the admin about the certificate",
        kind="check-clock",
    )


def _hostname_mismatch(facts: Facts) -> Fix:
    names = facts.chain[0].names if facts.chain else ()
    good = next((n for n in names if not n.startswith("*")), None)
    if good is None:
        return fix("ask the server's admin for a certificate that names this host", kind="ask-admin")
    target = facts.target
    port = "" if target.port == 443 else f":{target.port}"
    return fix("use a name the certificate covers, e.g. ", command("test", f"https://{good}{port}{target.base_path}"))


def _advice(text: str, kind: str) -> Callable[[Facts], Fix]:
    """A rule whose fix is words only, the same whatever the facts."""
    return lambda facts: fix(text, kind=kind)


#: problem -> the rule that says what to do next; every key of `PROBLEMS` has one.
FIXES: dict[str, Callable[[Facts], Fix]] = {
    "untrusted_root": _untrusted_root,
    "missing_intermediate": _missing_intermediate,
    "self_signed_leaf": lambda facts: _fetch_then_add(
        facts, "server.crt", " (this trusts only that certificate; ask for a CA-issued one)"
    ),
    "expired": _advice(
        "the server's admin must renew its certificate; do not work around an expired certificate", "ask-admin"
    ),
    "not_yet_valid": _not_yet_valid,
    "hostname_mismatch": _hostname_mismatch,
    "strict_rejected": _advice(
        "ask your admin to re-issue the CA with RFC 5280 extensions (critical basicConstraints, keyUsage, "
        "Subject/Authority Key Identifiers); Python 3.12 and older still accept it",
        "ask-admin",
    ),
    "dns_failure": lambda facts: fix(
        f'check the host name "{facts.target.host}" (typo? VPN needed?) and SERVER_ADDRESS', kind="check-address"
    ),
    "connection_refused": _advice(
        "check the port and that the server is running; behind a proxy, set HTTPS_PROXY", "check-address"
    ),
    "timeout": lambda facts: fix(
        "check VPN/firewall, or retry with a longer limit: ", command("test", facts.target.text, timeout=30)
    ),
    "not_tls": _advice("check the URL: this port may be plain http:// or belong to another service", "check-address"),
    "unauthorized": lambda facts: fix(
        "check API_TOKEN (the token is in your Supervisely profile); to load it from your env file: ",
        command("env"),
        kind="check-token",
    ),
    "http_error": _advice("the server or a proxy is failing; retry later or ask its admin (details above)", "retry"),
    "not_supervisely": _advice(
        "check SERVER_ADDRESS: it must be the Supervisely server itself, not a login page or proxy", "check-address"
    ),
    "proxy_unreachable": _proxy_unreachable,
    "proxy_auth_required": _proxy_auth_required,
    "proxy_rejected": _proxy_rejected,
}


def fix_for(
    problem: str,
    target: Target,
    chain: list[Certificate],
    route: Route | None = None,
    interception: Interception | None = None,
    connect_status: tuple[int, str, str] | None = None,
    completion: Completion | None = None,
) -> Fix | None:
    """The one thing to do next for `problem`: words and the commands that do it (None for no problem)."""
    rule = FIXES.get(problem)
    return rule(Facts(target, chain, route, interception, connect_status, completion)) if rule else None


def trust_candidates(chain: list[Certificate]) -> list[Certificate]:
    """What to trust from a presented chain: as little as makes it verify.

    The root CA if the server sends one (the server sends the intermediates
    itself, so trusting them too would only widen trust, and on Python 3.13
    would make an intermediate the anchor); else the CA certificates it sends
    (the root must then come from the admin on Python 3.12 and older); else
    its own certificate.
    """
    roots = [c for c in chain if c.is_ca and c.self_signed]
    return roots or [c for c in chain if c.is_ca] or list(chain)


def certificates_to_save(chain: list[Certificate], completion: Completion | None) -> list[Certificate]:
    """What `fetch --save` writes: the root and any intermediates the server does not send, when completion
    found them; otherwise `trust_candidates` of what it sends."""
    if completion is not None and completion.root is not None and completion.completed:
        return list(completion.completed)
    return trust_candidates(chain)
