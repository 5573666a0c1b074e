"""Name what went wrong, say how to fix it: pure functions, no sockets.

Everything here takes facts (verify codes and messages, the presented chain,
an HTTP answer) and returns words, so it is tested without a network.
`.problem` is what a verifying client hits first — chain trust, then
validity, then the name, as OpenSSL checks — and every other defect visible in
the presented chain becomes a warning.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .._secrets import redact

if TYPE_CHECKING:
    from .._certs import Certificate
    from .issuers import Completion
    from .probe import Target
    from .proxy import Route
    from .results import Interception

__all__ = [
    "PROBLEMS",
    "HttpVerdict",
    "chain_warnings",
    "classify_http",
    "classify_verify",
    "fix_for",
    "names_match",
    "strict_warnings",
    "trust_candidates",
]

#: The public contract: every `.problem` is one of these.
PROBLEMS = {
    "dns_failure": "the host name does not resolve",
    "connection_refused": "nothing accepts connections on that host and port",
    "timeout": "no answer within the time limit",
    "not_tls": "the port does not speak TLS",
    "untrusted_root": "the chain leads to a CA this kernel does not trust",
    "missing_intermediate": "the server sent only its leaf, and the leaf's issuer is not trusted",
    "self_signed_leaf": "the server's certificate is self-signed",
    "expired": "the server's certificate has expired",
    "not_yet_valid": "the server's certificate is not valid yet",
    "hostname_mismatch": "the certificate is for other names",
    "strict_rejected": "Python 3.13+'s strict X.509 checks reject the chain",
    "unauthorized": "users.me answered 401/403: the API token is wrong or missing",
    "http_error": "the server answered with an HTTP error",
    "not_supervisely": "the answer is not Supervisely's API (proxy, SSO page, redirect or wrong URL)",
    "proxy_unreachable": "the proxy does not resolve, refuses the connection, or does not answer in time",
    "proxy_auth_required": "the proxy answered 407: it wants credentials",
    "proxy_rejected": "the proxy refused the tunnel (CONNECT got another non-2xx answer)",
}
#: Issuer-name fragments of TLS-inspection products (lower case) -> the product.  A match
#: alone is a hint: many companies sign with a CA of their own name.
INSPECTION_PRODUCTS = (
    (("zscaler",), "Zscaler"),
    (("netskope",), "Netskope"),
    (("palo alto", "paloalto", "pan-os"), "Palo Alto Networks"),
    (("fortigate", "fortinet"), "Fortinet FortiGate"),
    (("cisco umbrella", "opendns"), "Cisco Umbrella"),
    (("blue coat", "bluecoat", "proxysg"), "Blue Coat / Symantec ProxySG"),
    (("forcepoint", "websense"), "Forcepoint / Websense"),
    (("sophos", "securityappliance_ssl_ca"), "Sophos"),
    (("check point", "checkpoint"), "Check Point"),
    (("cloudflare managed", "cloudflare gateway", "gateway ca - cloudflare"), "Cloudflare Gateway"),
    (("iboss",), "iboss"),
    (("mitmproxy",), "mitmproxy"),
    (("avast", "avg web", "norton web", "norton mail"), "Avast / AVG / Norton antivirus"),
    (("kaspersky",), "Kaspersky antivirus"),
    (("eset ssl filter", "eset"), "ESET antivirus"),
    (("bitdefender",), "Bitdefender antivirus"),
)
#: Words in OpenSSL's messages for the RFC 5280 checks that VERIFY_X509_STRICT adds.
STRICT_MARKERS = ("not marked critical", "key usage", "Key Identifier", "strict", "RFC 5280")
_SNIPPET = 120


def names_match(host: str, names: tuple[str, ...]) -> bool:
    """Does a certificate naming `names` cover `host` (exact, one-label wildcard, or IP)?"""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    for name in names:
        if ip is not None:
            try:
                if ipaddress.ip_address(name) == ip:
                    return True
            except ValueError:
                continue
            continue
        n, h = name.lower().rstrip("."), host.lower().rstrip(".")
        if n == h:
            return True
        if n.startswith("*.") and "." in h and h.split(".", 1)[1] == n[2:]:
            return True
    return False


def _name(c: Certificate | None) -> str:
    return f'"{c.common_name}" (SHA-256 {c.short_fingerprint}…)' if c else "an unknown CA"


def classify_verify(
    code: int | None, message: str, chain: list[Certificate], host: str, strict_only: bool = False
) -> tuple[str, str]:
    """(problem, cause) for a failed verification.

    `strict_only` says the chain verified once Python 3.13's strict flag was
    off (the caller checks that with a real handshake).
    """
    top = chain[-1] if chain else None
    leaf = chain[0] if chain else None
    lower = message.lower()
    if (
        code == 18
        or lower.strip() == "self-signed certificate"
        or (code is None and lower == "self signed certificate")
    ):
        return "self_signed_leaf", f"the server presents a self-signed certificate {_name(leaf)}; no CA vouches for it"
    if code == 19 or "self-signed certificate in certificate chain" in lower or "self signed certificate in" in lower:
        return "untrusted_root", f"the server's chain ends at {_name(top)}, which this kernel does not trust"
    if code in (20, 2) or "unable to get" in lower:
        if len(chain) == 1 and leaf is not None and not leaf.is_ca:
            return (
                "missing_intermediate",
                f"the server sent only its own certificate {_name(leaf)}, not the intermediate "
                f'"{leaf.issuer_common_name}" that issued it, and this kernel does not trust that issuer',
            )
        if code == 2:
            return (
                "untrusted_root",
                f"this kernel trusts the intermediate {_name(top)} but not its root "
                f'"{top.issuer_common_name if top else "?"}"; Python 3.12 and older need the root certificate too',
            )
        if top is not None and top.self_signed:
            return "untrusted_root", f"the server's chain ends at {_name(top)}, which this kernel does not trust"
        return (
            "untrusted_root",
            f'the server\'s chain ends at {_name(top)}, issued by "{top.issuer_common_name if top else "?"}", '
            "a root the server does not send and this kernel does not trust; get that root CA certificate "
            "from your admin (fetch shows the fingerprints of what the server sends)",
        )
    if code == 10 or "expired" in lower:
        return (
            "expired",
            f"the server's certificate {_name(leaf)} expired on {leaf.not_after:%Y-%m-%d}"
            if leaf
            else "a certificate expired",
        )
    if code == 9 or "not yet valid" in lower:
        return (
            "not_yet_valid",
            f"the server's certificate {_name(leaf)} is valid only from {leaf.not_before:%Y-%m-%d %H:%M} UTC"
            if leaf
            else "a certificate is not valid yet",
        )
    if code in (62, 64) or "mismatch" in lower:
        names = ", ".join(leaf.names) if leaf and leaf.names else "no names"
        return "hostname_mismatch", f'the certificate is not valid for "{host}"; it is valid for: {names}'
    if sys.version_info >= (3, 13) and (strict_only or any(m.lower() in lower for m in STRICT_MARKERS)):
        return (
            "strict_rejected",
            f"Python {sys.version_info.major}.{sys.version_info.minor}'s strict X.509 checks reject the chain: "
            f"{message} (older Pythons accept it)",
        )
    return "untrusted_root", f"certificate verification failed: {message} (code {code})"


def needs_strict_retry(code: int | None, message: str) -> bool:
    """Whether only a second handshake without the strict flag can tell `strict_rejected` apart."""
    if sys.version_info < (3, 13):
        return False
    lower = message.lower()
    known = code in (2, 9, 10, 18, 19, 20, 62, 64) or any(
        w in lower for w in ("self-signed", "self signed", "unable to get", "expired", "not yet valid", "mismatch")
    )
    return not known and not any(m.lower() in lower for m in STRICT_MARKERS)


@dataclass
class HttpVerdict:
    """What the HTTP answer means: a problem (or None), and what to show."""

    problem: str | None
    cause: str
    step_ok: bool
    step_detail: str
    login: str | None = None
    api_checked: bool = False
    warnings: list[str] = field(default_factory=list)


def classify_http(
    status: int | None,
    reason: str,
    content_type: str,
    location: str,
    body: bytes,
    *,
    token_sent: bool,
    timed_out: bool = False,
    error: str = "",
    secrets: list[str],
    token_withheld: str = "",
) -> HttpVerdict:
    """Judge the answer to ``POST users.me`` (with a token) or ``GET /`` (without).

    `token_withheld` says why a token that exists was not sent (it belongs to another server).
    """
    if timed_out:
        return HttpVerdict(
            "timeout", "the server completed TLS but did not answer the HTTP request in time", False, "timed out"
        )
    if error or status is None:
        shown = redact(error or "no answer", secrets)
        return HttpVerdict("not_supervisely", f"the server did not answer HTTP properly ({shown})", False, shown)
    # Redact the whole body first, then cut: a secret cut in half would no longer match.
    snippet = redact(body.decode("utf-8", "replace").strip(), secrets)[:_SNIPPET]
    if not token_sent:
        return HttpVerdict(
            None,
            "",
            True,
            f"HTTP {status}",
            warnings=[
                token_withheld
                or "the API check was skipped: no API token (set API_TOKEN, run %sly_tls env, or pass token=)"
            ],
        )
    where = redact(location, secrets)
    if status in (401, 403):
        return HttpVerdict(
            "unauthorized", f"users.me answered {status}: the server rejected the API token", False, f"HTTP {status}",
            api_checked=True,
        )  # fmt: skip
    if 300 <= status < 400:
        return HttpVerdict(
            "not_supervisely",
            f"users.me answered a redirect ({status}) to {where or 'somewhere'}: "
            "a login page or proxy sits in front of the API, or the URL is wrong",
            False,
            f"HTTP {status} → {where}",
            api_checked=True,
        )
    if not 200 <= status < 300:
        return HttpVerdict(
            "http_error",
            f"users.me answered HTTP {status} {redact(reason, secrets)}: {snippet!r}",
            False,
            f"HTTP {status}",
            api_checked=True,
        )
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        kind = content_type or "no content type"
        return HttpVerdict(
            "not_supervisely",
            f"users.me answered {status} with {content_type or 'a body'} that is not the API's JSON object: "
            f"{snippet!r}",
            False,
            f"HTTP {status}, {kind}",
            api_checked=True,
        )
    login = data.get("login")
    shown_login = redact(str(login), secrets) if login is not None else None
    return HttpVerdict(None, "", True, f'HTTP {status}, login "{shown_login}"', login=shown_login, api_checked=True)


def chain_warnings(host: str, chain: list[Certificate], problem: str | None) -> list[str]:
    """Every defect visible in the presented chain that is not already `.problem`."""
    out: list[str] = []
    if not chain:
        return out
    now = dt.datetime.now(dt.timezone.utc)
    leaf = chain[0]
    if problem != "expired" and leaf.not_after < now:
        out.append(f'the server\'s certificate "{leaf.common_name}" expired on {leaf.not_after:%Y-%m-%d}')
    elif problem != "not_yet_valid" and leaf.not_before > now:
        out.append(f'the server\'s certificate "{leaf.common_name}" is not valid until {leaf.not_before:%Y-%m-%d}')
    elif leaf.not_after - now < dt.timedelta(days=30) and leaf.not_after >= now:
        out.append(f'the server\'s certificate "{leaf.common_name}" expires soon, on {leaf.not_after:%Y-%m-%d}')
    if problem != "hostname_mismatch" and not names_match(host, leaf.names):
        out.append(
            f'the server\'s certificate is not valid for "{host}"; it names: {", ".join(leaf.names) or "no names"}'
        )
    for cert in chain[1:]:
        if cert.not_after < now:
            out.append(f'CA certificate "{cert.common_name}" in the chain expired on {cert.not_after:%Y-%m-%d}')
    return out


def strict_warnings(chain: list[Certificate]) -> list[str]:
    """On Python 3.10–3.12: the defects 3.13's strict checks will reject, per certificate."""
    if sys.version_info >= (3, 13):
        return []
    return [
        f'Python 3.13+ will reject this chain: "{cert.common_name}" has '
        + "; ".join(cert.strict_defects)
        + " (this Python accepts it)"
        for cert in chain
        if cert.strict_defects
    ]


