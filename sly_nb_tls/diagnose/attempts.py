"""Ask each HTTPS client importable here to reach the server, each with its own trust and proxy rules.

`test` answers for requests, which the Supervisely SDK uses; other clients
read trust and proxies their own way (httpx ignores CIDR entries in NO_PROXY,
aiohttp and urllib3 ignore proxy variables unless told, curl and urllib read
``SSL_CERT_FILE``).  Here each one sends one request, as a user calls it —
``POST users.me`` with the token, or ``GET /`` without — never retrying, never
following redirects, all within what is left of the test's deadline.  Each
outcome gets the same problem codes as `test`.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

from .._bounded import MAX_BODY, capped, run_bounded
from .._secrets import redact
from .classify import classify_http, classify_verify
from .probe import USERS_ME, Deadline, Target
from .proxy import choose_route
from .results import ClientCheck

__all__ = ["check_clients", "problem_of"]

_SNIPPET = 160
#: a client attempt that ran out of the test's time
_NO_TIME = "no time left within the test's timeout"


class _Answer:
    """What a client got back, whatever the client."""

    def __init__(self, status: int, body: bytes = b"", reason: str = "", content_type: str = "", location: str = ""):
        self.status, self.body, self.reason = status, body, reason
        self.content_type, self.location = content_type, location


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


# -- the clients ---------------------------------------------------------------------------
def _request_parts(target: Target, token: str | None) -> tuple[str, str, dict[str, str], bytes | None]:
    if token:
        headers = {"x-api-key": token, "Content-Type": "application/json"}
        return "POST", target.text + USERS_ME, headers, b"{}"
    return "GET", target.text + "/", {}, None


def _via_requests(target: Target, token: str | None, seconds: float) -> _Answer:
    import requests

    method, url, headers, body = _request_parts(target, token)
    with requests.request(method, url, headers=headers, data=body, timeout=seconds, allow_redirects=False,
                          stream=True) as r:  # fmt: skip
        return _Answer(r.status_code, capped(r.iter_content(65536)), r.reason or "", r.headers.get("Content-Type", ""),
                       r.headers.get("Location", ""))  # fmt: skip


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """urllib's redirect handler copies every header (the token too) to wherever a 3xx points.
    Given in place of it, this one declines, and urllib raises the 3xx as an HTTPError."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _via_urllib(target: Target, token: str | None, seconds: float) -> _Answer:
    method, url, headers, body = _request_parts(target, token)
    request = urllib.request.Request(url, data=body, headers=headers, method=method)
    # urlopen's own handlers (proxies from the environment, the default context), minus redirects
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=seconds) as r:
            return _Answer(r.status, r.read(MAX_BODY), r.reason, r.headers.get("Content-Type", ""))
    except urllib.error.HTTPError as e:  # an answer, not a failure to connect
        return _Answer(e.code, e.read(MAX_BODY), str(e.reason), e.headers.get("Content-Type", ""),
                       e.headers.get("Location", ""))  # fmt: skip


def _via_urllib3(target: Target, token: str | None, seconds: float) -> _Answer:
    import urllib3

    method, url, headers, body = _request_parts(target, token)
    with urllib3.PoolManager(retries=False, timeout=seconds) as pool:
        r = pool.request(method, url, headers=headers, body=body, redirect=False, preload_content=False)
        try:
            return _Answer(r.status, capped(r.stream(65536)), r.reason or "", r.headers.get("Content-Type", ""),
                           r.headers.get("Location", ""))  # fmt: skip
        finally:
            r.release_conn()


def _via_httpx(target: Target, token: str | None, seconds: float) -> _Answer:
    import httpx

    method, url, headers, body = _request_parts(target, token)
    with httpx.Client(timeout=seconds, follow_redirects=False) as client:
        with client.stream(method, url, headers=headers, content=body) as r:
            return _Answer(r.status_code, capped(r.iter_bytes(65536)), r.reason_phrase,
                           r.headers.get("Content-Type", ""), r.headers.get("Location", ""))  # fmt: skip


def _via_aiohttp(target: Target, token: str | None, seconds: float) -> _Answer:
    import aiohttp

    method, url, headers, body = _request_parts(target, token)

    async def go() -> _Answer:
        timeout = aiohttp.ClientTimeout(total=seconds)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            async with session.request(method, url, headers=headers, data=body, allow_redirects=False) as r:
                # read(n) returns what has arrived, up to n: a body in several chunks needs the loop
                body_read = bytearray()
                async for chunk in r.content.iter_chunked(65536):
                    body_read += chunk
                    if len(body_read) >= MAX_BODY:
                        break
                return _Answer(r.status, bytes(body_read[:MAX_BODY]), r.reason or "",
                               r.headers.get("Content-Type", ""), r.headers.get("Location", ""))  # fmt: skip

    # `check_clients` runs each client in a thread of its own, where no event loop runs yet
    # (a notebook's kernel runs one in its main thread).
    return asyncio.run(go())


