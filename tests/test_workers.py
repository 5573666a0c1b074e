"""Distributed workers trust what the notebook trusts: a real Dask cluster and a real local Ray.

The cluster is started *before* the CA is added, so nothing but the plugin can reach
its workers; each task asks the demo server from the worker's own process.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

import sly_nb_tls
from sly_nb_tls._demo import DemoServer

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]


def reach(url: str) -> str:
    """Run on a worker: what requests says about `url`, from that process."""
    import requests

    try:
        return str(requests.get(url, timeout=10).status_code)
    except requests.exceptions.SSLError as exc:
        return "cert-fail" if "CERTIFICATE_VERIFY_FAILED" in str(exc) else f"other: {exc}"


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
        plugin = sly_nb_tls.dask_plugin()
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
    with pytest.raises(sly_nb_tls.CertificateSourceError, match="nothing to ship"):
        sly_nb_tls.dask_plugin()


def test_ray_runtime_env_reaches_workers_and_a_job_without_it_does_not(demo_server: DemoServer, tmp_path: Path) -> None:
    ray = pytest.importorskip("ray")
    import tempfile

    short = Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))  # Ray's socket paths must stay under 107 bytes
    url = demo_server.url + "/"
    sly_nb_tls.add_certs(demo_server.root_path)
    env = sly_nb_tls.ray_runtime_env(base={"env_vars": {"SLY_NB_TLS_DIR": str(tmp_path / "ray-userdir")}})
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
