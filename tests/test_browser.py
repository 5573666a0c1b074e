"""The panel in a real JupyterLab and a real Notebook 7, driven by a real chromium through Playwright.

Each front-end runs on 127.0.0.1 with its own token, settings, config and data
folders; Playwright drives Debian's chromium by `executable_path` (no browser
download).  The test opens notebooks/panel.ipynb, runs it, types the demo
server's URL, clicks Test (failure), uploads the chain through the file input,
clicks Add, clicks Test again (success), and saves a screenshot of the panel:
JupyterLab's is the README's (notebooks/panel.png), Notebook 7's sits beside it.
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
#: the screenshot each front-end's test writes; README shows JupyterLab's
SCREENSHOTS = {"jupyterlab": ROOT / "notebooks" / "panel.png", "notebook7": ROOT / "notebooks" / "panel-notebook7.png"}
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


@pytest.fixture(scope="module", params=["jupyterlab", "notebook7"])
def lab(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, str]]:
    front_end = request.param
    if front_end == "notebook7":
        pytest.importorskip("notebook")
    base = tmp_path_factory.mktemp(front_end)
    root = base / "root"
    root.mkdir()
    # The notebook's last cell stops the demo server and removes its files: this test goes on
    # using both after "Run All", so its copy ends with the reset cell.
    notebook = json.loads((ROOT / "notebooks" / "panel.ipynb").read_text())
    assert "shutil.rmtree(work)" in "".join(notebook["cells"][-1]["source"])
    notebook["cells"] = notebook["cells"][:-1]
    (root / "panel.ipynb").write_text(json.dumps(notebook))
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
    app = "jupyterlab" if front_end == "jupyterlab" else "notebook"
    cmd = [
        sys.executable, "-m", app, "--no-browser", "--ip=127.0.0.1", f"--port={port}",
        "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
    ]  # fmt: skip
    app_class = "LabApp" if front_end == "jupyterlab" else "JupyterNotebookApp"
    cmd += [
        f"--{app_class}.news_url=None", f"--{app_class}.user_settings_dir={settings}",
        f"--{app_class}.workspaces_dir={base / 'workspaces'}",
    ]  # fmt: skip
    if front_end == "jupyterlab":
        cmd += ["--LabApp.extension_manager=readonly",
                "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]  # fmt: skip
    if os.geteuid() == 0:
        cmd.append("--allow-root")
    log = open(base / "jupyterlab.log", "w")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=root)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                pytest.fail(f"{app} exited with {proc.returncode}:\n{(base / 'jupyterlab.log').read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"{app} did not start within 120 s")
            time.sleep(0.5)
        path = "lab/tree" if front_end == "jupyterlab" else "notebooks"
        yield f"{url}/{path}/panel.ipynb?token={token}", base, front_end
    finally:
        stop_process(proc, 20)
        log.close()


def _accept_dialogs(page: object) -> None:
    """Accept any modal dialog the front-end shows (a kernel to select, a notebook to trust)."""
    dialog = page.locator(".jp-Dialog")  # type: ignore[attr-defined]
    for _ in range(3):
        if not dialog.count() or not dialog.first.is_visible():
            return
        dialog.first.locator(".jp-Dialog-button.jp-mod-accept").first.click()
        page.wait_for_timeout(300)  # type: ignore[attr-defined]


def test_panel_test_fails_add_by_upload_then_test_succeeds(lab: tuple[str, Path, str]) -> None:
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=60_000)
    url, base, front_end = lab
    screenshot = SCREENSHOTS[front_end]
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            env={**os.environ, "XDG_CONFIG_HOME": str(base / "xdg-config"), "XDG_CACHE_HOME": str(base / "xdg-cache")},
        )
        try:
            page = browser.new_page(viewport={"width": 800, "height": 2000})  # every placeholder readable at 800 px
            page.set_default_timeout(60_000)
            page.goto(url)
            expect(page.locator(".jp-Notebook .jp-Cell").first).to_be_visible()
            if front_end == "jupyterlab":
                expect(page.locator(".jp-StatusBar-TextItem", has_text="| Idle")).to_be_visible()
            else:  # Notebook 7 shows the kernel's state in its top bar
                expect(page.locator(".jp-NotebookKernelStatus-idle, [data-status='idle']").first).to_be_attached()

            _accept_dialogs(page)  # a kernel to select, a notebook to trust
            page.locator(".lm-MenuBar-item", has_text="Run").click()
            page.locator('li[data-command="runmenu:run-all"]').click()
            panel = page.locator(".sly-nb-tls-panel")
            # the last cell resets; its output is "False" (a loaded machine runs the whole notebook slowly)
            last = page.locator(".jp-Cell").last.locator(".jp-OutputArea-output")
            expect(last).to_have_text("False", timeout=180_000)
            if not panel.is_visible():
                # On a loaded machine the widget manager can connect after the panel's output arrived;
                # the front-end then shows the panel's text form (as VS Code does).  A user re-runs the
                # cell, and so does the test.
                expect(page.locator(".jp-OutputArea-output", has_text="its widgets need a live")).to_be_visible()
                _accept_dialogs(page)
                cell = page.locator(".jp-CodeCell", has_text="panel = sly_nb_tls.panel()")
                cell.locator(".jp-InputPrompt").click()  # selects the cell
                page.locator(".lm-MenuBar-item", has_text="Run").click()
                page.locator('li[data-command="notebook:run-cell"], '
                             'li[data-command="notebook:run-cell-and-select-next"]').first.click()  # fmt: skip
            expect(panel).to_be_visible()

            printed = page.locator(".jp-OutputArea-output", has_text="server URL:").inner_text()
            server_url = re.search(r"server URL:\s+(https://\S+)", printed).group(1)  # type: ignore[union-attr]
            chain_path = re.search(r"chain file:\s+(\S+)", printed).group(1)  # type: ignore[union-attr]
            chain_path = str(base / "root" / chain_path)  # printed relative to the notebook
            assert "no extra certificates trusted" in panel.inner_text()
            # Each placeholder's text, measured in the input's own font, fits the input's box.
            cut = page.evaluate(
                """(root) => [...root.querySelectorAll('input[placeholder]')].filter(i => i.offsetParent).map(i => {
                    const s = getComputedStyle(i), c = document.createElement('canvas').getContext('2d');
                    c.font = s.font;
                    const room = i.clientWidth - parseFloat(s.paddingLeft) - parseFloat(s.paddingRight);
                    return [i.placeholder, Math.round(c.measureText(i.placeholder).width), Math.round(room)];
                }).filter(([p, need, room]) => need > room)""",
                panel.element_handle(),
            )
            assert cut == [], f"placeholders cut at 800 px (text, needed px, room px): {cut}"

            url_box = panel.locator('input[placeholder="https://sly.corp"]')
            url_box.fill("")
            url_box.fill(server_url)
            panel.locator("button.widget-button", has_text="Test").click()
            expect(panel).to_contain_text("untrusted_root")
            expect(panel).to_contain_text("Fix: %sly_tls fetch")
            expect(panel).to_contain_text("last test: ✗ untrusted_root")

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
            expect(panel).to_contain_text("last test: ✓")
            assert "untrusted_root" not in panel.locator(".widget-html").all_inner_texts()[-3]
            page.set_viewport_size({"width": 1280, "height": 2000})  # the README's picture: a usual window
            page.wait_for_timeout(500)
            panel.screenshot(path=str(screenshot))
        finally:
            browser.close()
    assert screenshot.stat().st_size > 10_000
