"""Test a connection step by step and say how to fix it; fetch the chain a server presents.

In [1]: r = sly_nb_tls.test_connection("https://sly.corp")
In [2]: r.ok, r.problem
Out[2]: (False, 'untrusted_root')
In [3]: print(r)
✗ untrusted_root — https://sly.corp
  The server's chain ends at "Corp Root CA" (SHA-256 3F:9A:…), which this kernel does not trust.
  Fix: %sly_tls fetch https://sly.corp --save corp-chain.crt, check the fingerprint with your admin,
       then %sly_tls add corp-chain.crt
In [4]: sly_nb_tls.fetch_chain("https://sly.corp").chain     # what the server presents

The two operations wire `_probe` (the network steps) to `_classify` (naming
the problem) and fill the report objects of `_results`.  Never retries,
never follows redirects, and the whole test is bounded by one `timeout`.
"""

from __future__ import annotations

import os
import time

from ._classify import (
    chain_warnings,
    classify_http,
    classify_verify,
    fix_for,
    missing_root_warning,
    needs_strict_retry,
    strict_warnings,
    trust_candidates,
)
from ._errors import FetchError
from ._probe import Deadline, Target, connect_tls, http_exchange, strict_retry_ok
from ._results import ChainReport, ConnectionReport, Step
from ._secrets import redact, secret_values

__all__ = ["fetch_chain", "test_connection"]


def test_connection(url: str | None = None, token: str | None = None, timeout: float = 10.0) -> ConnectionReport:
    """Check the connection to a (Supervisely) server step by step.

    `url` defaults to SERVER_ADDRESS; `token` to API_TOKEN.  Raises `UrlError`
    for a URL it cannot test (and `SlyTlsError` for a timeout that is not a
    positive number); every other outcome is in the returned report.
    """
    deadline = Deadline(timeout)
    target = Target.parse(url)
    token = token if token is not None else (os.environ.get("API_TOKEN") or None)
    secrets = secret_values(extra=[token])
    started = time.perf_counter()
    report = ConnectionReport(url=target.text)
    probe = connect_tls(target, deadline)
    problem, cause = probe.failure, probe.cause
    if problem is None and probe.verify_code is not None:
        problem, cause = classify_verify(probe.verify_code, probe.verify_message, probe.chain, target.host)
        if needs_strict_retry(probe.verify_code, probe.verify_message) and strict_retry_ok(
            target, probe.address, deadline
        ):
            problem, cause = classify_verify(
                probe.verify_code, probe.verify_message, probe.chain, target.host, strict_only=True
            )
    warnings: list[str] = []
    if problem is None and probe.sock is not None:
        try:
            answer = http_exchange(probe, target, token, deadline)
        finally:
            probe.close()
        verdict = classify_http(
            answer.status, answer.reason, answer.content_type, answer.location, answer.body,
            token_sent=bool(token), timed_out=answer.timed_out, error=answer.error, secrets=secrets,
        )  # fmt: skip
        probe.steps.append(Step(answer.name, verdict.step_ok, answer.elapsed, verdict.step_detail))
        problem, cause = verdict.problem, verdict.cause
        report.http_status, report.api_checked, report.login = answer.status, verdict.api_checked, verdict.login
        warnings = verdict.warnings
    report.steps = probe.steps
    report.chain = probe.chain
    report.tls_version = probe.tls_version
    report.verified_by = probe.verified_chain[-1].common_name if probe.verified_chain else None
    report.problem = problem
    report.ok = problem is None
    report.cause = redact(cause, secrets)
    report.fix = fix_for(problem, target, probe.chain) if problem else ""
    report.warnings = chain_warnings(target.host, probe.chain, problem) + warnings
    if report.ok:
        report.warnings += strict_warnings(probe.verified_chain or probe.chain)
    if os.environ.get("HTTPS_PROXY") or os.environ.get("https_proxy"):
        report.warnings.append("HTTPS_PROXY is set: this test connects directly, while requests would use the proxy")
    report.elapsed = time.perf_counter() - started
    return report


def fetch_chain(
    url: str | None = None, save: str | None = None, timeout: float = 10.0, overwrite: bool = False
) -> ChainReport:
    """The certificates the server presents, exactly as sent; saved as PEM if `save`.

    Uses a verifying handshake and reads the chain even when verification
    fails: verification is never switched off, and no data is exchanged.
    Saving writes `trust_candidates(chain)` (the root CA the server sends, or
    else its CA certificates, or else its leaf) and never overwrites a
    different file unless `overwrite`.
    """
    from ._bundle import save_pem

    deadline = Deadline(timeout)
    target = Target.parse(url)
    probe = connect_tls(target, deadline)
    probe.close()
    if probe.failure is not None and not probe.chain:
        raise FetchError(f"{target.text}: {probe.failure}: {probe.cause}")
    report = ChainReport(url=target.text, chain=probe.chain, verified=probe.verify_code is None)
    report.verify_message = probe.verify_message
    report.warnings = missing_root_warning(probe.chain)
    if save:
        to_save = trust_candidates(probe.chain)
        path = save_pem(save, "".join(c.pem for c in to_save).encode("ascii"), overwrite)
        report.saved_to, report.saved = str(path), to_save
    return report