def missing_root_warning(chain: list[Certificate], completion: Completion | None = None) -> list[str]:
    """The server does not send its root: say where it was found, or that it was not."""
    top = chain[-1] if chain else None
    if top is None or top.self_signed or not top.is_ca:
        return []
    root = completion.root if completion is not None else None
    if root is not None and root.source != "presented":
        return [
            f'the server does not send its root CA "{root.common_name}"; found it: {root.source} '
            "(--save writes it, for you to check and add)"
        ]
    return [
        f'the server does not send its root CA "{top.issuer_common_name}"; trusting only the intermediate '
        "works on Python 3.13+ only: ask your admin for the root certificate"
    ]


def certificates_to_save(chain: list[Certificate], completion: Completion | None) -> list[Certificate]:
    """What `fetch --save` writes: the root and any intermediates the server does not send, when completion
    found them; otherwise `trust_candidates` of what it sends."""
    if completion is not None and completion.root is not None and completion.completed:
        return list(completion.completed)
    return trust_candidates(chain)


def inspection_product(chain: list[Certificate]) -> str | None:
    """The inspection product whose CA names appear in `chain`'s issuers, if any."""
    names = " | ".join(n for c in chain for n in (c.issuer, c.subject)).lower()
    for fragments, product in INSPECTION_PRODUCTS:
        if any(f in names for f in fragments):
            return product
    return None


