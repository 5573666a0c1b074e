"""Name what went wrong: a failed verification or an HTTP answer, as one of `PROBLEMS`.

Pure functions, no sockets: facts in (verify codes and messages, the presented
chain, an HTTP answer), a problem and its cause out, so it is tested without a
network.  `.problem` is what a verifying client hits first — chain trust, then
validity, then the name, as OpenSSL checks; the chain's other defects are
`defects`' warnings, and what to do is `remedies`'.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .._fixes import command, say, where
from .._secrets import redact

if TYPE_CHECKING:
    from .._certs import Certificate

__all__ = ["PROBLEMS", "HttpVerdict", "classify_http", "classify_verify", "needs_strict_retry"]

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
#: Words in OpenSSL's messages for the RFC 5280 checks that VERIFY_X509_STRICT adds.
STRICT_MARKERS = ("not marked critical", "key usage", "Key Identifier", "strict", "RFC 5280")
_SNIPPET = 120


def _name(c: Certificate | None) -> str:
    return f'"{c.common_name}" (SHA-256 {c.short_fingerprint}…)' if c else "an unknown CA"


def classify_verify(
    code: int | None, message: str, chain: list[Certificate], host: str, strict_only: bool = False
) -> tuple[str, str]:
    """(problem, cause) for a failed verification.

    `strict_only` says the chain verified once Python 3.13's strict flag was
    off (the caller checks that with a real handshake).  The checks run in
    OpenSSL's order: chain trust, then validity, then the name.
    """
    lower = message.lower()
    return (
        _chain_trust(code, lower, chain)
        or _validity(code, lower, chain)
        or _name_mismatch(code, lower, chain, host)
        or _strict(message, lower, strict_only)
        or ("untrusted_root", f"certificate verification failed: {message} (code {code})")
    )


def _chain_trust(code: int | None, lower: str, chain: list[Certificate]) -> tuple[str, str] | None:
    """Does the chain lead to no trusted CA: a self-signed leaf, an untrusted root, an issuer not found?"""
    top = chain[-1] if chain else None
    leaf = chain[0] if chain else None
    if (
        code == 18
        or lower.strip() == "self-signed certificate"
        or (code is None and lower == "self signed certificate")
    ):
        return "self_signed_leaf", f"the server presents a self-signed certificate {_name(leaf)}; no CA vouches for it"
    if code == 19 or "self-signed certificate in certificate chain" in lower or "self signed certificate in" in lower:
        return "untrusted_root", f"the server's chain ends at {_name(top)}, which {where()} does not trust"
    if code in (20, 2) or "unable to get" in lower:
        return _issuer_not_found(code, chain)
    return None


def _issuer_not_found(code: int | None, chain: list[Certificate]) -> tuple[str, str]:
    """An issuer is not trusted: the leaf's (an intermediate the server does not send) or the root's."""
    top = chain[-1] if chain else None
    leaf = chain[0] if chain else None
    if len(chain) == 1 and leaf is not None and not leaf.is_ca:
        return (
            "missing_intermediate",
            f"the server sent only its own certificate {_name(leaf)}, not the intermediate "
            f'"{leaf.issuer_common_name}" that issued it, and {where()} does not trust that issuer',
        )
    if code == 2:
        return (
            "untrusted_root",
            f"{where()} trusts the intermediate {_name(top)} but not its root "
            f'"{top.issuer_common_name if top else "?"}"; Python 3.12 and older need the root certificate too',
        )
    if top is not None and top.self_signed:
        return "untrusted_root", f"the server's chain ends at {_name(top)}, which {where()} does not trust"
    return (
        "untrusted_root",
        f'the server\'s chain ends at {_name(top)}, issued by "{top.issuer_common_name if top else "?"}", '
        f"a root the server does not send and {where()} does not trust; get that root CA certificate "
        "from your admin (fetch shows the fingerprints of what the server sends)",
    )


def _validity(code: int | None, lower: str, chain: list[Certificate]) -> tuple[str, str] | None:
    """Is the server's certificate outside its validity period: expired, or not valid yet?"""
    leaf = chain[0] if chain else None
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
    return None


def _name_mismatch(code: int | None, lower: str, chain: list[Certificate], host: str) -> tuple[str, str] | None:
    """Is the certificate for other names than `host`?"""
    if code in (62, 64) or "mismatch" in lower:
        leaf = chain[0] if chain else None
        names = ", ".join(leaf.names) if leaf and leaf.names else "no names"
        return "hostname_mismatch", f'the certificate is not valid for "{host}"; it is valid for: {names}'
    return None


def _strict(message: str, lower: str, strict_only: bool) -> tuple[str, str] | None:
    """On 3.13+: is it only the strict X.509 checks that reject the chain?"""
    if sys.version_info >= (3, 13) and (strict_only or any(m.lower() in lower for m in STRICT_MARKERS)):
        return (
            "strict_rejected",
            f"Python {sys.version_info.major}.{sys.version_info.minor}'s strict X.509 checks reject the chain: "
            f"{message} (older Pythons accept it)",
        )
    return None


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
    if timed_out or error or status is None:
        return _no_answer(timed_out, error, secrets)
    # Redact the whole body first, then cut: a secret cut in half would no longer match.
    snippet = redact(body.decode("utf-8", "replace").strip(), secrets)[:_SNIPPET]
    if not token_sent:
        return _api_check_skipped(status, token_withheld)
    refused = _refused(status, reason, location, snippet, secrets)
    return refused or _users_me(status, content_type, body, snippet, secrets)


def _no_answer(timed_out: bool, error: str, secrets: list[str]) -> HttpVerdict:
    """No HTTP answer at all: the time ran out, or the server did not speak HTTP properly."""
    if timed_out:
        return HttpVerdict(
            "timeout", "the server completed TLS but did not answer the HTTP request in time", False, "timed out"
        )
    shown = redact(error or "no answer", secrets)
    return HttpVerdict("not_supervisely", f"the server did not answer HTTP properly ({shown})", False, shown)


def _api_check_skipped(status: int, token_withheld: str) -> HttpVerdict:
    """Without a token, any answer to ``GET /`` passes; the warning says why the API was not checked."""
    return HttpVerdict(
        None,
        "",
        True,
        f"HTTP {status}",
        warnings=[
            token_withheld
            or f"the API check was skipped: no API token (set API_TOKEN, or load it: {say(command('env'))})"
        ],
    )


def _refused(status: int, reason: str, location: str, snippet: str, secrets: list[str]) -> HttpVerdict | None:
    """Did users.me answer anything but 2xx: the token rejected, a redirect away, or an HTTP error?"""
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
    return None


def _users_me(status: int, content_type: str, body: bytes, snippet: str, secrets: list[str]) -> HttpVerdict:
    """Is a 2xx answer the API's JSON object?  If so, whose login it names."""
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
