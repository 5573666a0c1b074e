"""Test a connection step by step and say how to fix it; fetch the chain a server presents.

The two operations wire `probe` (the network steps) to `classify` (naming
the problem), `defects` (the chain's warnings) and `remedies` (what to do),
and fill the report objects of `results`.  Never retries, never follows
redirects, and the whole test is bounded by one `timeout`.
"""

from __future__ import annotations

import os
import ssl
import time
from typing import TYPE_CHECKING

from .._certs import Certificate
from .._fixes import command, say, where
from .._secrets import redact, secret_values
from ..errors import FetchError, UrlError
from .anchors import (
    expired_anchor,
    expired_anchor_fix,
    expiry_notes,
    extras_in_use,
    find_rotation,
    trusted_extras,
    warning_days,
)
from .classify import classify_http, classify_verify, needs_strict_retry
from .deadline import Deadline
from .defects import chain_warnings, missing_root_warning, strict_warnings
from .interception import detect_interception
from .issuers import complete_chain, known_files
from .probe import Probe, connect_tls, http_exchange, strict_retry_ok, verifying_context
from .proxy import Route, choose_route, host_port
from .remedies import certificates_to_save, fix_for
from .results import ChainReport, ConnectionReport, Interception, Step
from .target import Target

if TYPE_CHECKING:
    from .issuers import Completion

#: At most this long (and a third of what is left) for the direct connection that tells
#: whether the proxy re-signs the chain: behind a corporate proxy the direct path is often
#: blocked, and waiting for it must not eat the test's time.
_DIRECT_COMPARISON = 2.0

