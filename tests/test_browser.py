"""The panel in a real JupyterLab and a real Notebook 7, driven by a real chromium through Playwright.

Each front-end runs on 127.0.0.1 with its own token, settings, config and data
folders; Playwright drives Debian's chromium by `executable_path` (no browser
download).  The test opens notebooks/panel.ipynb, runs it, types the demo
server's URL, clicks Test (failure), uploads the chain through the file input,
clicks Add, clicks Test again (success), and saves a screenshot of the panel
under tests/artifacts/ (panel.png from JupyterLab, panel-notebook7.png from Notebook 7).
With SLY_UPDATE_SCREENSHOTS=1 it also rewrites the committed copies in notebooks/: the
README shows JupyterLab's, and Notebook 7's sits beside it.

On a loaded machine (the full suite on 2 cores) the front-end can take "Run All" while the
kernel is still starting: every code cell is then cleared and none runs.  So the test opens
the notebook without its saved outputs (a stale "False" or panel could otherwise pass for this
run's), waits until the kernel is connected and idle and the widget manager has connected to it,
and clicks "Run All" again (a bounded number of times) while no cell has started.
"""

from __future__ import annotations

import contextlib
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
from typing import Any

import pytest

from sly_nb_tls.ui.panel import Panel

from .helpers import controlled_env
from .screenshots import stamp
from .servers import stop_process

