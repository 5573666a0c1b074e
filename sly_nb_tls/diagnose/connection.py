"""Test a connection step by step and say how to fix it; fetch the chain a server presents.

The two operations wire `_probe` (the network steps) to `_classify` (naming
the problem) and fill the report objects of `_results`.  Never retries,
never follows redirects, and the whole test is bounded by one `timeout`.
"""

from __future__ import annotations

import os
import ssl
import time
from typing import TYPE_CHECKING

from .._certs import Certificate
from ..errors import FetchError, UrlError
from .classify import (
    certificates_to_save,
    chain_warnings,
    classify_http,
    classify_verify,
    detect_interception,
    fix_for,
    missing_root_warning,
    needs_strict_retry,
    strict_warnings,
)
from .probe import Deadline, Probe, Target, connect_tls, http_exchange, strict_retry_ok, verifying_context
from .proxy import Route, choose_route, host_port
from .results import ChainReport, ConnectionReport, Interception, Step

if TYPE_CHECKING:
    from .issuers import Completion
from .._secrets import redact, secret_values

#: At most this long (and a third of what is left) for the direct connection that tells
#: whether the proxy re-signs the chain: behind a corporate proxy the direct path is often
#: blocked, and waiting for it must not eat the test's time.
_DIRECT_COMPARISON = 2.0

__all__ = ["fetch_chain", "test_connection"]


def _interception(target: Target, probe: Probe, deadline: Deadline, ctx: ssl.SSLContext) -> Interception | None:
    """Compare what the client sees through the proxy with a direct connection, where one gets through."""
    if probe.route.proxy is None or not probe.chain:
        return None
    direct_chain = None
    try:
        budget = min(_DIRECT_COMPARISON, deadline.left() / 3)
        direct = connect_tls(target, Deadline(budget), Route(None, "direct (to compare)"), ctx)
        direct.close()
        direct_chain = direct.chain or None
    except TimeoutError:
        pass  # no time left to compare: the names alone must do
    return detect_interception(probe.chain, direct_chain, proxied=True)


def _complete(probe: Probe, target: Target, route: Route, deadline: Deadline) -> Completion:
    from ..trust.extras import files_named_before_add, files_written
    from .issuers import complete_chain

    proxy_url = route.proxy.url if route.proxy else None
    return complete_chain(
        probe.chain, proxy_url=proxy_url, left=deadline.left, before=files_named_before_add(), ours=files_written(),
        origin=probe.address or target.host,
    )  # fmt: skip


def _where_the_root_is(completion: Completion) -> str:
    root = completion.root
    if root is not None and root.source != "presented":
        return f'; its root "{root.common_name}" was found: {root.source}'
    if root is None and completion.missing is not None:
        return f'; its root "{completion.missing}" was found nowhere here'
    return ""


def _strict_defects(chain: list[Certificate]) -> str:
    found = [f'"{c.common_name}": ' + "; ".join(c.strict_defects) for c in chain if c.strict_defects]
    return (" — " + " / ".join(found)) if found else ""


def _token_for(target: Target, token: str | None, send_token: bool) -> tuple[str | None, str]:
    """(the token to send, why API_TOKEN is not sent): API_TOKEN is the key of SERVER_ADDRESS's
    account, so it goes to that host and port only, unless the user asked (`token`, `send_token`)."""
    if token is not None:
        return token or None, ""
    env_token = os.environ.get("API_TOKEN") or None
    if env_token is None or send_token:
        return env_token, ""
    server = os.environ.get("SERVER_ADDRESS", "").strip()
    try:
        home = Target.parse(server) if server else None
    except UrlError:
        home = None  # a SERVER_ADDRESS that is no URL names no host to send the token to
    if home is not None and (home.host.lower(), home.port) == (target.host.lower(), target.port):
        return env_token, ""
    if home is not None:
        belongs = f"SERVER_ADDRESS ({host_port(home.host, home.port)})"
    else:
        belongs = "SERVER_ADDRESS, which is not set" if not server else "SERVER_ADDRESS, which is no https URL"
    return None, (
        f"the API check was skipped: API_TOKEN belongs to {belongs}, not to {host_port(target.host, target.port)}, "
        f"so it was not sent; to send it there anyway: %sly_tls test {target.text} --token"
    )


def _route_secrets(route: Route) -> list[str | None]:
    """What a proxy's credentials look like wherever they might be echoed: the password and the Basic value."""
    if route.proxy is None:
        return []
    authorization = route.proxy.authorization or ""
    return [route.proxy.password, authorization.partition(" ")[2] or None]


