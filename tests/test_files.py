"""Trust files: whose they are, who may delete them, and when — across forks, exits and shared folders."""

from __future__ import annotations

import os
import ssl
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import sly_nb_tls
from sly_nb_tls._pem import certificate_blocks
from sly_nb_tls.demo import issue
from sly_nb_tls.errors import StorageError

from .helpers import controlled_env

ROOT = Path(__file__).resolve().parents[1]

LINUX = sys.platform.startswith("linux")


def _shas(path: str | Path) -> set[str]:
    return {sha for sha, _ in certificate_blocks(Path(path).read_bytes())}


def _run(code: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True, timeout=timeout
    )


# --- the directory -------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", [0o775, 0o777, 0o722])
def test_a_named_directory_others_can_write_to_is_refused_and_left_as_it_is(tmp_path: Path, mode: int) -> None:
    shared = tmp_path / "team-shared"
    shared.mkdir()
    shared.chmod(mode)
    os.environ["SLY_NB_TLS_DIR"] = str(shared)
    before = dict(os.environ)
    with pytest.raises(StorageError, match="writable by other users") as info:
        sly_nb_tls.add_certs(issue("Shared Dir CA", ca=True).pem)
    assert "\n" not in str(info.value) and f"chmod go-w {shared}" in str(info.value)
    assert stat.S_IMODE(shared.stat().st_mode) == mode  # never chmod-ed
    assert list(shared.iterdir()) == []
    assert dict(os.environ) == before and not sly_nb_tls.status().active


