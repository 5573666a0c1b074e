"""Ask each HTTPS client importable here to reach the server, each with its own trust and proxy rules.

`test` answers for requests, which the Supervisely SDK uses; other clients
read trust and proxies their own way (httpx ignores CIDR entries in NO_PROXY,
aiohttp and urllib3 ignore proxy variables unless told, curl and urllib read
``SSL_CERT_FILE``).  Each client family (`sly_nb_tls.clients`) declares its attempt; here each
one sends one request, as a user calls it —
``POST users.me`` with the token, or ``GET /`` without — never retrying, never
following redirects, all within what is left of the test's deadline.  Each
outcome gets the same problem codes as `test`.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import shutil
import socket
import ssl
from collections.abc import Iterator
from typing import Any

from .._bounded import run_bounded
from .._secrets import redact
from ..clients import attempts
from ..clients.base import Answer, Attempt, KnownFailure, Request
from ..clients.requests import ca_variable_now
from .classify import classify_http, classify_verify
from .deadline import Deadline
from .probe import USERS_ME
from .proxy import choose_route, no_proxy_entries
from .results import ClientCheck
from .target import Target

__all__ = ["check_clients", "problem_of"]

_SNIPPET = 160
#: a client attempt that ran out of the test's time
_NO_TIME = "no time left within the test's timeout"


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """`exc` and everything it wraps: causes, contexts, `.reason`, aiohttp's `certificate_error`, args."""
    seen: set[int] = set()
    stack: list[Any] = [exc]
    while stack:
        e = stack.pop()
        if not isinstance(e, BaseException) or id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        stack += [e.__cause__, e.__context__, getattr(e, "reason", None), getattr(e, "certificate_error", None)]
        stack += [a for a in getattr(e, "args", ()) if isinstance(a, BaseException)]


def problem_of(exc: BaseException, host: str) -> str:
    """The problem code for what a client raised (the same codes as `test`)."""
    chain = list(_causes(exc))
    for e in chain:
        # aiohttp's ClientConnectorCertificateError passes this isinstance() without the
        # attributes; the real ssl error is its `certificate_error`, further down the chain.
        if isinstance(e, ssl.SSLCertVerificationError) and hasattr(e, "verify_code"):
            return classify_verify(e.verify_code, e.verify_message or str(e), [], host)[0]
    text = " ".join(f"{type(e).__name__} {e}" for e in chain)
    if "Proxy" in text or "Tunnel connection failed" in text or "CONNECT tunnel failed" in text:
        if "407" in text:
            return "proxy_auth_required"
        status = getattr(next((e for e in chain if isinstance(getattr(e, "status", None), int)), None), "status", None)
        if status or any(f" {code}" in text for code in ("403", "502", "503", "500", "404")):
            return "proxy_rejected"
        return "proxy_unreachable"
    if any(isinstance(e, TimeoutError | asyncio.TimeoutError) for e in chain) or "timed out" in text.lower():
        return "timeout"
    if any(isinstance(e, socket.gaierror) for e in chain):
        return "dns_failure"
    if any(isinstance(e, ConnectionRefusedError) for e in chain) or "Connection refused" in text:
        return "connection_refused"
    if any(isinstance(e, ssl.SSLError) for e in chain):
        return "not_tls"
    return "http_error"


def _one_line(exc: BaseException, secrets: list[str]) -> str:
    innermost = list(_causes(exc))[-1]
    text = f"{type(innermost).__name__}: {innermost}" if str(innermost) else type(innermost).__name__
    return redact(" ".join(text.split()), secrets)[:_SNIPPET]


def _request(target: Target, token: str | None) -> Request:
    if token:
        headers = {"x-api-key": token, "Content-Type": "application/json"}
        return Request("POST", target.text + USERS_ME, headers, b"{}", target.text, target.host)
    return Request("GET", target.text + "/", {}, None, target.text, target.host)


# -- routes and disagreements ---------------------------------------------------------------
def _proxy_configured() -> bool:
    return any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"))


def _no_proxy_cidrs() -> list[str]:
    from requests.utils import is_valid_cidr

    return [e for e in no_proxy_entries() if is_valid_cidr(e)]