_SDK_CHILD = """
import json, os, sys
import supervisely as sly
from sly_nb_tls.diagnose.attempts import problem_of
url, host = sys.argv[1], sys.argv[2]
api = sly.Api(url, os.environ["SLY_NB_TLS_CHECK_TOKEN"], retry_count=1, retry_sleep_sec=0)
try:
    # What api.user.get_my_info() sends; raise_error=True makes the SDK surface the error
    # instead of logging it and raising a bare RetryError, and it does not retry.
    response = api.post("users.me", {}, raise_error=True)
    print(json.dumps({"status": response.status_code, "login": response.json().get("login")}))
except Exception as exc:
    status = getattr(getattr(exc, "response", None), "status_code", None)
    print(json.dumps({"error": f"{type(exc).__name__}: {exc}", "status": status, "problem": problem_of(exc, host)}))
"""


def _via_sdk(target: Target, token: str | None, seconds: float) -> _Answer:
    """In a child process: ``import supervisely`` applies SLY_EXTRA_CA_CERTS and rewrites
    REQUESTS_CA_BUNDLE, which a diagnosis must not do to this kernel."""
    env = dict(os.environ, SLY_NB_TLS_CHECK_TOKEN=token or "")
    try:
        out = subprocess.run([sys.executable, "-c", _SDK_CHILD, target.text, target.host], env=env,
                             capture_output=True, text=True, timeout=seconds)  # fmt: skip
    except subprocess.TimeoutExpired:
        raise _KnownFailure("timeout", "the SDK did not answer in time (it passes no timeout to requests)") from None
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        raise RuntimeError(f"the SDK child printed no result: {out.stderr.strip()[-300:]}")
    result = json.loads(lines[-1])
    if "error" not in result:
        return _Answer(200, json.dumps({"login": result.get("login")}).encode(), "OK", "application/json")
    if result.get("status"):
        return _Answer(int(result["status"]), b"", result["error"])
    raise _KnownFailure(result["problem"], result["error"])