def test_connection(
    url: str | None = None,
    token: str | None = None,
    timeout: float = 10.0,
    *,
    proxy: str | None = None,
    clients: bool = False,
    send_token: bool = False,
) -> ConnectionReport:
    """Check the connection to a (Supervisely) server step by step.

    `url` defaults to SERVER_ADDRESS.  `token` defaults to API_TOKEN, which is sent
    only to the host and port of SERVER_ADDRESS (or anywhere, with ``send_token=True``):
    elsewhere the API step is skipped, and a warning says why.  The connection
    goes through the proxy requests would use for `url` (HTTPS_PROXY,
    ALL_PROXY, NO_PROXY); `proxy` overrides that ("" means direct).
    ``clients=True`` also sends one request with each HTTPS client importable
    here, each with its own trust and proxy rules (`.clients`).  Raises
    `UrlError` for a URL it cannot test (and `SlyTlsError` for a timeout that
    is not a positive number); every other outcome is in the returned report.
    """
    deadline = Deadline(timeout)
    target = Target.parse(url)
    route = choose_route(target.text, proxy)
    token, withheld = _token_for(target, token, send_token)
    secrets = secret_values(extra=[token, os.environ.get("API_TOKEN"), *_route_secrets(route)])
    started = time.perf_counter()
    report = ConnectionReport(url=target.text, route=route.why, proxy=route.proxy.shown if route.proxy else None)
    ctx = verifying_context()
    probe = connect_tls(target, deadline, route, ctx)
    problem, cause = probe.failure, probe.cause
    if problem is None and probe.verify_code is not None:
        problem, cause = classify_verify(probe.verify_code, probe.verify_message, probe.chain, target.host)
        if needs_strict_retry(probe.verify_code, probe.verify_message) and strict_retry_ok(target, deadline, route):
            problem, cause = classify_verify(
                probe.verify_code, probe.verify_message, probe.chain, target.host, strict_only=True
            )
    report.interception = _interception(target, probe, deadline, ctx)
    if problem in ("untrusted_root", "missing_intermediate") and report.interception is not None:
        # The proxy re-signed the chain: what is missing is its CA, not the server's (mitmproxy
        # presents its leaf alone, which would otherwise read as a missing intermediate).
        problem = "untrusted_root"
        cause = (
            f"the proxy {route.proxy.shown if route.proxy else ''} inspects TLS and presents a chain signed by "
            f'"{report.interception.ca}", which this kernel does not trust; the root to add is the proxy\'s CA '
            f'"{report.interception.ca}", not the server\'s'
        )
    completion = None
    if problem in ("untrusted_root", "missing_intermediate", "strict_rejected") and probe.chain:
        completion = _complete(probe, target, route, deadline)
        cause += _where_the_root_is(completion)
    if problem == "strict_rejected":
        cause += _strict_defects(completion.path if completion else probe.chain)
    report.completion = completion
    warnings: list[str] = []
    if problem is None and probe.sock is not None:
        try:
            answer = http_exchange(probe, target, token, deadline)
        finally:
            probe.close()
        verdict = classify_http(
            answer.status, answer.reason, answer.content_type, answer.location, answer.body,
            token_sent=bool(token), timed_out=answer.timed_out, error=answer.error, secrets=secrets,
            token_withheld=withheld,
        )  # fmt: skip
        probe.steps.append(Step(answer.name, verdict.step_ok, answer.elapsed, verdict.step_detail))
        problem, cause = verdict.problem, verdict.cause
        report.http_status, report.api_checked, report.login = answer.status, verdict.api_checked, verdict.login
        warnings = verdict.warnings
    report.steps = [Step(s.name, s.ok, s.elapsed, redact(s.detail, secrets)) for s in probe.steps]
    report.chain = probe.chain
    report.tls_version = probe.tls_version
    report.verified_by = probe.verified_chain[-1].common_name if probe.verified_chain else None
    report.problem = problem
    report.ok = problem is None
    report.cause = redact(cause, secrets)
    report.fix = (
        fix_for(problem, target, probe.chain, route, report.interception, probe.connect_status, completion)
        if problem
        else ""
    )
    report.warnings = chain_warnings(target.host, probe.chain, problem) + warnings
    if report.ok:
        report.warnings += strict_warnings(probe.verified_chain or probe.chain)
    if clients:
        from .attempts import check_clients

        report.clients, report.client_notes = check_clients(target, token, deadline, secrets)
    report.elapsed = time.perf_counter() - started
    return report


# pytest collects any top-level name starting with "test" from a user's test module, and
# `from sly_nb_tls import test_connection` there would make it run this as a test.
test_connection.__test__ = False  # type: ignore[attr-defined]


def fetch_chain(
    url: str | None = None,
    save: str | None = None,
    timeout: float = 10.0,
    overwrite: bool = False,
    *,
    proxy: str | None = None,
) -> ChainReport:
    """The certificates the clients here see for the server, exactly as sent; saved as PEM if `save`.

    Goes through the same proxy as `test_connection` (`proxy` overrides it,
    "" means direct), so behind a TLS-inspecting proxy this is the proxy's
    chain.  Uses a verifying handshake and reads the chain even when
    verification fails: verification is never switched off, and no data is
    exchanged.  Saving writes `trust_candidates(chain)` (the root CA it sends,
    or else its CA certificates, or else its leaf) and never overwrites a
    different file unless `overwrite`.
    """
    from ..trust.files import save_pem

    deadline = Deadline(timeout)
    target = Target.parse(url)
    route = choose_route(target.text, proxy)
    secrets = secret_values(extra=_route_secrets(route))
    ctx = verifying_context()
    probe = connect_tls(target, deadline, route, ctx)
    probe.close()
    if probe.failure is not None and not probe.chain:
        raise FetchError(redact(f"{target.text}: {probe.failure}: {probe.cause}", secrets))
    report = ChainReport(url=target.text, chain=probe.chain, verified=probe.verify_code is None)
    report.route, report.proxy = route.why, route.proxy.shown if route.proxy else None
    report.interception = _interception(target, probe, deadline, ctx)
    report.verify_message = probe.verify_message
    top = probe.chain[-1] if probe.chain else None
    if top is not None and not top.self_signed:
        report.completion = _complete(probe, target, route, deadline)
    report.warnings = missing_root_warning(probe.chain, report.completion)
    if save:
        to_save = certificates_to_save(probe.chain, report.completion)
        path = save_pem(save, "".join(c.pem for c in to_save).encode("ascii"), overwrite)
        report.saved_to, report.saved = str(path), to_save
    return report
