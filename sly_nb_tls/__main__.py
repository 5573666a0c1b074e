"""Command line: ``python -m sly_nb_tls demo | demo-server``.

In [1]: !python -m sly_nb_tls demo-server
Demo server: https://127.0.0.1:40731
  root CA:  /tmp/sly-nb-tls-demo-…/root.pem
  chain:    /tmp/sly-nb-tls-demo-…/chain.pem

Exit status: 0 ok, 1 a problem was found, 2 usage error (argparse's own).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

__all__ = ["main"]


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m sly_nb_tls",
        description="Trust a private CA for every HTTPS client in a Python process; diagnose TLS trouble.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("demo", help="run the whole story against the built-in demo server and print each step")
    server = sub.add_parser("demo-server", help="serve the demo Supervisely-like API over HTTPS on 127.0.0.1")
    server.add_argument("--port", type=int, default=0, help="port (default: any free port)")
    server.add_argument("--seconds", type=float, default=None, help="stop after this long (default: until Ctrl-C)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    if args.command == "demo":
        from ._walkthrough import run_demo

        return run_demo(print)
    if args.command == "demo-server":
        return _demo_server(args.port, args.seconds)
    return 2  # pragma: no cover - argparse enforces the choices


def _demo_server(port: int, seconds: float | None) -> int:
    from ._demo import DemoServer

    server = DemoServer(port=port).start()
    print(f"Demo server: {server.url}")
    print(f"  root CA:  {server.root_path}")
    print(f"  chain:    {server.chain_path}")
    print("  any non-empty x-api-key is accepted; Ctrl-C stops it", flush=True)
    try:
        deadline = None if seconds is None else time.monotonic() + seconds
        while deadline is None or time.monotonic() < deadline:
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