def detect_interception(
    seen: list[Certificate], direct: list[Certificate] | None, *, proxied: bool
) -> Interception | None:
    """Is the chain the client sees (`seen`) the server's own?

    `direct` is the chain of a direct connection to the same server, or None
    where that path could not be reached.  A different leaf key or issuer
    means something in between re-signed it; without the direct chain, only
    a known product's name can hint at it.
    """
    from .results import Interception

    if not seen or not proxied:
        return None
    leaf, top = seen[0], seen[-1]
    ca = top.common_name if top.self_signed else top.issuer_common_name
    product = inspection_product(seen)
    if direct:
        if leaf.spki_sha256 == direct[0].spki_sha256 and leaf.issuer == direct[0].issuer:
            return None
        return Interception(
            ca, product, "the chain through the proxy differs from the server's own (direct) chain: "
            f'the certificate for the server is signed by "{leaf.issuer_common_name}" instead of '
            f'"{direct[0].issuer_common_name}"', hint_only=False,
        )  # fmt: skip
    if product is not None:
        return Interception(
            ca, product, f"the issuer's name matches {product} (a hint only: the direct path to the server "
            "could not be reached to compare chains)", hint_only=True,
        )  # fmt: skip
    return None


def _root_advice(target: Target, completion: Completion) -> str | None:
    """Where the missing root is, and the commands that fetch and trust just it (never the same advice twice)."""
    root = completion.root
    if root is None or root.source == "presented":
        return None
    missing = ", ".join(f'"{c.common_name}"' for c in completion.completed)
    what = f'its root "{root.common_name}"' if len(completion.completed) == 1 else f"{missing} (up to its root)"
    file = "root.crt" if len(completion.completed) == 1 else "missing-chain.crt"
    save = f"%sly_tls fetch {target.text} --save {file}"
    if root.source.startswith("aia:"):
        return (
            f"the server does not send {what}, but its certificates say where to fetch it "
            f"({root.source.removeprefix('aia:')}): {save}, check the fingerprints with your admin, then "
            f"%sly_tls add {file}"
        )
    return (
        f"the server does not send {what}; it is on this machine ({root.source}), in a store requests does not "
        f"read: {save}, check the fingerprints, then %sly_tls add {file}; or trust that whole store: "
        "%sly_tls add --system"
    )


