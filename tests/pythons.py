"""Find the other CPython 3.10–3.13 interpreters on this machine and make small venvs for them."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
from pathlib import Path

VERSIONS = ("3.10", "3.11", "3.12", "3.13")


def find_interpreters() -> dict[str, str]:
    """version -> interpreter path, for every 3.10–3.13 found (pyenv or PATH)."""
    found: dict[str, str] = {}
    for version in VERSIONS:
        candidates = sorted(glob.glob(os.path.expanduser(f"~/.pyenv/versions/{version}.*/bin/python{version}")))
        on_path = shutil.which(f"python{version}")
        if on_path:
            candidates.append(on_path)
        for candidate in candidates:
            out = subprocess.run([candidate, "-c", "import ssl, venv; print(1)"], capture_output=True, text=True)
            if out.returncode == 0:
                found[version] = candidate
                break
    return found


def make_venv(python: str, where: Path, packages: list[str]) -> str:
    """A venv at `where` with `packages`; returns its python."""
    exe = where / "bin" / "python"
    if not exe.exists():
        subprocess.run([python, "-m", "venv", str(where)], check=True)
        subprocess.run([str(exe), "-m", "pip", "install", "-q", "--disable-pip-version-check", *packages], check=True)
    return str(exe)


def this_version() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"
