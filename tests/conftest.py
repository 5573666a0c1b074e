"""Shared fixtures: a controlled environment, real loopback servers, real PKI.

Every test starts with the CA variables either cleared or preset to the system
bundle (`ca_env`), never with whatever the machine happened to export, and
ends with sly_nb_tls reset and the ssl module checked to be pristine.

Fixtures and hooks only: pytest loads this file itself, and tests never import it
(test_architecture checks); the plain helpers live in tests/helpers.py.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import sly_nb_tls
from sly_nb_tls.demo import DemoServer

from .helpers import CA_VARIABLES, ORIGINAL_SSL, SYSTEM_BUNDLE, apply_env, ssl_hooks


@pytest.fixture(scope="session")
def _warm_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A per-user cache as a machine has it after its first `add`: the JDK's roots already read by
    keytool (0.3 s a run) and their truststore written.  Each test's fresh directory gets a copy,
    so its child processes do not each run keytool; the JVM's tests start cold on purpose."""
    from sly_nb_tls.clients import java

    saved = os.environ.get("SLY_NB_TLS_DIR")
    os.environ["SLY_NB_TLS_DIR"] = str(tmp_path_factory.mktemp("warm"))
    try:
        base = java.FAMILY.variables[0].base({})
        if base is not None:
            java.FAMILY.variables[0].encode(base.blocks, True)  # type: ignore[misc]
        return Path(os.environ["SLY_NB_TLS_DIR"]) / "cache"
    finally:
        os.environ.pop("SLY_NB_TLS_DIR")
        if saved is not None:
            os.environ["SLY_NB_TLS_DIR"] = saved


@pytest.fixture(autouse=True)
def _clean_state(tmp_path_factory: pytest.TempPathFactory, _warm_cache: Path) -> Iterator[None]:
    """Clear the CA variables, isolate the per-user dir and the audit log, reset afterwards, restore the environment.

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
    if _warm_cache.is_dir():
        # Hard links: cache files are replaced, never changed in place, so sharing them is safe.
        shutil.copytree(_warm_cache, Path(os.environ["SLY_NB_TLS_DIR"]) / "cache", copy_function=os.link)
    # The audit log goes to the test's own state dir, and no admin's policy applies unless a test sets one.
    os.environ["XDG_STATE_HOME"] = str(tmp_path_factory.mktemp("state"))
    os.environ.pop("SLY_NB_TLS_POLICY", None)
    yield
    if "sly_nb_tls.trust.extras" in sys.modules:
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
    """A demo server presenting leaf + intermediate, shared by the module's tests."""
    with DemoServer() as server:
        yield server


@pytest.fixture
def full_chain_server() -> Iterator[DemoServer]:
    """A demo server presenting leaf + intermediate + root, fresh for each test (tests change its responses)."""
    with DemoServer(presented="full") as server:
        yield server


@pytest.fixture
def files(tmp_path: Path) -> Path:
    return tmp_path