#: the verdicts where the chain ends at (or names) a CA that is not trusted: where a rotated CA shows
_ENDS_UNTRUSTED = ("untrusted_root", "missing_intermediate")

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
    known = known_files()
    proxy_url = route.proxy.url if route.proxy else None
    return complete_chain(
        probe.chain, proxy_url=proxy_url, left=deadline.left, before=known.before, ours=known.ours,
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
        f"so it was not sent; to send it there anyway: {say(command('test', target.text, token=True))}"
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
    problem, cause = _tls_verdict(probe, target, deadline, route)
    report.interception = _interception(target, probe, deadline, ctx)
    problem, cause = _blame_the_proxy(problem, cause, report.interception, route)
    report.completion, cause = _look_for_the_root(problem, cause, probe, target, route, deadline)
    warnings: list[str] = []
    if problem is None and probe.sock is not None:
        problem, cause, warnings = _http_verdict(report, probe, target, token, deadline, secrets, withheld)
    _conclude(report, probe, target, route, (problem, cause), warnings, secrets)
    _weigh_extras(report, probe, target)
    if clients:
        from .attempts import check_clients

        report.clients, report.client_notes = check_clients(target, token, deadline, secrets)
    report.elapsed = time.perf_counter() - started
    return report


def _tls_verdict(probe: Probe, target: Target, deadline: Deadline, route: Route) -> tuple[str | None, str]:
    """What the connection and handshake say: the probe's failure, or its failed verification named."""
    problem, cause = probe.failure, probe.cause
    if problem is None and probe.verify_code is not None:
        problem, cause = classify_verify(probe.verify_code, probe.verify_message, probe.chain, target.host)
        if needs_strict_retry(probe.verify_code, probe.verify_message) and strict_retry_ok(target, deadline, route):
            problem, cause = classify_verify(
                probe.verify_code, probe.verify_message, probe.chain, target.host, strict_only=True
            )
    return problem, cause


def _blame_the_proxy(
    problem: str | None, cause: str, interception: Interception | None, route: Route
) -> tuple[str | None, str]:
    """Does a proxy re-sign the chain?  Then what is missing is its CA, not the server's."""
    if problem not in ("untrusted_root", "missing_intermediate") or interception is None:
        return problem, cause
    # mitmproxy presents its leaf alone, which would otherwise read as a missing intermediate.
    return "untrusted_root", (
        f"the proxy {route.proxy.shown if route.proxy else ''} inspects TLS and presents a chain signed by "
        f'"{interception.ca}", which {where()} does not trust; the root to add is the proxy\'s CA '
        f'"{interception.ca}", not the server\'s'
    )


def _look_for_the_root(
    problem: str | None, cause: str, probe: Probe, target: Target, route: Route, deadline: Deadline
) -> tuple[Completion | None, str]:
    """When trust is missing, complete the chain; where its root is (or that it is nowhere) joins the cause."""
    completion = None
    if problem in ("untrusted_root", "missing_intermediate", "strict_rejected") and probe.chain:
        completion = _complete(probe, target, route, deadline)
        cause += _where_the_root_is(completion)
    if problem == "strict_rejected":
        cause += _strict_defects(completion.path if completion else probe.chain)
    return completion, cause


def _http_verdict(
    report: ConnectionReport,
    probe: Probe,
    target: Target,
    token: str | None,
    deadline: Deadline,
    secrets: list[str],
    withheld: str,
) -> tuple[str | None, str, list[str]]:
    """Over the verified connection, ask the API; (problem, cause, warnings) of its answer, noted on `report`."""
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
    report.http_status, report.api_checked, report.login = answer.status, verdict.api_checked, verdict.login
    return verdict.problem, verdict.cause, verdict.warnings


def _conclude(
    report: ConnectionReport,
    probe: Probe,
    target: Target,
    route: Route,
    verdict: tuple[str | None, str],
    warnings: list[str],
    secrets: list[str],
) -> None:
    """Fill in what the test found: the steps and cause (redacted), the fix, and the chain's warnings."""
    problem, cause = verdict
    report.steps = [Step(s.name, s.ok, s.elapsed, redact(s.detail, secrets)) for s in probe.steps]
    report.chain = probe.chain
    report.tls_version = probe.tls_version
    report.verified_by = probe.verified_chain[-1].common_name if probe.verified_chain else None
    report.problem = problem
    report.ok = problem is None
    report.cause = redact(cause, secrets)
    report.remedy = (
        fix_for(problem, target, probe.chain, route, report.interception, probe.connect_status, report.completion)
        if problem
        else None
    )
    report.warnings = chain_warnings(target.host, probe.chain, problem) + warnings
    if report.ok:
        report.warnings += strict_warnings(probe.verified_chain or probe.chain)


def _weigh_extras(report: ConnectionReport, probe: Probe, target: Target) -> None:
    """What the extras trusted here say of the chain: one re-keyed under the same name (then the cause and
    fix say so), one the verdict "expired" is about, and those in use that expire within the policy's days."""
    extras = trusted_extras()
    if not extras or not probe.chain:
        return
    path = report.completion.path if report.completion is not None and report.completion.path else probe.chain
    if report.problem in _ENDS_UNTRUSTED:
        report.rotation = find_rotation(path, extras)
    if report.rotation is not None:
        report.cause += f"; {report.rotation.what} trusted here has that name but another key: re-keyed or impersonated"
        report.remedy = report.rotation.remedy(target.text)
    used = extras_in_use(probe.verified_chain or path, extras)
    equivalent = next((c for c in used if c.original_sha256), None)
    if report.ok and equivalent is not None:  # trusted in place of a root strict checks reject (`_anchors`)
        report.verified_by = (
            f"{report.verified_by or equivalent.common_name}, via the equivalent anchor of the root SHA-256 "
            f"{_short_sha(equivalent.original_sha256)}… ({equivalent.corrections})"
        )
    anchor = expired_anchor(probe.chain, used) if report.problem == "expired" else None
    if anchor is not None:  # OpenSSL says "certificate has expired" of the trusted CA too
        report.cause, report.remedy = expired_anchor_fix(anchor)
    report.warnings += expiry_notes([c for c in used if c != anchor], warning_days())


def _short_sha(sha256: str) -> str:
    return ":".join(sha256[i : i + 2] for i in range(0, 16, 2)).upper()


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
    from .._writefile import save_pem

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
    extras = trusted_extras()
    up = report.completion.path if report.completion is not None and report.completion.path else probe.chain
    if extras and not report.verified:
        report.rotation = find_rotation(up, extras)
    if extras:
        report.warnings += expiry_notes(extras_in_use(probe.verified_chain or up, extras), warning_days())
    report.to_trust = certificates_to_save(probe.chain, report.completion)
    if save:
        path = save_pem(save, "".join(c.pem for c in report.to_trust).encode("ascii"), overwrite)
        report.saved_to, report.saved = str(path), report.to_trust
    return report


# pytest collects any top-level name starting with "test" from a user's test module, and
# `from sly_nb_tls import test_connection` there would make it run this as a test.
test_connection.__test__ = False  # type: ignore[attr-defined]
