"""The panel in a real JupyterLab, driven by a real chromium through Playwright.

JupyterLab runs on 127.0.0.1 with its own token, settings, config and data
folders; Playwright drives Debian's chromium by `executable_path` (no browser
download).  The test opens notebooks/panel.ipynb, runs it, types the demo
server's URL, clicks Test (failure), uploads the chain through the file input,
clicks Add, clicks Test again (success), and saves a screenshot of the panel.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import controlled_env
from .servers import stop_process

pytestmark = [pytest.mark.slow, pytest.mark.browser]
ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--no-first-run",
    "--disable-quic",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
]

if not os.path.exists(CHROMIUM):
    pytest.skip("Debian's chromium is not installed (.ci/run installs it)", allow_module_level=True)
playwright_sync = pytest.importorskip("playwright.sync_api")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    base = tmp_path_factory.mktemp("lab")
    root = base / "root"
    root.mkdir()
    shutil.copy(ROOT / "notebooks" / "panel.ipynb", root / "panel.ipynb")
    settings = base / "settings"
    (settings / "@jupyterlab" / "apputils-extension").mkdir(parents=True)
    (settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false"})
    )
    port, token = _free_port(), secrets.token_hex(16)
    env = controlled_env(False) | {
        "JUPYTER_CONFIG_DIR": str(base / "config"),
        "JUPYTER_DATA_DIR": str(base / "data"),
        "JUPYTER_RUNTIME_DIR": str(base / "runtime"),
        "IPYTHONDIR": str(base / "ipython"),
        "SLY_NB_TLS_DIR": str(base / "userdir"),
    }
    cmd = [
        sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
        "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
        "--LabApp.extension_manager=readonly", "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        f"--LabApp.user_settings_dir={settings}", f"--LabApp.workspaces_dir={base / 'workspaces'}",
    ]  # fmt: skip
    if os.geteuid() == 0:
        cmd.append("--allow-root")
    log = open(base / "jupyterlab.log", "w")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=root)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                pytest.fail(
                    f"JupyterLab exited with {proc.returncode}:\n{(base / 'jupyterlab.log').read_text()[-3000:]}"
                )
            try:
                with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("JupyterLab did not start within 120 s")
            time.sleep(0.5)
        yield f"{url}/lab/tree/panel.ipynb?token={token}", base
    finally:
        stop_process(proc, 20)
        log.close()


def test_panel_in_jupyterlab_test_fails_add_by_upload_then_test_succeeds(lab: tuple[str, Path]) -> None:
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=60_000)
    url, base = lab
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            env={**os.environ, "XDG_CONFIG_HOME": str(base / "xdg-config"), "XDG_CACHE_HOME": str(base / "xdg-cache")},
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 2000})
            page.set_default_timeout(60_000)
            page.goto(url)
            expect(page.locator(".jp-Notebook .jp-Cell").first).to_be_visible()
            expect(page.locator(".jp-StatusBar-TextItem", has_text="| Idle")).to_be_visible()

            page.locator(".lm-MenuBar-item", has_text="Run").click()
            page.locator('li[data-command="runmenu:run-all"]').click()
            panel = page.locator(".sly-nb-tls-panel")
            expect(panel).to_be_visible()
            # the last cell resets; its output is "False"
            expect(page.locator(".jp-Cell").last.locator(".jp-OutputArea-output")).to_have_text("False")

            printed = page.locator(".jp-OutputArea-output", has_text="server URL:").inner_text()
            server_url = re.search(r"server URL:\s+(https://\S+)", printed).group(1)  # type: ignore[union-attr]
            chain_path = re.search(r"chain file:\s+(\S+)", printed).group(1)  # type: ignore[union-attr]
            assert "no extra certificates trusted" in panel.inner_text()

            url_box = panel.locator('input[placeholder="https://sly.corp"]')
            url_box.fill("")
            url_box.fill(server_url)
            panel.locator("button.widget-button", has_text="Test").click()
            expect(panel).to_contain_text("untrusted_root")
            expect(panel).to_contain_text("Fix: %sly_tls fetch")

            # as a user does: click Upload, pick the file in the chooser
            with page.expect_file_chooser() as chooser:
                panel.locator("button.jupyter-button", has_text="Upload").click()
            chooser.value.set_files(chain_path)
            expect(panel).to_contain_text("ready to add 1 uploaded file(s): chain.pem")
            panel.locator("button.widget-button.mod-primary", has_text="Add").click()
            expect(panel).to_contain_text("Trusted 2 new certificate(s)")
            expect(panel).to_contain_text("2 extra certificate(s) trusted")

            panel.locator("button.widget-button", has_text="Test").click()
            expect(panel).to_contain_text("verified by sly_nb_tls Demo Root CA")
            assert "untrusted_root" not in panel.locator(".widget-html").all_inner_texts()[-3]
            panel.screenshot(path=str(ARTIFACTS / "panel.png"))
        finally:
            browser.close()
    assert (ARTIFACTS / "panel.png").stat().st_size > 10_000