class _KnownFailure(Exception):
    """A failure already classified (by curl's exit code, or inside a child process)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


# curl's exit codes (man curl, EXIT CODES) for what `test` calls a problem
_CURL_CODES = {5: "proxy_unreachable", 6: "dns_failure", 7: "connection_refused", 28: "timeout",
               35: "not_tls", 52: "not_supervisely", 56: "proxy_rejected", 60: "untrusted_root",
               97: "proxy_unreachable"}  # fmt: skip


def _via_curl(target: Target, token: str | None, seconds: float) -> _Answer:
    method, url, headers, body = _request_parts(target, token)
    # The headers (the token among them) go through stdin, never the command line: other users
    # of a shared machine can read every process's arguments.  The answer's headers come first
    # on stdout (-D -), so a body over the cap can be cut off without losing the status.
    args = ["curl", "-sS", "-D", "-", "--suppress-connect-headers", "-o", "-", "--max-time", f"{seconds:.3f}",
            "-X", method, "-H", "@-"]  # fmt: skip
    if body is not None:
        args += ["--data-binary", body.decode()]
    header_lines = "".join(f"{k}: {v}\n" for k, v in headers.items())
    with subprocess.Popen([*args, url], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        proc.stdin.write(header_lines.encode())
        proc.stdin.close()
        stdout: Any = proc.stdout  # a BufferedReader: read1 returns what is there, without waiting for more
        cap = MAX_BODY + 65536  # the body, and room for the headers before it
        out = capped(iter(lambda: stdout.read1(65536), b""), cap)
        cut = len(out) >= cap
        if cut:
            proc.kill()  # over the cap: the rest is not wanted
        message = proc.stderr.read(4096).decode("utf-8", "replace").strip()
        returncode = proc.wait()
    if returncode != 0 and not cut:
        code = _CURL_CODES.get(returncode, "http_error")
        if returncode == 56 and "407" in message:
            code = "proxy_auth_required"
        if returncode == 60 and ("expired" in message or "mismatch" in message or "match target" in message):
            code = "expired" if "expired" in message else "hostname_mismatch"
        raise _KnownFailure(code, f"curl exit {returncode}: {message}")
    return _curl_answer(out)


def _curl_answer(out: bytes) -> _Answer:
    """The status, headers and body of what ``curl -D - -o -`` printed (1xx header blocks skipped)."""
    while True:
        head, _, out = out.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
        if not 100 <= status < 200 or not out:
            break
    fields = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
    reason = parts[2] if len(parts) > 2 else ""
    return _Answer(status, out[:MAX_BODY], reason, fields.get("content-type", ""), fields.get("location", ""))


# -- routes and disagreements ---------------------------------------------------------------
def _proxy_configured() -> bool:
    return any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"))


def _no_proxy_cidrs() -> list[str]:
    from requests.utils import is_valid_cidr

    value = os.environ.get("no_proxy") or os.environ.get("NO_PROXY") or ""
    return [e for e in value.replace(" ", "").split(",") if e and is_valid_cidr(e)]


def _routes(target: Target) -> dict[str, str]:
    """How each client routes to `target` as configured here (each by its own rules)."""
    requests_route = choose_route(target.text)
    env_proxy = requests_route.proxy.shown if requests_route.proxy else None
    ignores = "direct (it reads no proxy variables)" if _proxy_configured() else "direct"
    httpx_route = requests_route.why
    cidrs = _no_proxy_cidrs()
    if requests_route.proxy is None and cidrs and _proxy_configured():
        from requests.utils import get_environ_proxies, select_proxy

        proxied = select_proxy(target.text, get_environ_proxies(target.text, no_proxy=""))
        if proxied:
            httpx_route = (
                f"via proxy {choose_route(target.text, proxied).proxy} (httpx ignores CIDR entries in NO_PROXY)"
            )
    return {
        "requests": requests_route.why,
        "urllib.request": requests_route.why,
        "urllib3": ignores,
        "httpx": httpx_route,
        "aiohttp": "direct (without trust_env=True it reads no proxy variables)" if _proxy_configured() else "direct",
        "supervisely Api": requests_route.why,
        "curl": f"via proxy {env_proxy}" if env_proxy else requests_route.why,
    }


def _notes(checks: list[ClientCheck]) -> list[str]:
    """Why clients that disagree with requests do, where it is known."""
    reference = next((c for c in checks if c.client == "requests"), None)
    if reference is None:
        return []
    out = []
    cert_file = os.environ.get("SSL_CERT_FILE")
    requests_file = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    for c in checks:
        if c.problem == reference.problem:
            continue
        because = ""
        if c.client in ("aiohttp", "urllib3") and _proxy_configured():
            because = (
                f"{c.client} ignores HTTPS_PROXY as it is called here (aiohttp: trust_env=True; urllib3: ProxyManager)"
            )
        elif c.client == "httpx" and _no_proxy_cidrs():
            because = "httpx does not apply the CIDR entries of NO_PROXY (" + ", ".join(_no_proxy_cidrs()) + ")"
        elif c.client in ("httpx", "urllib.request", "urllib3", "aiohttp", "curl") and cert_file != requests_file:
            because = (
                f"{c.client} reads OpenSSL's default trust (SSL_CERT_FILE={cert_file or 'unset'}), requests reads "
                f"REQUESTS_CA_BUNDLE/certifi ({requests_file or 'certifi'})"
            )
        shown = "ok" if c.ok else c.problem
        base = "ok" if reference.ok else reference.problem
        out.append(f"{c.client} disagrees with requests ({shown} vs {base})" + (f": {because}" if because else ""))
    return out


_CLIENTS: list[tuple[str, str | None, Callable[[Target, str | None, float], _Answer]]] = [
    ("requests", "requests", _via_requests),
    ("urllib.request", None, _via_urllib),
    ("urllib3", "urllib3", _via_urllib3),
    ("httpx", "httpx", _via_httpx),
    ("aiohttp", "aiohttp", _via_aiohttp),
    ("supervisely Api", "supervisely", _via_sdk),
    ("curl", None, _via_curl),
]


def _available(name: str, module: str | None, token: str | None) -> str | None:
    """Why a client is left out, or None if it can run."""
    if module is not None and importlib.util.find_spec(module) is None:
        return "not installed"
    if name == "supervisely Api" and not token:
        return "needs an API token"
    if name == "curl" and shutil.which("curl") is None:
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
    for name, module, call in _CLIENTS:
        if _available(name, module, token) is not None:
            continue
        route = routes[name]
        try:
            seconds = deadline.left()
        except TimeoutError:
            checks.append(ClientCheck(name, "timeout", _NO_TIME, route))
            continue
        try:
            # Each client bounds every read, none the whole exchange: the attempt gets what is
            # left of the test's time, in total, and its connection is closed when that is up.
            answer = run_bounded(lambda: call(target, token, seconds), seconds, name, ports)  # noqa: B023
        except _KnownFailure as exc:
            checks.append(ClientCheck(name, exc.code, redact(" ".join(str(exc).split()), secrets)[:_SNIPPET], route))
            continue
        except Exception as exc:  # noqa: BLE001 - every client fails its own way; each is classified
            checks.append(ClientCheck(name, problem_of(exc, target.host), _one_line(exc, secrets), route))
            continue
        verdict = classify_http(
            answer.status, answer.reason, answer.content_type, answer.location, answer.body,
            token_sent=bool(token), secrets=secrets,
        )  # fmt: skip
        checks.append(ClientCheck(name, verdict.problem, verdict.step_detail, route))
    return checks, _notes(checks)