def _routes(target: Target) -> dict[str, str]:
    """How each client routes to `target` as configured here, by its own rules (`Attempt.proxy`)."""
    requests_route = choose_route(target.text)
    env_proxy = requests_route.proxy.shown if requests_route.proxy else None
    no_cidr = requests_route.why
    cidrs = _no_proxy_cidrs()
    if requests_route.proxy is None and cidrs and _proxy_configured():
        from requests.utils import get_environ_proxies, select_proxy

        proxied = select_proxy(target.text, get_environ_proxies(target.text, no_proxy=""))
        if proxied:
            no_cidr = f"via proxy {choose_route(target.text, proxied).proxy} (it ignores CIDR entries in NO_PROXY)"
    by_rule = {
        "requests": requests_route.why,
        "none": "direct (it reads no proxy variables as called here)" if _proxy_configured() else "direct",
        "no-cidr": no_cidr,
        "curl": f"via proxy {env_proxy}" if env_proxy else requests_route.why,
        "own": "by its own proxy rules, not checked here" if _proxy_configured() else "direct",
    }
    return {attempt.name: by_rule[attempt.proxy] for attempt in attempts()}


def _notes(checks: list[ClientCheck]) -> list[str]:
    """Why clients that disagree with requests do, where it is known."""
    reference = next((c for c in checks if c.client == "requests"), None)
    if reference is None:
        return []
    by_name = {a.name: a for a in attempts()}
    cert_file = os.environ.get("SSL_CERT_FILE")
    requests_file = ca_variable_now()
    out = []
    for c in checks:
        if c.problem == reference.problem:
            continue
        attempt = by_name[c.client]
        because = ""
        if attempt.ignores_proxy_because and _proxy_configured():
            because = attempt.ignores_proxy_because
        elif attempt.proxy == "no-cidr" and _no_proxy_cidrs():
            because = f"{c.client} does not apply the CIDR entries of NO_PROXY (" + ", ".join(_no_proxy_cidrs()) + ")"
        elif attempt.reads == "openssl" and cert_file != requests_file:
            because = (
                f"{c.client} reads OpenSSL's default trust (SSL_CERT_FILE={cert_file or 'unset'}), requests reads "
                f"REQUESTS_CA_BUNDLE/certifi ({requests_file or 'certifi'})"
            )
        shown = "ok" if c.ok else c.problem
        base = "ok" if reference.ok else reference.problem
        out.append(f"{c.client} disagrees with requests ({shown} vs {base})" + (f": {because}" if because else ""))
    return out


def _unavailable(attempt: Attempt, token: str | None) -> str | None:
    """Why a client is left out, or None if it can run."""
    if attempt.module is not None and importlib.util.find_spec(attempt.module) is None:
        return "not installed"
    if attempt.needs_token and not token:
        return "needs an API token"
    if attempt.tool is not None and shutil.which(attempt.tool) is None:
        return "not on PATH"
    return None


def check_clients(
    target: Target, token: str | None, deadline: Deadline, secrets: list[str]
) -> tuple[list[ClientCheck], list[str]]:
    """One request per client; (checks, notes on where they disagree with requests)."""
    routes = _routes(target)
    proxy = choose_route(target.text).proxy
    ports = {target.port} | ({proxy.port} if proxy else set())
    checks: list[ClientCheck] = []
    request = _request(target, token)
    for attempt in attempts():
        if _unavailable(attempt, token) is not None:
            continue
        name, call, route = attempt.name, attempt.call, routes[attempt.name]
        try:
            seconds = deadline.left()
        except TimeoutError:
            checks.append(ClientCheck(name, "timeout", _NO_TIME, route))
            continue
        try:
            # Each client bounds every read, none the whole exchange: the attempt gets what is
            # left of the test's time, in total, and its connection is closed when that is up.
            answer = run_bounded(lambda: call(request, seconds), seconds, name, ports)  # noqa: B023
        except KnownFailure as exc:
            checks.append(ClientCheck(name, exc.code, redact(" ".join(str(exc).split()), secrets)[:_SNIPPET], route))
            continue
        except Exception as exc:  # noqa: BLE001 - every client fails its own way; each is classified
            checks.append(ClientCheck(name, problem_of(exc, target.host), _one_line(exc, secrets), route))
            continue
        if attempt.tls_only:
            checks.append(ClientCheck(name, None, _connected(answer, token), route))
            continue
        verdict = classify_http(
            answer.status, answer.reason, answer.content_type, answer.location, answer.body,
            token_sent=bool(token), secrets=secrets,
        )  # fmt: skip
        checks.append(ClientCheck(name, verdict.problem, verdict.step_detail, route))
    return checks, _notes(checks)


def _connected(answer: Answer, token: str | None) -> str:
    """What a client that only connects (`Attempt.tls_only`) showed: a verified connection, and the answer."""
    said = f"HTTP {answer.status}" if answer.status else "the server answered"
    return f"{said} over a verified connection" + ("; it cannot send the API request" if token else "")
