"""The client families: the contract each one keeps, requests' rule in one place, and a new one plugged in.

A family is one module in sly_nb_tls/clients/; everything else loops over them.
The last test proves it: a family written to a temporary folder (no edit
anywhere else) gets its own bundle from `add`, its row in `status --clients`,
and its variable back from `reset`, in a real child Python.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import certifi
import pytest

import sly_nb_tls
from sly_nb_tls import clients
from sly_nb_tls.clients.base import CaSet, CaVariable, Family, TrustView
from sly_nb_tls.clients.requests import ca_file_now
from sly_nb_tls.demo import DemoPKI

ROOT = Path(__file__).resolve().parents[1]
FAMILY_MODULES = sorted(
    p.stem for p in (ROOT / "sly_nb_tls" / "clients").glob("*.py") if "FAMILY = Family(" in p.read_text()
)


def test_every_family_module_is_found_and_in_order() -> None:
    found = clients.families()
    assert sorted(f.name.replace("-", "_") for f in found) == sorted(FAMILY_MODULES)
    assert [f.order for f in found] == sorted(f.order for f in found)
    assert found[0].name == "requests", "the SDK's own client comes first in status and test"


def test_each_variable_and_each_attempt_belongs_to_one_family() -> None:
    names = [v.name for v in clients.variables()]
    assert len(names) == len(set(names)), names
    attempts = [a.name for a in clients.attempts()]
    assert len(attempts) == len(set(attempts)), attempts
    assert {"requests", "urllib.request", "httpx", "curl"} <= set(attempts)


@pytest.mark.parametrize("family", clients.families(), ids=lambda f: f.name)
def test_each_family_keeps_the_contract(family: Family) -> None:
    for attempt in family.attempts:
        assert attempt.proxy in ("requests", "none", "no-cidr", "curl", "own"), attempt
        assert attempt.reads in ("requests", "openssl", "java"), attempt
        assert attempt.proxy != "none" or attempt.ignores_proxy_because, f"{attempt.name}: say why it reads no proxy"
    for target in (*family.shared_contexts, *family.cached_contexts, *family.ca_paths):
        # private names are data here, touched only by trust/live.py (tests/test_architecture.py)
        assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", target.attr), target
    rows = family.rows(TrustView())
    assert all(not row.sees_extras for row in rows), "nothing was added: no client can see extras"


@pytest.mark.parametrize("variable", clients.variables(), ids=lambda v: v.name)
def test_each_base_is_a_set_of_certificates_or_nothing(variable: CaVariable, tmp_path: Path) -> None:
    os.environ["HOME"] = str(tmp_path)  # no user's gitconfig, npmrc or wgetrc
    base = variable.base({})
    assert base is None or isinstance(base, CaSet)
    if base is not None and not variable.additive:
        assert base.blocks, f"{variable.name}: a replacing variable with an empty base would drop every root"


def test_requests_rule_is_requests_own(tmp_path: Path) -> None:
    """REQUESTS_CA_BUNDLE, else CURL_CA_BUNDLE, else certifi: compared with what requests itself picks."""
    import requests

    one, two = tmp_path / "one.pem", tmp_path / "two.pem"
    for path in (one, two):
        path.write_text(DemoPKI.create().root.pem)
    session = requests.Session()
    for env in ({}, {"CURL_CA_BUNDLE": str(two)}, {"REQUESTS_CA_BUNDLE": str(one), "CURL_CA_BUNDLE": str(two)}):
        for var in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
            os.environ.pop(var, None)
        os.environ.update(env)
        settings = session.merge_environment_settings("https://x.example", {}, None, None, None)
        expected = settings["verify"] if isinstance(settings["verify"], str) else certifi.where()
        assert ca_file_now() == expected, env


def test_a_new_family_is_one_new_file(tmp_path: Path) -> None:
    """Plug a family in from a folder of its own and watch add, status and reset use it."""
    plugin = tmp_path / "plugin"
    plugin.mkdir()
    (plugin / "example.py").write_text(
        textwrap.dedent(
            '''
            """An example client: EXAMPLE_CA_BUNDLE replaces its roots, certifi when unset."""
            import os
            from sly_nb_tls.clients.base import CaVariable, ClientTrust, Family, by_variable, certifi_set

            FAMILY = Family(
                name="example",
                order=99,
                variables=(CaVariable("EXAMPLE_CA_BUNDLE", "the example client", lambda original: certifi_set()),),
                rows=lambda view: [by_variable("example", view, "EXAMPLE_CA_BUNDLE", default="certifi")],
            )
            '''
        )
    )
    (tmp_path / "ca.pem").write_text(DemoPKI.create().root.pem)
    child = textwrap.dedent(
        f"""
        import os, sys
        import sly_nb_tls.clients as clients
        clients.__path__.append({str(plugin)!r})
        import sly_nb_tls
        from sly_nb_tls._pem import certificate_blocks
        assert "EXAMPLE_CA_BUNDLE" not in os.environ
        sly_nb_tls.add_certs({str(tmp_path / "ca.pem")!r})
        bundle = os.environ["EXAMPLE_CA_BUNDLE"]
        import certifi
        shas = {{sha for sha, _ in certificate_blocks(open(bundle, "rb").read())}}
        base = {{sha for sha, _ in certificate_blocks(open(certifi.where(), "rb").read())}}
        extra = {{sha for sha, _ in certificate_blocks(open({str(tmp_path / "ca.pem")!r}, "rb").read())}}
        assert shas == base | extra, "its bundle is its base plus the extras, nothing else"
        rows = {{r.client: r for r in sly_nb_tls.status(clients=True).clients}}
        assert rows["example"].sees_extras is True, rows["example"]
        assert "EXAMPLE_CA_BUNDLE" in str(sly_nb_tls.status())
        sly_nb_tls.reset()
        assert "EXAMPLE_CA_BUNDLE" not in os.environ
        print("plugged in")
        """
    )
    env = {k: v for k, v in os.environ.items() if k not in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "CURL_CA_BUNDLE")}
    out = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith("plugged in")


def test_a_swapped_shared_context_is_counted_under_its_library() -> None:
    """requests 2.32.0-2.32.4 builds one context at import (`adapters._preloaded_ssl_context`): a
    client holding the copy `add` swapped in must be named "requests" when `holding` says what to
    recreate after a `remove`, not after the module that built it."""
    import ssl

    import requests.adapters

    adapters: Any = requests.adapters
    had = "_preloaded_ssl_context" in vars(adapters)
    saved = vars(adapters).get("_preloaded_ssl_context")
    adapters._preloaded_ssl_context = ssl.create_default_context()  # what those versions hold
    try:
        first, second = DemoPKI.create().root.pem, DemoPKI.create().root.pem
        sly_nb_tls.add_certs(first, second)
        held_by_a_client = adapters._preloaded_ssl_context  # a session made now keeps this one
        sly_nb_tls.remove(sly_nb_tls.status().certificates[0])
        assert adapters._preloaded_ssl_context is not held_by_a_client, "a fresh copy without the removed one"
        counts = sly_nb_tls.status().holding
        assert counts.get("requests") == 1 and "sly_nb_tls" not in counts, counts
    finally:
        sly_nb_tls.reset()
        if had:
            adapters._preloaded_ssl_context = saved
        else:
            del adapters._preloaded_ssl_context
