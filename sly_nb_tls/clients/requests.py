"""requests and the Supervisely SDK: REQUESTS_CA_BUNDLE, else CURL_CA_BUNDLE, else certifi."""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
from collections.abc import Mapping

from .._bounded import capped
from .base import (
    Answer,
    Attempt,
    CaSet,
    CaVariable,
    ClientTrust,
    Family,
    KnownFailure,
    Request,
    SharedContext,
    TrustView,
    by_variable,
    certifi_set,
    importable,
)

__all__ = ["FAMILY", "ca_file_now", "ca_variable_now"]


def ca_variable_now(env: Mapping[str, str] | None = None) -> str | None:
    """The file a variable gives requests right now (REQUESTS_CA_BUNDLE, else CURL_CA_BUNDLE); None:
    certifi.  The one place requests' rule is written."""
    env = os.environ if env is None else env
    return next((env[var] for var in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE") if env.get(var)), None)


def ca_file_now(env: Mapping[str, str] | None = None) -> str:
    """The CA file (or directory) requests would use right now."""
    named = ca_variable_now(env)
    if named is not None:
        return named
    import certifi

    return certifi.where()


def _base(original: Mapping[str, str | None]) -> CaSet | None:
    # Unset, requests falls back to CURL_CA_BUNDLE, then certifi.
    curl = original.get("CURL_CA_BUNDLE")
    return CaSet.of_files(f"preset CURL_CA_BUNDLE: {curl}", curl) if curl else certifi_set()


def _additive(original: Mapping[str, str | None]) -> CaSet | None:
    return CaSet("nothing (additive)")


def _rows(view: TrustView) -> list[ClientTrust]:
    rows = []
    if importable("requests"):
        rows.append(by_variable("requests", view, "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", default="certifi"))
    if importable("supervisely"):
        rows.append(by_variable("supervisely SDK", view, "REQUESTS_CA_BUNDLE", default="certifi"))
    return rows


def _preloaded_context() -> ssl.SSLContext:
    """What requests 2.32.0-2.32.4 builds at import (the extras are added by `live`)."""
    from requests import utils
    from urllib3.util.ssl_ import create_urllib3_context

    ctx = create_urllib3_context()
    ctx.load_verify_locations(utils.extract_zipped_paths(utils.DEFAULT_CA_BUNDLE_PATH))  # type: ignore[no-untyped-call]
    return ctx


def _via_requests(request: Request, seconds: float) -> Answer:
    import requests

    with requests.request(request.method, request.url, headers=dict(request.headers), data=request.body,
                          timeout=seconds, allow_redirects=False, stream=True) as r:  # fmt: skip
        return Answer(r.status_code, capped(r.iter_content(65536)), r.reason or "", r.headers.get("Content-Type", ""),
                      r.headers.get("Location", ""))  # fmt: skip


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


def _via_sdk(request: Request, seconds: float) -> Answer:
    """In a child process: ``import supervisely`` applies SLY_EXTRA_CA_CERTS and rewrites
    REQUESTS_CA_BUNDLE, which a diagnosis must not do to this kernel."""
    env = dict(os.environ, SLY_NB_TLS_CHECK_TOKEN=request.headers.get("x-api-key", ""))
    try:
        out = subprocess.run([sys.executable, "-c", _SDK_CHILD, request.server, request.host], env=env,
                             capture_output=True, text=True, timeout=seconds)  # fmt: skip
    except subprocess.TimeoutExpired:
        raise KnownFailure("timeout", "the SDK did not answer in time (it passes no timeout to requests)") from None
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        raise RuntimeError(f"the SDK child printed no result: {out.stderr.strip()[-300:]}")
    result = json.loads(lines[-1])
    if "error" not in result:
        return Answer(200, json.dumps({"login": result.get("login")}).encode(), "OK", "application/json")
    if result.get("status"):
        return Answer(int(result["status"]), b"", result["error"])
    raise KnownFailure(result["problem"], result["error"])


FAMILY = Family(
    name="requests",
    order=10,
    variables=(
        CaVariable("REQUESTS_CA_BUNDLE", "requests, the SDK, pip", _base, in_process=True),
        CaVariable("SLY_EXTRA_CA_CERTS", "the SDK at import", _additive, additive=True),
    ),
    rows=_rows,
    attempts=(
        Attempt("requests", _via_requests, module="requests"),
        Attempt("supervisely Api", _via_sdk, module="supervisely", needs_token=True, slow=True),
    ),
    shared_contexts=(
        SharedContext("requests preloaded context", "requests.adapters", "_preloaded_ssl_context", _preloaded_context),
    ),
    default_stores=lambda: [certifi_set().files[0]] if certifi_set().files else [],
    default_sets=lambda: [certifi_set()],
)
