"""Shared fixtures: a controlled environment, real loopback servers, real PKI.

Every test starts with the CA variables either cleared or preset to the system
bundle (`ca_env`), never with whatever the machine happened to export, and
ends with sly_nb_tls reset and the ssl module checked to be pristine.
"""

from __future__ import annotations

import os
import shutil
import ssl
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import sly_nb_tls
from sly_nb_tls._demo import DemoServer
from sly_nb_tls._environ import VARIABLES_READ

#: Every variable some client reads trust from (or that `test` reads): tests set or clear
#: all of them.  SSL_CERT_DIR and the proxy variables are read, never managed, by the package.
CA_VARIABLES = VARIABLES_READ
SYSTEM_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
PRESET = {
    "REQUESTS_CA_BUNDLE": SYSTEM_BUNDLE,
    "SSL_CERT_FILE": SYSTEM_BUNDLE,
    "CURL_CA_BUNDLE": SYSTEM_BUNDLE,
    "SSL_CERT_DIR": "/etc/ssl/certs",
    "GIT_SSL_CAINFO": SYSTEM_BUNDLE,
    "PIP_CERT": SYSTEM_BUNDLE,
    "NODE_EXTRA_CA_CERTS": SYSTEM_BUNDLE,
}


def ssl_hooks() -> tuple[object, ...]:
    """Everything sly_nb_tls may patch in the ssl module, as it is now."""
    return (
        ssl.SSLContext,
        ssl.SSLContext.load_default_certs,
        ssl.SSLContext.__dict__.get("load_verify_locations"),
        ssl.create_default_context,
        ssl._create_default_https_context,
    )


ORIGINAL_SSL = ssl_hooks()


def controlled_env(preset: bool, base: dict[str, str] | None = None) -> dict[str, str]:
    """A copy of `base` (default os.environ) with every CA variable set or cleared."""
    env = dict(os.environ if base is None else base)
    for var in CA_VARIABLES:
        env.pop(var, None)
    if preset:
        env.update(PRESET)
    return env


def apply_env(monkeypatch: pytest.MonkeyPatch, preset: bool) -> None:
    for var in CA_VARIABLES:
        monkeypatch.delenv(var, raising=False)
    if preset:
        for k, v in PRESET.items():
            monkeypatch.setenv(k, v)


@pytest.fixture(autouse=True)
def _clean_state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Clear the CA variables, isolate the per-user dir, reset afterwards, restore the environment.

    The whole environment is restored, not only what monkeypatch touched: `load_env`
    and tests playing "someone else" write os.environ directly, and such writes
    must not reach later tests or the notebooks' kernel.  This fixture does not use
    `monkeypatch`, so it is set up before a test's own monkeypatch and torn down
    after it: its restore is the last word.
    """
    saved = dict(os.environ)
    for var in CA_VARIABLES:
        os.environ.pop(var, None)
    os.environ["SLY_NB_TLS_DIR"] = str(tmp_path_factory.mktemp("userdir"))
    yield
    if "sly_nb_tls._trust" in sys.modules:
        sly_nb_tls.reset()
    os.environ.clear()
    os.environ.update(saved)
    assert ssl_hooks() == ORIGINAL_SSL, "a test left ssl hooks installed"


@pytest.fixture(params=["ca-vars-unset", "ca-vars-preset"])
def ca_env(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> bool:
    """Run the test twice: CA variables cleared, and preset to the system bundle."""
    preset = request.param == "ca-vars-preset"
    if preset and not os.path.exists(SYSTEM_BUNDLE):
        pytest.skip(f"{SYSTEM_BUNDLE} does not exist on this machine")
    apply_env(monkeypatch, preset)
    return preset


@pytest.fixture(scope="module")
def demo_server() -> Iterator[DemoServer]:
    with DemoServer() as server:
        yield server


@pytest.fixture
def files(tmp_path: Path) -> Path:
    return tmp_path


def has_tool(name: str) -> bool:
    return shutil.which(name) is not None
