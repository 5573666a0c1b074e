"""Real kernels through jupyter_client: start one with a given environment, run code, collect its text."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def run_in_fresh_kernel(code: str, env: dict[str, str], python: str | None = None, timeout: float = 120) -> str:
    """Start a new ipykernel (of `python`, default this interpreter) with `env`, run `code`, return its output.

    A kernel of another interpreter gets a kernelspec of its own in a temporary JUPYTER_PATH.
    """
    from jupyter_client.manager import KernelManager

    kwargs: dict[str, Any] = {"kernel_name": "python3"}
    if python is not None:
        spec_dir = Path(env["SLY_TEST_TMP"]) / "kernels" / "other"
        spec_dir.mkdir(parents=True, exist_ok=True)
        argv = [python, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
        (spec_dir / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": "other", "language": "python"}))
        env = env | {"JUPYTER_PATH": str(spec_dir.parent.parent)}
        os.environ["JUPYTER_PATH"] = env["JUPYTER_PATH"]  # the manager looks the spec up in this process
        kwargs["kernel_name"] = "other"
    km = KernelManager(**kwargs)
    km.start_kernel(env=env)
    kc = km.client()
    kc.start_channels()
    out: list[str] = []

    def hook(msg: dict[str, Any]) -> None:
        content = msg["content"]
        if msg["msg_type"] == "stream":
            out.append(content["text"])
        elif msg["msg_type"] in ("execute_result", "display_data"):
            out.append(content["data"].get("text/plain", "") + "\n")
        elif msg["msg_type"] == "error":
            out.append(f"ERROR {content['ename']}: {content['evalue']}\n")

    try:
        kc.wait_for_ready(timeout=timeout)
        kc.execute_interactive(code, output_hook=hook, timeout=timeout)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
        os.environ.pop("JUPYTER_PATH", None) if python is not None else None
    return "".join(out)
