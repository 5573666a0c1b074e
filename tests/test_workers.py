"""Distributed workers trust what the notebook trusts: a real Dask cluster and a real local Ray.

The cluster is started *before* the CA is added, so nothing but the plugin can reach
its workers; each task asks the demo server from the worker's own process.  An
in-process cluster shares the kernel's process: its teardown must leave the kernel's
own trust as it found it.
"""

from __future__ import annotations

import os
import pickle
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import sly_nb_tls
from sly_nb_tls._pem import certificate_blocks
from sly_nb_tls.demo import DemoServer

from .helpers import pem_shas

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
#: Set by `base_hook` in the process it runs in.
BASE_MARK = "SLY_NB_TLS_TEST_BASE_HOOK"


def reach(url: str) -> str:
    """Run on a worker: what requests says about `url`, from that process."""
    import requests

    try:
        return str(requests.get(url, timeout=10).status_code)
    except requests.exceptions.SSLError as exc:
        return "cert-fail" if "CERTIFICATE_VERIFY_FAILED" in str(exc) else f"other: {exc}"


def base_hook() -> None:
    """A base runtime_env's own setup hook: records whether ours had already trusted the shipped CA."""
    os.environ[BASE_MARK] = "after-ours" if sly_nb_tls.status().certificates else "before-ours"


def reach_and_mark(url: str) -> tuple[str, str]:
    """Run on a worker: `reach`, and what `base_hook` recorded in that process."""
    return reach(url), os.environ.get(BASE_MARK, "not run")


def trusted() -> set[str]:
    return {c.sha256 for c in sly_nb_tls.status().certificates}


def assert_kernel_trusts(sha: str, bundle: str, url: str) -> None:
    """This process (the kernel) still trusts `sha`, through the same bundle, for a real request."""
    assert sha in trusted()
    assert os.environ.get("REQUESTS_CA_BUNDLE") == bundle and sha in pem_shas(bundle)
    assert reach(url) == "200"


def in_process_cluster(n_workers: int = 2) -> Any:
    distributed = pytest.importorskip("distributed")
    return distributed.LocalCluster(n_workers=n_workers, processes=False, threads_per_worker=1, dashboard_address=None)


def wait_until(condition: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_dask_plugin_reaches_every_worker_including_those_that_join_later(
    demo_server: DemoServer, tmp_path: Path
) -> None:
    distributed = pytest.importorskip("distributed")
    os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    os.environ["SLY_NB_TLS_DIR"] = str(tmp_path / "userdir")  # workers inherit it: their own files
    url = demo_server.url + "/"
    cluster = distributed.LocalCluster(
        n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None, worker_dashboard_address=None
    )
    with cluster, distributed.Client(cluster) as client:
        client.wait_for_workers(2)
        assert set(client.run(reach, url).values()) == {"cert-fail"}
        sly_nb_tls.add_certs(demo_server.root_path)  # the notebook trusts it; the workers still do not
        assert set(client.run(reach, url).values()) == {"cert-fail"}
        plugin = sly_nb_tls.workers.dask_plugin()
        assert "BEGIN CERTIFICATE" in plugin.pem and "/" not in plugin.pem.split("-----")[0]
        # From here on only the plugin can make a worker trust it: a worker started while the
        # notebook trusts it would inherit the notebook's variables.
        sly_nb_tls.reset()
        client.register_plugin(plugin)
        assert set(client.run(reach, url).values()) == {"200"}
        cluster.scale(3)  # a worker that joins later gets the plugin too
        client.wait_for_workers(3)
        results = client.run(reach, url)
        assert len(results) == 3 and set(results.values()) == {"200"}
        client.unregister_worker_plugin("sly_nb_tls")  # each worker resets
        assert set(client.run(reach, url).values()) == {"cert-fail"}


def test_dask_plugin_with_nothing_to_ship_is_a_clear_error() -> None:
    pytest.importorskip("distributed")
    with pytest.raises(sly_nb_tls.errors.CertificateSourceError, match="nothing to ship"):
        sly_nb_tls.workers.dask_plugin()


def test_ray_runtime_env_reaches_workers_and_a_job_without_it_does_not(demo_server: DemoServer, tmp_path: Path) -> None:
    ray = pytest.importorskip("ray")
    import tempfile

    short = Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))  # Ray's socket paths must stay under 107 bytes
    url = demo_server.url + "/"
    sly_nb_tls.add_certs(demo_server.root_path)
    env = sly_nb_tls.workers.ray_runtime_env(base={"env_vars": {"SLY_NB_TLS_DIR": str(tmp_path / "ray-userdir")}})
    assert "BEGIN CERTIFICATE" in env["env_vars"]["SLY_NB_TLS_CA_CERTS"]
    sly_nb_tls.reset()  # the driver trusts nothing: only the runtime_env can make the workers trust it
    os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False, runtime_env=env,
             _temp_dir=str(short / "a"))  # fmt: skip
    try:
        remote = ray.remote(reach)
        assert ray.get(remote.remote(url), timeout=120) == "200"
    finally:
        ray.shutdown()
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False, _temp_dir=str(short / "b"))
    try:
        assert ray.get(ray.remote(reach).remote(url), timeout=120) == "cert-fail"
    finally:
        ray.shutdown()
    assert sys.modules.get("ray") is not None