pytestmark = [pytest.mark.slow, pytest.mark.browser]
ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
#: where the screenshots (and, on a failure, a picture of the page) go; git ignores it
ARTIFACTS = ROOT / "tests" / "artifacts"
#: the screenshot each front-end's test writes; README shows JupyterLab's (notebooks/panel.png)
SCREENSHOTS = {"jupyterlab": "panel.png", "notebook7": "panel-notebook7.png"}
#: set to 1 to rewrite the committed notebooks/*.png from this run's screenshots
UPDATE_SCREENSHOTS = "SLY_UPDATE_SCREENSHOTS"
#: how many times the test clicks "Run All" when no cell started after a click
RUN_ALL_ATTEMPTS = 3
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
    # ... and without the outputs, execution counts and widget state saved in it: what the test
    # waits for ("[1]:", the last cell's "False", the panel) can then only come from this run.
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
    notebook["metadata"].pop("widgets", None)
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
        f"--{app_class}.user_settings_dir={settings}", f"--{app_class}.workspaces_dir={base / 'workspaces'}",
        f"--{app_class}.expose_app_in_browser=True",  # window.jupyterapp: the test reads the kernel's state
    ]  # fmt: skip
    if front_end == "jupyterlab":
        # LabApp only: given to JupyterNotebookApp, which has no news_url, it makes Notebook 7 drop
        # every --JupyterNotebookApp option ("error linking extension: Trait, news_url, not found")
        cmd += ["--LabApp.news_url=None", "--LabApp.extension_manager=readonly",
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


#: the notebook's kernel as the front-end sees it (the fixture exposes window.jupyterapp)
KERNEL_STATE_JS = """() => {
    const app = window.jupyterapp;
    if (!app) return null;
    const nb = [...app.shell.widgets('main')].find(
        w => w.sessionContext && w.context && w.context.path.endsWith('panel.ipynb'));
    const session = nb ? nb.sessionContext : null;
    const kernel = session && session.session ? session.session.kernel : null;
    return {display: session ? session.kernelDisplayStatus : null, status: kernel ? kernel.status : null,
            connection: kernel ? kernel.connectionStatus : null, id: kernel ? kernel.id : null};
}"""
#: a code cell's prompt once it is queued ("[*]:") or has run ("[1]:"); "[ ]:" before
STARTED = re.compile(r"^\s*\[(\*|\d+)\]:\s*$")
RAN = re.compile(r"^\s*\[\d+\]:\s*$")


class _WidgetManagers:
    """The kernels that the page's widget manager has connected to, as seen on their websockets.

    ipywidgets' manager registers the "jupyter.widget" comm target when it gets a kernel; once the
    kernel's connection is up it opens a "jupyter.widget.control" comm to fetch the kernel's widgets
    (or, failing that, asks for the "jupyter.widget" comms).  Before that, a widget the kernel
    shows is rendered as its text form.
    """

    def __init__(self, page: Any) -> None:
        self.kernels: set[str] = set()
        page.on("websocket", self._websocket)

    def _websocket(self, ws: Any) -> None:
        found = re.search(r"/api/kernels/([^/?]+)/channels", ws.url)
        if found:
            kernel_id = found.group(1)
            ws.on("framesent", lambda payload: self._sent(kernel_id, payload))

    def _sent(self, kernel_id: str, payload: str | bytes) -> None:
        data = payload.encode() if isinstance(payload, str) else payload
        if (b"comm_open" in data and b'jupyter.widget.control"' in data) or (
            b"comm_info_request" in data and b'jupyter.widget"' in data
        ):
            self.kernels.add(kernel_id)


def _state(page: Any, managers: _WidgetManagers, base: Path) -> str:
    """What the page shows, for a failure's message."""
    try:
        kernel = page.evaluate(KERNEL_STATE_JS)
        prompts = page.locator(".jp-CodeCell .jp-InputPrompt").all_inner_texts()
        dialogs = page.locator(".jp-Dialog").all_inner_texts()
    except Exception as exc:  # noqa: BLE001 - only for the message
        kernel = prompts = dialogs = repr(exc)  # type: ignore[assignment]
    log = (base / "jupyterlab.log").read_text(errors="replace")[-2000:]
    return (f"kernel {kernel}; widget manager connected to {sorted(managers.kernels)}; prompts {prompts}; "
            f"dialogs {dialogs}\nserver log (end):\n{log}")  # fmt: skip


def _wait_for_kernel(page: Any, managers: _WidgetManagers, base: Path, timeout: float = 120) -> None:
    """Wait until the notebook's kernel is connected and idle and the widget manager has connected to it."""
    start = time.monotonic()
    deadline = start + timeout
    while True:
        _accept_dialogs(page)  # a kernel to select would hold the kernel back
        k = page.evaluate(KERNEL_STATE_JS)
        if (k and k["display"] == "idle" and k["status"] == "idle" and k["connection"] == "connected"
                and k["id"] in managers.kernels):  # fmt: skip
            print(f"kernel {k['id']} idle, widget manager connected, after {time.monotonic() - start:.1f} s")
            return
        if time.monotonic() > deadline:
            pytest.fail(f"no idle kernel with the widget manager connected after {timeout} s: "
                        f"{_state(page, managers, base)}")  # fmt: skip
        page.wait_for_timeout(250)


def _run_all(page: Any, managers: _WidgetManagers, base: Path) -> None:
    """Click Run > Run All Cells once the kernel is ready; click again (bounded) while no cell started.

    Run All taken while the kernel is not there yet clears every code cell and runs none ("[ ]:").
    """
    from playwright.sync_api import expect

    first_prompt = page.locator(".jp-CodeCell .jp-InputPrompt").first
    expect(first_prompt).not_to_have_text(STARTED)  # the notebook was opened without execution counts
    for attempt in range(1, RUN_ALL_ATTEMPTS + 1):
        _wait_for_kernel(page, managers, base)
        run_all = page.locator('li[data-command="runmenu:run-all"]')
        if not run_all.is_visible():  # the Run menu is not open yet
            page.locator(".lm-MenuBar-item", has_text="Run").click()
        run_all.click()
        try:
            expect(first_prompt).to_have_text(STARTED, timeout=30_000)
            print(f"Run All click {attempt}: the first cell started")
            break
        except AssertionError:
            print(f"Run All click {attempt}: no cell started")
            if attempt == RUN_ALL_ATTEMPTS:
                raise AssertionError(
                    f"Run All clicked {attempt} times, no cell started: {_state(page, managers, base)}"
                ) from None
    # the first cell ran in this kernel ("[1]:"; "[ ]:" again would mean it was dropped)
    expect(first_prompt).to_have_text(RAN, timeout=120_000)


def test_panel_test_fails_add_by_upload_then_test_succeeds(lab: tuple[str, Path, str]) -> None:
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=60_000)
    url, base, front_end = lab
    ARTIFACTS.mkdir(exist_ok=True)
    screenshot = ARTIFACTS / SCREENSHOTS[front_end]
    screenshot.unlink(missing_ok=True)  # the size check below is about this run's
    (ARTIFACTS / f"failure-{front_end}.png").unlink(missing_ok=True)
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
            managers = _WidgetManagers(page)  # before the page opens the kernel's websocket
            page.goto(url)
            expect(page.locator(".jp-Notebook .jp-Cell").first).to_be_visible()
            if front_end == "jupyterlab":
                expect(page.locator(".jp-StatusBar-TextItem", has_text="| Idle")).to_be_visible()
            else:  # Notebook 7: only the toolbar's execution indicator matches, and it says "idle" before
                # the kernel has started; _run_all waits for the kernel itself
                expect(page.locator(".jp-NotebookKernelStatus-idle, [data-status='idle']").first).to_be_attached()

            _accept_dialogs(page)  # a kernel to select, a notebook to trust
            _run_all(page, managers, base)  # waits for the kernel and the widget manager first
            panel = page.locator(".sly-nb-tls-panel")
            # the last cell resets; its output is "False" (a loaded machine runs the whole notebook slowly)
            last = page.locator(".jp-Cell").last.locator(".jp-OutputArea-output")
            expect(last).to_have_text("False", timeout=180_000)
            # every code cell ran once, in order, in this kernel
            prompts = page.locator(".jp-CodeCell .jp-InputPrompt")
            expect(prompts).to_have_text([f"[{n}]:" for n in range(1, prompts.count() + 1)])
            if not panel.is_visible():
                print("the panel showed its text form: the test runs its cell again")
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
            expect(panel).to_contain_text('press "Fetch chain", check the fingerprint')  # the panel's own words
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
        except BaseException:
            with contextlib.suppress(Exception):  # what the page showed, for whoever reads the failure
                page.screenshot(path=str(ARTIFACTS / f"failure-{front_end}.png"), full_page=True)
            raise
        finally:
            browser.close()
    assert screenshot.stat().st_size > 10_000
    if os.environ.get(UPDATE_SCREENSHOTS) == "1":  # the committed copies (README, notebooks/)
        committed = ROOT / "notebooks" / SCREENSHOTS[front_end]
        shutil.copyfile(screenshot, committed)
        stamp(committed, Panel.LAYOUT_VERSION)  # tests/test_screenshots.py compares it with the panel's
