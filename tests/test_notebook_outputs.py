"""The committed notebooks show no absolute path of the machine that ran them.

Their outputs are read on GitHub, in nbviewer and in static exports: a path such as
``/home/alice/.venv/lib/python3.11/site-packages/certifi/cacert.pem`` tells readers
nothing and leaks the author's machine.  Outputs show paths relative to the working
directory or under ``~``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
#: an absolute POSIX path (not a URL's path: no "//" or host before it), or a Windows one
ABSOLUTE = re.compile(r"(?<![\w.~/:\-])/(?:tmp|root|home|Users|work|usr|etc|var|opt|private|mnt|srv)/[^\s\"'<>]*"
                      r"|\b[A-Z]:\\\\[^\s\"'<>]*")  # fmt: skip


def _output_texts(path: Path) -> list[tuple[int, str]]:
    nb = json.loads(path.read_text(encoding="utf-8"))
    out = []
    for i, cell in enumerate(nb["cells"]):
        for output in cell.get("outputs", []):
            texts = [output.get("text", ""), *output.get("data", {}).values()]
            for text in texts:
                out.append((i, "".join(text) if isinstance(text, list) else str(text)))
    return out


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_committed_outputs_carry_no_absolute_path(notebook: Path) -> None:
    found = [(i, m) for i, text in _output_texts(notebook) for m in ABSOLUTE.findall(text)]
    assert not found, f"{notebook.name}: absolute paths in outputs (cell, path): {found[:5]}"


def test_the_check_finds_what_it_is_for() -> None:
    assert ABSOLUTE.findall("bundle in /root/.cache/sly-nb-tls and /tmp/x.pem")
    assert ABSOLUTE.findall(r"C:\\Users\\alice\\cacert.pem")
    assert not ABSOLUTE.findall("https://127.0.0.1:443/public/api/v3/users.me ~/.cache/sly-nb-tls demo/x.pem")
    assert NOTEBOOKS, "no notebook found"