def test_dask_in_process_cluster_leaves_the_kernels_own_trust_after_unregister_and_close(
    demo_server: DemoServer,
) -> None:
    from distributed import Client

    url = demo_server.url + "/"
    root = sly_nb_tls.add_certs(demo_server.root_path).certificates[0].sha256
    bundle = os.environ["REQUESTS_CA_BUNDLE"]
    with in_process_cluster() as cluster, Client(cluster) as client:
        client.wait_for_workers(2)
        client.register_plugin(sly_nb_tls.workers.dask_plugin())
        assert client.submit(reach, url, pure=False).result() == "200"
        client.unregister_worker_plugin("sly_nb_tls")
        assert_kernel_trusts(root, bundle, url)
        client.register_plugin(sly_nb_tls.workers.dask_plugin())  # this time closing the cluster tears it down
        assert client.submit(reach, url, pure=False).result() == "200"
    assert_kernel_trusts(root, bundle, url)
    assert len(trusted()) == 1


def test_dask_in_process_teardown_removes_only_what_the_plugin_added(demo_server: DemoServer) -> None:
    import trustme
    from distributed import Client

    url = demo_server.url + "/"
    other = trustme.CA().cert_pem.bytes()
    [(other_sha, _)] = certificate_blocks(other)
    root = sly_nb_tls.add_certs(demo_server.root_path).certificates[0].sha256
    bundle = os.environ["REQUESTS_CA_BUNDLE"]
    with in_process_cluster(1) as cluster, Client(cluster) as client:
        client.wait_for_workers(1)
        [adder] = cluster.workers.values()
        client.register_plugin(sly_nb_tls.workers.dask_plugin(demo_server.root_path, other))
        assert trusted() == {root, other_sha} and other_sha in pem_shas(bundle)
        # A worker that joins later shares this process and finds `other` trusted already; it must
        # still hold it when the worker that added it leaves.
        cluster.scale(2)
        client.wait_for_workers(2)
        [joined] = (w for w in cluster.workers.values() if w is not adder)
        wait_until(lambda: "sly_nb_tls" in joined.plugins)
        client.run(str, workers=[joined.address])  # its loop has finished the setup it started
        client.retire_workers([adder.address], close_workers=True)
        wait_until(lambda: adder.status.name == "closed")
        assert trusted() == {root, other_sha} and other_sha in pem_shas(bundle)
    assert trusted() == {root}
    assert other_sha not in pem_shas(bundle)
    assert_kernel_trusts(root, bundle, url)


def test_ray_runtime_env_keeps_the_base_setup_hook_and_runs_it_after_ours(
    demo_server: DemoServer, tmp_path: Path
) -> None:
    ray = pytest.importorskip("ray")
    import tempfile

    short = Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))  # Ray's socket paths must stay under 107 bytes
    url = demo_server.url + "/"
    sly_nb_tls.add_certs(demo_server.root_path)
    base = {
        "env_vars": {"SLY_NB_TLS_DIR": str(tmp_path / "ray-userdir")},
        "worker_process_setup_hook": f"{__name__}.base_hook",
    }
    env = sly_nb_tls.workers.ray_runtime_env(base=base)
    assert env["env_vars"]["SLY_NB_TLS_DIR"] == str(tmp_path / "ray-userdir")
    sly_nb_tls.reset()  # only the runtime_env can make the workers trust it
    os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False, runtime_env=env, _temp_dir=str(short / "a"))
    try:
        assert ray.get(ray.remote(reach_and_mark).remote(url), timeout=120) == ("200", "after-ours")
    finally:
        ray.shutdown()


def test_ray_runtime_env_chains_a_callable_base_hook(demo_server: DemoServer, monkeypatch: pytest.MonkeyPatch) -> None:
    url = demo_server.url + "/"
    sly_nb_tls.add_certs(demo_server.root_path)
    env = sly_nb_tls.workers.ray_runtime_env(base={"worker_process_setup_hook": base_hook, "env_vars": {"KEEP": "1"}})
    assert env["env_vars"]["KEEP"] == "1"
    # What a worker gets: the hook pickled (Ray pickles callables), the env_vars set, no trust of its own.
    hook = pickle.loads(pickle.dumps(env["worker_process_setup_hook"]))
    assert callable(hook)
    sly_nb_tls.reset()
    for name, value in env["env_vars"].items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv(BASE_MARK, raising=False)
    assert reach(url) == "cert-fail"
    hook()
    assert os.environ[BASE_MARK] == "after-ours"
    assert reach(url) == "200"
