"""The release: a wheel and an sdist that carry the license, py.typed and every subpackage, and
nothing from tests/ or notebooks/; the wheel, installed into a fresh venv, loads in a real IPython.

Both archives are built once per run (module-scoped fixtures) with `python -m build` in its
default isolated mode, as a release would build them, from a copy of the checkout without the
egg-info `pip install -e` leaves: setuptools reads that folder's SOURCES.txt back, which would
ship the subpackages even if package discovery missed them.  The fresh venv gets the wheel and its
dependencies from the package index (a few seconds with pip's cache or a nearby mirror) and never sees this
checkout: it runs from a temporary directory with PYTHONPATH unset.
"""

from __future__ import annotations

import email
import email.message
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

import sly_nb_tls

from .helpers import controlled_env

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "sly_nb_tls"
#: Top-level folders of the checkout that no archive may carry.
SERVER_CONFIG = "data/etc/jupyter/jupyter_server_config.d/sly_nb_tls.json"
NEVER_SHIPPED = {"tests", "notebooks", "benchmarks", "binder", ".ci", ".nox", ".venv", ".git", "build", "dist"}
#: What the sdist may hold at its top, besides the license files.
SDIST_TOP = {"CHANGELOG.md", "MANIFEST.in", "PKG-INFO", "README.md", "pyproject.toml", "setup.cfg", "sly_nb_tls",
             "sly_nb_tls.egg-info", "jupyter-config"}  # fmt: skip


def _license_files() -> list[str]:
    return sorted(p.name for p in ROOT.glob("LICEN[CS]E*") if p.is_file())


def _source_files() -> list[str]:
    """Every Python file of the package (and py.typed), as paths relative to the checkout."""
    files = [p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts] + [PACKAGE / "py.typed"]
    return sorted(p.relative_to(ROOT).as_posix() for p in files)


def _subpackages() -> list[str]:
    """Every folder of the package that holds Python files: each must ship as a package."""
    return sorted({Path(f).parent.as_posix() for f in _source_files()})


def _tool_env() -> dict[str, str]:
    """The packaging tools run as in the user's terminal, minus what would point them at this checkout."""
    drop = ("PYTHONPATH", "VIRTUAL_ENV", "PYTEST_ADDOPTS", "PYTHONSTARTUP")
    return {k: v for k, v in os.environ.items() if k not in drop}


def _run(args: list[str], cwd: Path, env: dict[str, str], timeout: float = 180) -> str:
    out = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, f"{args[:4]} failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    return out.stdout


@dataclass(frozen=True)
class Built:
    wheel: Path
    sdist: Path

    def wheel_names(self) -> list[str]:
        with zipfile.ZipFile(self.wheel) as zf:
            return zf.namelist()

    def sdist_names(self) -> list[str]:
        """Member paths without the `sly_nb_tls-<version>/` prefix."""
        with tarfile.open(self.sdist) as tf:
            return [m.name.partition("/")[2] for m in tf.getmembers() if "/" in m.name]

    def wheel_metadata(self) -> email.message.Message:
        with zipfile.ZipFile(self.wheel) as zf:
            name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
            return email.message_from_bytes(zf.read(name))

    def sdist_metadata(self) -> email.message.Message:
        with tarfile.open(self.sdist) as tf:
            member = next(m for m in tf.getmembers() if m.name.count("/") == 1 and m.name.endswith("/PKG-INFO"))
            data = tf.extractfile(member)
            assert data is not None
            return email.message_from_bytes(data.read())


