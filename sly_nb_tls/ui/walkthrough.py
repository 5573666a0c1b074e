"""The whole story against the built-in demo server, step by step (``python -m sly_nb_tls demo``).

The same steps as notebooks/quickstart.ipynb, through the same public API,
so a terminal shows exactly what a notebook user sees.  The demo server sends
its whole chain (leaf + intermediate + root), which reproduces the error of
the Supervisely tutorial, "self-signed certificate in certificate chain".
"""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Callable
from pathlib import Path

__all__ = ["run_demo"]


def run_demo(emit: Callable[[str], None]) -> int:
    """Run every step and report through `emit`; 0 when the story ended as it should."""
    from .. import _api as api
    from ..demo import DemoServer

    steps = 8
    n = 0

    def say(title: str, result: object = None) -> None:
        nonlocal n
        n += 1
        emit(f"\n[{n}/{steps}] {title}")
        if result is not None:
            emit(str(result))

    previous_cwd = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="sly-nb-tls-walkthrough-") as work, DemoServer(presented="full") as server:
        os.chdir(work)
        try:
            say(
                f"Start a demo server with its own private CA: {server.url}\n"
                "      (it answers like Supervisely's API and presents leaf + intermediate + root)"
            )
            Path("local.env").write_text(f"SERVER_ADDRESS={server.url}\nAPI_TOKEN={secrets.token_hex(20)}\n")
            say(
                "%sly_tls env local.env --override   (the token is never shown)",
                api.load_env("local.env", override=True),
            )
            before = api.test_connection()
            say("%sly_tls test   (fails: nothing trusts the demo CA yet)", before)
            fetched = api.fetch_chain(save="corp-chain.crt")
            say("%sly_tls fetch --save corp-chain.crt", fetched)
            say("%sly_tls add corp-chain.crt   (no restart)", api.add_certs("corp-chain.crt"))
            after = api.test_connection()
            say("%sly_tls test", after)
            say("%sly_tls status", api.status())
            say("%sly_tls reset", api.reset())
        finally:
            os.chdir(previous_cwd)
            api.reset()
    ok = before.problem == "untrusted_root" and after.ok
    emit(
        "\n"
        + (
            "✓ Demo finished: untrusted_root → fetch → add → ok → reset."
            if ok
            else "✗ The demo did not go as expected."
        )
        + "\n  The same story in JupyterLab (the demo command installs only the core package):"
        + "\n    .venv/bin/pip install -e '.[widgets]' jupyterlab && .venv/bin/jupyter lab notebooks/quickstart.ipynb"
    )
    return 0 if ok else 1
