"""The command line's parser and commands (`python -m sly_nb_tls`): one function per subcommand.

Exit status: 0 ok, 1 a problem was found, 2 usage error or unusable input.
``--json`` prints the result as one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections.abc import Sequence
from typing import Any

from .commands import add_route_arguments, add_token_argument, proxy_from_arguments

__all__ = ["main"]


def _seconds(text: str) -> float:
    """A --timeout: a finite number of seconds above zero (argparse's float accepts nan and inf)."""
    from ..diagnose.probe import Deadline
    from ..errors import SlyTlsError

    try:
        return Deadline.check(text)
    except SlyTlsError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _port(text: str) -> int:
    """A --port: 0 (any free port) or a TCP port number."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"the port must be a whole number, not {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"the port must be 0 (any free port) or from 1 to 65535, not {port}")
    return port


def _positive(text: str) -> float:
    """--seconds: a finite number above zero."""
    from ..diagnose.probe import Deadline
    from ..errors import SlyTlsError

    try:
        return Deadline.check(text)
    except SlyTlsError as exc:
        raise argparse.ArgumentTypeError(str(exc).replace("timeout", "--seconds")) from None


#: The core writes its fixes as a notebook user types them; a terminal has the CLI instead.
_TERMINAL_WORDS = {
    "%sly_tls env": "python -m sly_nb_tls test --env FILE",
    "%sly_tls add --system": "python -m sly_nb_tls test URL --system",
    "%sly_tls ": "python -m sly_nb_tls ",
    "this kernel": "this process",
}
_MAGIC_WORDS = re.compile("|".join(re.escape(w) for w in _TERMINAL_WORDS))
#: Undo lines name commands only a kernel has: a CLI run undoes its own changes when it ends.
_KERNEL_ONLY = re.compile(r"%sly_tls (?:remove|reset|panel)\b")


def for_terminal(text: str, *, lines: bool = True) -> str:
    """`text` with the magic's commands and words said as the CLI says them; with `lines`, the
    lines that name a command only a kernel has are left out (not in JSON: it is one line)."""
    if lines:
        text = "\n".join(line for line in text.split("\n") if not _KERNEL_ONLY.search(line))
    return _MAGIC_WORDS.sub(lambda m: _TERMINAL_WORDS[m.group(0)], text)


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m sly_nb_tls",
        description="Trust a private CA for every HTTPS client in a Python process; diagnose TLS trouble.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    test = sub.add_parser("test", help="test the connection to URL step by step; exit 1 on a problem")
    test.add_argument("url", nargs="?", metavar="URL", help="default: SERVER_ADDRESS")
    test.add_argument("--ca", action="append", default=[], metavar="FILE", help="trust FILE's certificates first")
    test.add_argument("--env", action="append", default=[], metavar="FILE", help="load env FILE first")
    test.add_argument("--system", action="store_true", help="trust this machine's system store first (widens trust)")
    test.add_argument("--timeout", type=_seconds, default=10.0, metavar="S", help="bound for the whole test")
    add_route_arguments(test)
    add_token_argument(test)
    test.add_argument("--clients", action="store_true", help="also try each HTTPS client here, each its own way")
    test.add_argument("--json", action="store_true", help="print one JSON object")
    fetch = sub.add_parser("fetch", help="show the chain URL presents; --save writes it as PEM")
    fetch.add_argument("url", nargs="?", metavar="URL", help="default: SERVER_ADDRESS")
    fetch.add_argument("--save", metavar="FILE")
    fetch.add_argument("--overwrite", action="store_true")
    fetch.add_argument("--timeout", type=_seconds, default=10.0, metavar="S", help="bound for the whole fetch")
    add_route_arguments(fetch)
    fetch.add_argument("--json", action="store_true", help="print one JSON object")
    status = sub.add_parser(
        "status", help="what --ca FILE would change for each variable here; --clients: each client's trust"
    )
    status.add_argument("--ca", action="append", default=[], metavar="FILE", help="show the state after adding FILE")
    status.add_argument("--clients", action="store_true", help="each HTTPS library and tool here, and its trust")
    add = sub.add_parser(
        "add",
        help="trust CA in every new IPython and kernel of yours (no kernel runs here: install --scope user)",
    )
    add.add_argument("ca", nargs="+", metavar="CA", help="certificate files or directories to trust")
    install = sub.add_parser(
        "install", help="every new IPython/kernel of a scope loads sly_nb_tls and trusts CA, with zero cells"
    )
    install.add_argument("ca", nargs="*", metavar="CA", help="certificate files or directories to trust")
    install.add_argument("--scope", choices=["user", "env", "system"], default="user",
                         help="user: your profile; env: this Python environment; system: /etc/ipython")  # fmt: skip
    uninstall = sub.add_parser("uninstall", help="remove exactly what install added to a scope")
    uninstall.add_argument("--scope", choices=["user", "env", "system"], default="user")
    sub.add_parser("demo", help="run the whole story against the built-in demo server and print each step")
    server = sub.add_parser("demo-server", help="serve the demo Supervisely-like API over HTTPS on 127.0.0.1")
    server.add_argument("--port", type=_port, default=0, help="port (default: any free port)")
    server.add_argument("--seconds", type=_positive, default=None, help="stop after this long (default: until Ctrl-C)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    from ..errors import SlyTlsError

    try:
        if args.command == "test":
            return _test(args)
        if args.command == "fetch":
            return _fetch(args)
        if args.command == "status":
            return _status(args)
        if args.command in ("add", "install", "uninstall"):
            from ..trust.install import install, uninstall

            scope = getattr(args, "scope", "user")
            done = uninstall(scope=scope) if args.command == "uninstall" else install(*args.ca, scope=scope)
            print(for_terminal(str(done)))
            return 0
        if args.command == "demo-server":
            return _demo_server(args.port, args.seconds)
    except SlyTlsError as exc:
        print(f"error: {for_terminal(str(exc))}", file=sys.stderr)
        return 2
    if args.command == "demo":
        from .walkthrough import run_demo

        return run_demo(print)
    return 2  # pragma: no cover - argparse enforces the choices


def _emit(result: Any, as_json: bool) -> None:
    if as_json:
        print(for_terminal(json.dumps(result.to_dict(), ensure_ascii=False), lines=False))
    else:
        print(for_terminal(str(result)))


def _status(args: argparse.Namespace) -> int:
    from ..trust.extras import add_certs, status

    try:
        if args.ca:
            add_certs(*args.ca, live=False)
        print(for_terminal(str(status(clients=args.clients))))
    finally:
        _undo_registration()
    return 0


def _test(args: argparse.Namespace) -> int:
    from ..diagnose.connection import test_connection

    try:
        if args.env:
            from ..trust.envfile import load_env

            loaded = load_env(*args.env)
            if not args.json:
                print(for_terminal(str(loaded)), file=sys.stderr)
        if args.ca or args.system:
            from ..trust.extras import add_certs

            added = add_certs(*args.ca, live=False, system=args.system)
            if not args.json:
                for warning in added.warnings:
                    print(f"! {for_terminal(warning)}", file=sys.stderr)
    except BaseException:
        _undo_registration()
        raise
    try:
        report = test_connection(
            args.url, timeout=args.timeout, proxy=proxy_from_arguments(args), clients=args.clients,
            send_token=args.token,
        )  # fmt: skip
    finally:
        _undo_registration()
    _emit(report, args.json)
    return 0 if report.ok else 1


def _undo_registration() -> None:
    # A CLI run is over when it returns: leave no bundle files behind.
    trust = sys.modules.get("sly_nb_tls.trust.extras")
    if trust is not None:
        trust.reset()


def _fetch(args: argparse.Namespace) -> int:
    from ..diagnose.connection import fetch_chain

    report = fetch_chain(
        args.url, save=args.save, overwrite=args.overwrite, timeout=args.timeout, proxy=proxy_from_arguments(args)
    )
    _emit(report, args.json)
    return 0


def _demo_server(port: int, seconds: float | None) -> int:
    from ..demo import DemoServer
    from ..errors import SlyTlsError

    try:
        server = DemoServer(port=port).start()
    except OSError as exc:  # the port is taken, or below 1024 without the right to bind it
        raise SlyTlsError(f"cannot serve on 127.0.0.1 port {port}: {exc.strerror or exc}") from None
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