def _not_copied(folder: str, names: list[str]) -> set[str]:
    """All but VCS, venvs, caches and build leftovers; tests/ and notebooks/ stay: the sdist must drop them."""
    anywhere = {n for n in names if n in ("__pycache__", ".nox", ".ipynb_checkpoints") or n.endswith(".egg-info")}
    if Path(folder) == ROOT:
        top = {".git", ".venv", ".mypy_cache", ".ruff_cache", ".pytest_cache", ".hypothesis", "build", "dist"}
        anywhere |= top & set(names)
    return anywhere


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    source, out = tmp_path_factory.mktemp("source") / "sly_nb_tls", tmp_path_factory.mktemp("dist")
    shutil.copytree(ROOT, source, ignore=_not_copied, symlinks=True)
    _run([sys.executable, "-m", "build", "--outdir", str(out), str(source)], cwd=out, env=_tool_env(), timeout=240)
    wheels, sdists = sorted(out.glob("*.whl")), sorted(out.glob("*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1, sorted(p.name for p in out.iterdir())
    return Built(wheels[0], sdists[0])


@pytest.fixture(scope="module")
def fresh_venv(built: Built, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv holding the wheel and its dependencies only, from the package index.

    This run's pip fills it (`--python`, pip 22.3+): a venv's own pip would add ~10 s here.
    """
    venv = tmp_path_factory.mktemp("fresh") / "venv"
    python = str(venv / "bin" / "python")
    own_pip = tuple(int(part) for part in importlib.metadata.version("pip").split(".")[:2]) < (22, 3)
    _run([sys.executable, "-m", "venv", *([] if own_pip else ["--without-pip"]), str(venv)], venv.parent, _tool_env())
    pip = [python, "-m", "pip"] if own_pip else [sys.executable, "-m", "pip", "--python", python]
    _run([*pip, "install", "-q", str(built.wheel)], cwd=venv.parent, env=_tool_env(), timeout=300)
    return venv


def _venv_env(venv: Path, home: Path) -> dict[str, str]:
    """CA variables cleared; HOME, IPython's and our directories private, so no installed CA or config applies."""
    home.mkdir(exist_ok=True)
    env = controlled_env(False, _tool_env())
    env.pop("SLY_NB_TLS_CA_CERTS", None)
    for var in ("IPYTHONDIR", "XDG_CACHE_HOME", "SLY_NB_TLS_DIR"):
        env[var] = str(home / var.lower())
    return env | {"HOME": str(home), "PATH": f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"}


# -- the archives -------------------------------------------------------------------------------
@pytest.mark.slow
def test_twine_accepts_both_archives(built: Built) -> None:
    out = _run([sys.executable, "-m", "twine", "check", "--strict", str(built.wheel), str(built.sdist)],
               cwd=built.wheel.parent, env=_tool_env())  # fmt: skip
    assert out.count("PASSED") == 2, out


@pytest.mark.slow
def test_metadata_version_is_the_packages_and_has_a_changelog_entry(built: Built) -> None:
    version = sly_nb_tls.__version__
    for meta in (built.wheel_metadata(), built.sdist_metadata()):
        assert meta["Name"] == "sly-nb-tls"
        assert meta["Version"] == version
        assert meta["License-Expression"] == "Apache-2.0"
        assert sorted(meta.get_all("License-File") or []) == _license_files()
    assert built.wheel.name == f"sly_nb_tls-{version}-py3-none-any.whl"
    assert built.sdist.name == f"sly_nb_tls-{version}.tar.gz"
    changelog = (ROOT / "CHANGELOG.md").read_text()
    heading = rf"^## \[{re.escape(version)}\] - \d{{4}}-\d\d-\d\d$"
    assert re.search(heading, changelog, re.M), f"CHANGELOG.md has no '## [{version}] - YYYY-MM-DD' section"


@pytest.mark.slow
def test_the_wheel_carries_the_package_license_and_py_typed_and_nothing_else(built: Built) -> None:
    names = built.wheel_names()
    dist_info = f"sly_nb_tls-{sly_nb_tls.__version__}.dist-info"
    data = f"sly_nb_tls-{sly_nb_tls.__version__}.data"
    assert {n.split("/")[0] for n in names} == {"sly_nb_tls", dist_info, data}, sorted({n.split("/")[0] for n in names})
    # Jupyter's convention: the config file that enables the server extension, in {sys.prefix}/etc/jupyter
    assert [n for n in names if n.startswith(data)] == [f"{data}/{SERVER_CONFIG}"]
    missing = sorted(set(_source_files()) - set(names))
    assert not missing, f"not in the wheel: {missing}"
    for sub in _subpackages():
        assert f"{sub}/__init__.py" in names, f"{sub} has no __init__.py in the wheel (not a package?)"
    strays = [n for n in names if n.startswith("sly_nb_tls/") and not n.endswith((".py", "/py.typed"))]
    assert not strays, f"files in the wheel's package that are neither modules nor py.typed: {strays}"
    assert _license_files(), "no LICENSE file at the repository root: nothing to ship"
    for lic in _license_files():
        assert f"{dist_info}/licenses/{lic}" in names, f"{lic} is not in the wheel"


@pytest.mark.slow
def test_the_sdist_carries_the_package_and_license_but_no_tests_or_notebooks(built: Built) -> None:
    names = [n for n in built.sdist_names() if n]
    top = {n.split("/")[0] for n in names}
    assert not top & NEVER_SHIPPED, sorted(top & NEVER_SHIPPED)
    assert top <= SDIST_TOP | set(_license_files()), sorted(top - SDIST_TOP)
    missing = sorted(set(_source_files()) - set(names))
    assert not missing, f"not in the sdist: {missing}"
    assert "CHANGELOG.md" in names
    assert not [n for n in names if "__pycache__" in n or n.endswith((".pyc", ".pyo"))]
    assert _license_files(), "no LICENSE file at the repository root: nothing to ship"
    for lic in _license_files():
        assert lic in names, f"{lic} is not in the sdist"


# -- the wheel in a fresh venv ------------------------------------------------------------------
IPYTHON_SESSION = """\
%load_ext sly_nb_tls
import sly_nb_tls, importlib.metadata; print("FILE", sly_nb_tls.__file__)
print("VERSION", sly_nb_tls.__version__, importlib.metadata.version("sly-nb-tls"))
%sly_tls status
%sly_tls add {ca}
%sly_tls status
%sly_tls reset
exit
"""


@pytest.mark.slow
def test_load_ext_works_from_the_wheel_in_a_real_ipython(fresh_venv: Path, tmp_path: Path) -> None:
    import trustme

    ca = tmp_path / "corp-root.pem"
    trustme.CA().cert_pem.write_to_path(str(ca))
    out = subprocess.run(
        [str(fresh_venv / "bin" / "ipython"), "--simple-prompt", "--no-banner", "--colors=NoColor"],
        input=IPYTHON_SESSION.format(ca=ca), cwd=tmp_path, env=_venv_env(fresh_venv, tmp_path / "home"),
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    text = out.stdout + out.stderr
    assert out.returncode == 0, text
    assert "Traceback" not in text and not re.search(r"\w+Error\b:", text), text
    installed = Path(re.search(r"^.*FILE (\S+)$", out.stdout, re.M).group(1))  # type: ignore[union-attr]
    assert installed.is_relative_to(fresh_venv), f"imported {installed}, not the venv's copy"
    assert (installed.parent / "py.typed").is_file()
    version = sly_nb_tls.__version__
    assert f"VERSION {version} {version}" in out.stdout
    assert "No extra certificates are trusted" in out.stdout  # the first status
    assert "1 extra certificate(s) trusted in this kernel" in out.stdout  # the status after add
    assert "✓ Reset" in out.stdout


@pytest.mark.slow
def test_pip_install_enables_the_server_extension_and_disable_turns_it_off(fresh_venv: Path, tmp_path: Path) -> None:
    env = _venv_env(fresh_venv, tmp_path / "home") | {"JUPYTER_CONFIG_DIR": str(tmp_path / "jupyter-config")}
    python = str(fresh_venv / "bin" / "python")
    pip = [sys.executable, "-m", "pip", "--python", python]
    _run([*pip, "install", "-q", "jupyter_server"], cwd=tmp_path, env=_tool_env(), timeout=300)

    def jupyter_server_extension(*args: str) -> str:  # it writes its listing to stderr
        out = subprocess.run([python, "-m", "jupyter", "server", "extension", *args], cwd=tmp_path, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120)  # fmt: skip
        assert out.returncode == 0, out.stdout
        return re.sub(r"\x1b\[[0-9;]*m", "", out.stdout)  # its colours

    listing = jupyter_server_extension("list")
    # enabled by the file the wheel put in the venv's etc/jupyter, and it imports
    assert f"Config dir: {fresh_venv}/etc/jupyter" in listing, listing
    enabled_by = listing.split(f"Config dir: {fresh_venv}/etc/jupyter", 1)[1].split("Config dir:", 1)[0]
    assert re.search(r"sly_nb_tls\s+enabled", enabled_by), listing
    assert f"sly_nb_tls {sly_nb_tls.__version__} OK" in listing, listing
    jupyter_server_extension("disable", "sly_nb_tls")
    assert re.search(r"sly_nb_tls\s+disabled", jupyter_server_extension("list"))


@pytest.mark.slow
def test_the_wheels_command_runs(fresh_venv: Path, tmp_path: Path) -> None:
    env = _venv_env(fresh_venv, tmp_path / "home")
    out = _run([str(fresh_venv / "bin" / "sly-nb-tls"), "status"], cwd=tmp_path, env=env, timeout=60)
    assert "No extra certificates are trusted" in out


# -- quick checks of the sources ----------------------------------------------------------------
def test_every_folder_of_the_package_is_a_package() -> None:
    """setuptools' find_packages skips a folder without __init__.py, silently: its modules would not ship."""
    missing = [sub for sub in _subpackages() if not (ROOT / sub / "__init__.py").is_file()]
    assert not missing, f"folders without __init__.py (they would not be in the wheel): {missing}"


def test_the_version_lives_only_in_the_package() -> None:
    text = (ROOT / "pyproject.toml").read_text()
    project = text.split("[project]", 1)[1].split("\n[", 1)[0]
    assert re.search(r'^dynamic = \[[^\]]*"version"', project, re.M), "pyproject should read the version"
    assert not re.search(r"^version\s*=", project, re.M), "a second version in pyproject.toml"
    assert 'version = { attr = "sly_nb_tls.__version__" }' in text
    assert re.fullmatch(r"\d+\.\d+\.\d+", sly_nb_tls.__version__)


def test_every_public_name_is_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()

    def mentioned(name: str) -> bool:  # `name`, a call `name(...)` in backticks, or sly_nb_tls.name
        escaped = re.escape(name)
        return bool(re.search(rf"`{escaped}[`(]|sly_nb_tls\.{escaped}\b", readme))

    missing = [name for name in sly_nb_tls.__all__ if not mentioned(name)]
    assert not missing, f"README.md never mentions: {missing}"
