"""Model-based test: random sequences of add / remove / env / reset / unload against a simple model.

After every step, `os.environ` and the ssl module must equal what the model
predicts, and a new client context must trust exactly the modelled extras
(from a pool of test CAs); `reset` and `%unload_ext` must return to the
starting state exactly.  Runs with the CA variables unset and preset.
"""

from __future__ import annotations

import os
import ssl
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test
from IPython.core.interactiveshell import InteractiveShell

import sly_nb_tls
from sly_nb_tls._sources import read_sources
from sly_nb_tls.demo import issue

from .helpers import ORIGINAL_SSL, apply_env, assert_each_variable_holds_its_base_plus, ssl_hooks, variables_we_set

pytestmark = pytest.mark.slow
POOL = [issue(f"Model CA {i}", ca=True).pem for i in range(5)]
POOL_SHA = [read_sources([pem]).certificates[0].sha256 for pem in POOL]


def _ctx_pool_trust() -> set[int]:
    import hashlib

    have = {hashlib.sha256(d).hexdigest() for d in ssl.create_default_context().get_ca_certs(binary_form=True)}
    return {i for i, sha in enumerate(POOL_SHA) if sha in have}


class TrustModel(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.start_env = dict(os.environ)
        self.expected_env = dict(os.environ)  # what the environment is without our changes
        self.extras: set[int] = set()
        self.folder = Path(tempfile.mkdtemp(prefix="sly-model-"))
        self.shell = InteractiveShell.instance()
        self.shell.run_line_magic("load_ext", "sly_nb_tls")

    def teardown(self) -> None:
        self.shell.run_line_magic("unload_ext", "sly_nb_tls")
        sly_nb_tls.reset()
        for key in set(os.environ) - set(self.start_env):
            del os.environ[key]
        os.environ.update(self.start_env)

    @rule(which=st.sets(st.integers(0, len(POOL) - 1), min_size=1, max_size=3), live=st.booleans())
    def add(self, which: set[int], live: bool) -> None:
        sly_nb_tls.add_certs(*(POOL[i] for i in sorted(which)), live=live)
        self.extras |= which

    @rule(data=st.data())
    def remove(self, data: st.DataObject) -> None:
        if not self.extras:
            with pytest.raises(sly_nb_tls.errors.UnknownCertificateError):
                sly_nb_tls.remove(POOL_SHA[0][:12])
            return
        i = data.draw(st.sampled_from(sorted(self.extras)))
        sly_nb_tls.remove(POOL_SHA[i][: data.draw(st.integers(8, 64))])
        self.extras.discard(i)

    @rule(i=st.integers(0, len(POOL) - 1), value=st.text("abcxyz0123", min_size=1, max_size=8), override=st.booleans())
    def env(self, i: int, value: str, override: bool) -> None:
        ca = self.folder / f"ca{i}.pem"
        ca.write_text(POOL[i])
        env_file = self.folder / "model.env"
        env_file.write_text(f"SLY_MODEL_KEY={value}\nSLY_EXTRA_CA_CERTS={ca}\n")
        sly_nb_tls.load_env(str(env_file), override=override)
        if override or "SLY_MODEL_KEY" not in self.expected_env:
            self.expected_env["SLY_MODEL_KEY"] = value
        self.extras.add(i)

    @rule()
    def reset(self) -> None:
        sly_nb_tls.reset()
        self.extras.clear()

    @rule()
    def unload_and_reload(self) -> None:
        self.shell.run_line_magic("unload_ext", "sly_nb_tls")
        self.shell.run_line_magic("load_ext", "sly_nb_tls")
        self.extras.clear()

    @rule()
    def bad_add_changes_nothing(self) -> None:
        with pytest.raises(sly_nb_tls.errors.CertificateSourceError):
            sly_nb_tls.add_certs(POOL[0], str(self.folder / "missing.crt"))

    @invariant()
    def environment_and_ssl_match_the_model(self) -> None:
        env = dict(os.environ)
        hooks = ssl_hooks()
        if not self.extras:
            assert env == self.expected_env
            assert hooks == ORIGINAL_SSL
            assert not sly_nb_tls.status().active
            assert _ctx_pool_trust() == set()
            return
        ours = set(variables_we_set())
        assert {k: v for k, v in env.items() if k not in ours} == {
            k: v for k, v in self.expected_env.items() if k not in ours
        }
        # each variable: exactly its readers' previous roots plus the extras, never a removed one
        assert_each_variable_holds_its_base_plus({POOL_SHA[i] for i in self.extras}, self.expected_env)
        assert hooks != ORIGINAL_SSL
        assert _ctx_pool_trust() == self.extras


@pytest.mark.slow  # the same on every Python: the main run covers it
@pytest.mark.parametrize("preset", [False, True], ids=["ca-vars-unset", "ca-vars-preset"])
def test_random_sequences_match_the_model(preset: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    apply_env(monkeypatch, preset)
    monkeypatch.delenv("SLY_MODEL_KEY", raising=False)
    run_state_machine_as_test(
        TrustModel,
        settings=settings(
            max_examples=25,
            stateful_step_count=10,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
