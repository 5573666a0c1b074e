"""The README's screenshots exist and were taken at the panel's current layout version."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sly_nb_tls.ui.panel import Panel

from .screenshots import layout_version, stamp

ROOT = Path(__file__).resolve().parents[1]
IMAGES = sorted(set(re.findall(r"\((notebooks/[\w.-]+\.png)\)", (ROOT / "README.md").read_text())))


def test_the_readme_shows_screenshots() -> None:
    assert "notebooks/panel.png" in IMAGES and "notebooks/panel-notebook7.png" in IMAGES


@pytest.mark.parametrize("image", IMAGES)
def test_each_committed_screenshot_matches_the_panel_layout(image: str) -> None:
    path = ROOT / image
    assert path.is_file(), f"{image} is named in the README but missing"
    taken_at = layout_version(path)
    assert taken_at == Panel.LAYOUT_VERSION, (
        f"{image} was taken at panel layout {taken_at}, the panel is at {Panel.LAYOUT_VERSION}: "
        "retake it with SLY_UPDATE_SCREENSHOTS=1 .venv/bin/python -m pytest tests/test_browser.py"
    )


def test_a_stamp_is_read_back_and_replaced(tmp_path: Path) -> None:
    copy = tmp_path / "panel.png"
    copy.write_bytes((ROOT / "notebooks" / "panel.png").read_bytes())
    stamp(copy, 41)
    stamp(copy, 42)
    assert layout_version(copy) == 42
    unstamped = tmp_path / "plain.png"
    unstamped.write_bytes(copy.read_bytes().replace(b"sly_nb_tls-panel-layout", b"something-else-entirely"))
    assert layout_version(unstamped) is None