def _nothing_found_advice(completion: Completion) -> str:
    aki = f", Authority Key Identifier {completion.missing_aki.upper()}" if completion.missing_aki else ""
    return (
        f'ask your admin for the root CA certificate of "{completion.missing}"{aki}: the server does not send it '
        f"and it is nowhere here (searched: {', '.join(completion.searched)}); then %sly_tls add the file you get"
    )


def fix_for(
    problem: str,
    target: Target,
    chain: list[Certificate],
    route: Route | None = None,
    interception: Interception | None = None,
    connect_status: tuple[int, str, str] | None = None,
    completion: Completion | None = None,
) -> str:
    """The one thing to do next for `problem`, as a command where there is one.

    Commands end at a comma, a semicolon, a parenthesis or the end of the text,
    so they can be copied (and a test runs them, to check each makes progress).
    """
    fetch = f"%sly_tls fetch {target.text} --save corp-chain.crt"
    shown = route.proxy.shown if route is not None and route.proxy is not None else "HTTPS_PROXY"
    if problem in ("untrusted_root", "missing_intermediate") and completion is not None:
        advice = _root_advice(target, completion)
        if advice is not None:
            return advice
    if problem == "untrusted_root" and interception is not None:
        top = chain[-1] if chain else None
        if top is not None and top.self_signed:
            how = f"{fetch.replace('corp-chain.crt', 'proxy-ca.crt')} (through the proxy, it saves that CA)"
        else:
            how = "export it from this machine's certificate store (IT usually installs it there)"
        return (
            f"trust the inspecting proxy's CA \"{interception.ca}\", not the server's: {how}, check its "
            f'fingerprint with IT (quote the name "{interception.ca}"), then %sly_tls add that file'
        )
    if problem == "untrusted_root" and completion is not None and completion.root is None:
        return _nothing_found_advice(completion)
    if problem == "untrusted_root":
        return f"{fetch}, check the fingerprint with your admin, then %sly_tls add corp-chain.crt"
    if problem == "proxy_unreachable":
        return (
            f"check the proxy address {shown} (HTTPS_PROXY / ALL_PROXY) and that it runs (VPN?); "
            f"to test without it: %sly_tls test {target.text} --direct"
        )
    if problem == "proxy_auth_required":
        scheme = connect_status[2] if connect_status else ""
        if scheme and scheme.lower() != "basic":
            return (
                f"the proxy asks for {scheme}, which requests cannot answer by itself: run a local "
                "authenticating proxy (cntlm, px) and point HTTPS_PROXY at it, or ask IT for Basic access"
            )
        return "put your proxy credentials in the proxy URL: HTTPS_PROXY=http://user:password@host:port"
    if problem == "proxy_rejected":
        return (
            f"the proxy {shown} will not open a tunnel to {target.host}:{target.port}: ask IT to allow it, "
            "or, if this server must be reached directly, add it to NO_PROXY"
        )
    if problem == "missing_intermediate":
        issuer = chain[0].issuer_common_name if chain else "the issuing CA"
        return (
            f'ask the server\'s admin to install the full chain (leaf + "{issuer}"); meanwhile get '
            f'"{issuer}" and its root from your admin and %sly_tls add them'
        )
    if problem == "self_signed_leaf":
        return (
            f"{fetch.replace('corp-chain.crt', 'server.crt')}, check the fingerprint with your admin, then "
            "%sly_tls add server.crt (this trusts only that certificate; ask for a CA-issued one)"
        )
    if problem == "expired":
        return "the server's admin must renew its certificate; do not work around an expired certificate"
    if problem == "not_yet_valid":
        now = dt.datetime.now(dt.timezone.utc)
        return f"check this machine's clock (it says {now:%Y-%m-%d %H:%M} UTC) or ask the admin about the certificate"
    if problem == "hostname_mismatch":
        names = chain[0].names if chain else ()
        good = next((n for n in names if not n.startswith("*")), None)
        if good:
            port = "" if target.port == 443 else f":{target.port}"
            return f"use a name the certificate covers, e.g. %sly_tls test https://{good}{port}{target.base_path}"
        return "ask the server's admin for a certificate that names this host"
    if problem == "strict_rejected":
        return (
            "ask your admin to re-issue the CA with RFC 5280 extensions (critical basicConstraints, "
            "keyUsage, Subject/Authority Key Identifiers); Python 3.12 and older still accept it"
        )
    if problem == "dns_failure":
        return f'check the host name "{target.host}" (typo? VPN needed?) and SERVER_ADDRESS'
    if problem == "connection_refused":
        return "check the port and that the server is running; behind a proxy, set HTTPS_PROXY"
    if problem == "timeout":
        return f"check VPN/firewall, or retry with a longer limit: %sly_tls test {target.text} --timeout 30"
    if problem == "not_tls":
        return "check the URL: this port may be plain http:// or belong to another service"
    if problem == "unauthorized":
        return "check API_TOKEN (%sly_tls env loads it from your env file; the token is in your Supervisely profile)"
    if problem == "http_error":
        return "the server or a proxy is failing; retry later or ask its admin (details above)"
    if problem == "not_supervisely":
        return "check SERVER_ADDRESS: it must be the Supervisely server itself, not a login page or proxy"
    return ""


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