def test_a_named_private_directory_is_used_without_changing_its_mode(tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    mine.chmod(0o750)  # group may read (certificates are public), nobody else may write
    os.environ["SLY_NB_TLS_DIR"] = str(mine)
    result = sly_nb_tls.add_certs(issue("Private Dir CA", ca=True).pem)
    assert Path(result.bundle_path).parent == mine
    assert stat.S_IMODE(mine.stat().st_mode) == 0o750


def test_the_default_directory_is_made_private(tmp_path: Path) -> None:
    os.environ.pop("SLY_NB_TLS_DIR", None)
    os.environ["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    result = sly_nb_tls.add_certs(issue("Default Dir CA", ca=True).pem)
    directory = Path(result.bundle_path).parent
    assert directory == tmp_path / "cache" / "sly-nb-tls"
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700


# --- lifetimes -----------------------------------------------------------------------------------
ADD_AND_REPORT = """
    import os, sys, subprocess
    import sly_nb_tls
    sly_nb_tls.add_certs(sys.argv[1] if len(sys.argv) > 1 else {pem!r})
    print(os.environ["SSL_CERT_FILE"], os.environ["SLY_EXTRA_CA_CERTS"], flush=True)
"""


def _env(tmp_path: Path) -> dict[str, str]:
    return controlled_env(False) | {"SLY_NB_TLS_DIR": str(tmp_path / "u"), "PYTHONPATH": str(ROOT)}


@pytest.mark.skipif(not LINUX, reason="which process reads a file is known on Linux only")
def test_a_kernel_that_exits_without_reset_leaves_no_files(tmp_path: Path) -> None:
    out = _run(ADD_AND_REPORT.format(pem=issue("Exit CA", ca=True).pem), _env(tmp_path))
    assert out.returncode == 0, out.stderr
    merged, extras = out.stdout.split()
    assert not os.path.exists(merged) and not os.path.exists(extras)
    # The cache holds the JDK's roots and truststores of no process: nothing that names a trust file.
    assert [p for p in (tmp_path / "u").iterdir() if p.name != "cache"] == []


@pytest.mark.slow  # seconds of child processes: the full run has it, the quick part does not
@pytest.mark.skipif(not LINUX, reason="which process reads a file is known on Linux only")
def test_files_a_child_still_names_outlive_the_kernel_and_are_pruned_once_it_is_gone(tmp_path: Path) -> None:
    env = _env(tmp_path)
    # The kernel adds, starts a child (which inherits the variables), and exits without reset.
    code = textwrap.dedent(ADD_AND_REPORT.format(pem=issue("Child CA", ca=True).pem)) + textwrap.dedent(
        """
        quiet = dict(stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], **quiet)
        print(child.pid, flush=True)
        """
    )
    kernel = subprocess.Popen(
        [sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    out, err = kernel.communicate(timeout=120)
    assert kernel.returncode == 0, err
    merged, extras, child_pid = out.split()
    try:
        # The child still runs and may open the bundle at any time: the files stay, whole.
        assert os.path.exists(merged) and os.path.exists(extras)
        assert _shas(merged)
        # Another kernel's add prunes dead kernels' files, but not these: a live process names them.
        again = _run(ADD_AND_REPORT.format(pem=issue("Second Kernel CA", ca=True).pem), env)
        assert again.returncode == 0, again.stderr
        assert os.path.exists(merged) and os.path.exists(extras)
    finally:
        os.kill(int(child_pid), 9)
    deadline = time.monotonic() + 30
    while os.path.exists(f"/proc/{child_pid}") and time.monotonic() < deadline:
        time.sleep(0.05)  # the child is ours no more (its parent exited): wait for init to reap it
    # Now nothing names them and their kernel is gone: the next add prunes them.
    third = _run(ADD_AND_REPORT.format(pem=issue("Third Kernel CA", ca=True).pem), env)
    assert third.returncode == 0, third.stderr
    assert not os.path.exists(merged) and not os.path.exists(extras)


@pytest.mark.skipif(not LINUX, reason="which process reads a file is known on Linux only")
def test_reset_rewrites_the_file_a_running_child_names_and_exit_keeps_it_until_the_child_ends(
    tmp_path: Path,
) -> None:
    from sly_nb_tls.trust.extras import at_exit

    extra = sly_nb_tls.add_certs(issue("Reset Child CA", ca=True).pem).added[0]
    merged = os.environ["SSL_CERT_FILE"]
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        sly_nb_tls.reset()
        # the child may open its SSL_CERT_FILE at any time: it finds its old roots, never ENOENT
        assert os.path.exists(merged), "reset deleted a bundle a running child names"
        assert extra.sha256 not in _shas(merged)
        assert _shas(merged) == _shas(ssl.get_default_verify_paths().openssl_cafile)
        at_exit()  # were the kernel to end now, the child still names the file
        assert os.path.exists(merged)
    finally:
        child.communicate(b"", timeout=30)
    at_exit()
    assert not os.path.exists(merged), "nothing names the file any more"


# --- fork ----------------------------------------------------------------------------------------
FORK = """
    import os, sys
    import sly_nb_tls
    from sly_nb_tls.demo import issue
    from sly_nb_tls._pem import certificate_blocks

    def shas(path):
        return {sha for sha, _ in certificate_blocks(open(path, "rb").read())}

    parent = sly_nb_tls.add_certs(issue("Parent CA", ca=True).pem).added[0]
    bundle, extras = os.environ["SSL_CERT_FILE"], os.environ["SLY_EXTRA_CA_CERTS"]
    before = (open(bundle, "rb").read(), open(extras, "rb").read())
    pid = os.fork()
    if pid == 0:
        child = sly_nb_tls.add_certs(issue("Child CA", ca=True).pem).added[0]
        mine = os.environ["SSL_CERT_FILE"]
        assert mine != bundle, "the child writes the parent's bundle"
        assert {parent.sha256, child.sha256} <= shas(mine)
        if sys.argv[1] == "reset":
            sly_nb_tls.reset()
            assert os.path.exists(mine) and child.sha256 not in shas(mine)  # rewritten, not deleted
            os._exit(0)
        sys.exit(0)  # without reset: the child's exit handler runs, and must spare the parent's files
    _, status = os.waitpid(pid, 0)
    assert status == 0, f"child failed: {status}"
    assert os.path.exists(bundle) and os.path.exists(extras), "the child deleted the parent's files"
    assert (open(bundle, "rb").read(), open(extras, "rb").read()) == before, "the child changed the parent's files"
    assert shas(extras) == {parent.sha256}
    import ssl
    assert parent.sha256 in {__import__("hashlib").sha256(d).hexdigest()
                             for d in ssl.create_default_context().get_ca_certs(binary_form=True)}
    print("ok")
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this system")
@pytest.mark.parametrize("child_ends_with", ["reset", "exit"])
def test_a_forked_child_never_changes_or_deletes_the_parents_files(tmp_path: Path, child_ends_with: str) -> None:
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(FORK), child_ends_with],
        env=_env(tmp_path), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


@pytest.mark.skipif(not (LINUX and hasattr(os, "fork")), reason="needs /proc and fork")
def test_reset_keeps_the_files_a_forked_worker_may_still_read(tmp_path: Path) -> None:
    """A pool forked after add inherits os.environ, but /proc shows the environment the image started
    with: the kernel's children count as readers while they live."""
    code = """
        import os, sys, time
        import sly_nb_tls
        from sly_nb_tls.demo import issue
        sly_nb_tls.add_certs(issue("Pool CA", ca=True).pem)
        bundle = os.environ["SSL_CERT_FILE"]
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # a pool worker: waits, then reads the bundle its os.environ names
            os.read(r, 1)
            ok = os.path.exists(os.environ["SSL_CERT_FILE"])
            os._exit(0 if ok else 3)
        sly_nb_tls.reset()
        os.write(w, b"x")
        _, status = os.waitpid(pid, 0)
        assert status == 0, "reset deleted the bundle a forked worker still names"
        sly_nb_tls.add_certs(issue("After Pool CA", ca=True).pem)
        assert os.environ["SSL_CERT_FILE"] == bundle, "the next add reuses its file"
        print("ok")
    """
    out = _run(code, _env(tmp_path))
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_another_machines_files_in_a_shared_directory_are_never_pruned(tmp_path: Path) -> None:
    shared = tmp_path / "u"
    shared.mkdir(mode=0o700)
    theirs = [shared / "bundle-otherhost-999999-0123abcd.pem", shared / "extra-otherhost-999999-0123abcd.pem"]
    for f in theirs:
        f.write_text("their kernel reads this")  # no PID 999999 runs here: that says nothing of their machine
    legacy = shared / "bundle-999999-0123abcd.pem"  # an older version's name: no host, left alone
    legacy.write_text("x")
    out = _run(ADD_AND_REPORT.format(pem=issue("Shared Home CA", ca=True).pem), _env(tmp_path))
    assert out.returncode == 0, out.stderr
    assert all(f.exists() for f in [*theirs, legacy])
