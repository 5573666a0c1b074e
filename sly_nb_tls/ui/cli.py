"""The command line's parser and commands (`python -m sly_nb_tls`): one function per subcommand.

Exit status: 0 ok, 1 a problem was found, 2 usage error or unusable input.
``--json`` prints the result as one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from typing import Any

from .commands import CLI, build_parser, proxy_from_arguments
from .voices import speaking

__all__ = ["main"]


@speaking("cli")  # results and errors say their commands as python -m sly_nb_tls ones
def main(argv: Sequence[str] | None = None) -> int:
    top, parsers = build_parser(CLI)
    args = top.parse_args(argv)
    if args.command == "status" and args.audit is not None and args.ca:
        # the log says what happened; --ca imagines a change: together they would mean neither
        parsers["status"].error("--audit shows the audit log; it takes no --ca")
    if args.command == "status" and args.audit is not None and args.server:
        parsers["status"].error("--audit shows this machine's audit log; it takes no --server")
    from ..errors import SlyTlsError

    try:
        if args.command == "test":
            return _test(args)
        if args.command == "fetch":
            return _fetch(args)
        if args.command == "status":
            return _status(args)
        if args.command in ("add", "install", "uninstall"):
            from .._api import install, uninstall

            if getattr(args, "server", False):
                return _add_with_server(args)
            scope = getattr(args, "scope", "user")
            as_is = getattr(args, "as_is", False)
            done = (
                uninstall(scope=scope)
                if args.command == "uninstall"
                else install(*args.paths, scope=scope, as_is=as_is)
            )
            _emit(done, args.json)
            return 0
        if args.command == "demo-server":
            return _demo_server(args.port, args.seconds)
    except SlyTlsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.command == "demo":
        from .walkthrough import run_demo

        with speaking("magic"):  # the demo shows what a notebook user sees
            return run_demo(print)
    return 2  # pragma: no cover - argparse enforces the choices


def _emit(result: Any, as_json: bool) -> None:
    if as_json:
        print(json.dumps(result.to_dict(), ensure_ascii=False))
    else:
        print(result)


def _add_with_server(args: argparse.Namespace) -> int:
    """``add CA --server`` in a Jupyter terminal: the server first, then the install; all or nothing."""
    from .._api import add_to_server, install, remove_from_server
    from ..errors import NoServerError

    note, on_server = "", None
    try:
        on_server = add_to_server(*args.paths)
    except NoServerError as exc:  # one line, and the install goes ahead
        note = str(exc)
    try:
        done = install(*args.paths, scope="user", as_is=args.as_is)
    except BaseException:
        remove_from_server(on_server)
        raise
    done.server = on_server
    done.notes += [note] if note else []
    _emit(done, args.json)
    return 0


def _status(args: argparse.Namespace) -> int:
    if args.audit is not None:
        from .._api import audit

        _emit(audit(args.audit), args.json)
        return 0
    from .._api import add_certs, status

    try:
        if args.ca:
            add_certs(*args.ca, live=False)
        _emit(status(clients=args.clients, server=args.server), args.json)
    finally:
        _undo_registration()
    return 0


def _test(args: argparse.Namespace) -> int:
    from .._api import test_connection

    try:
        if args.env:
            from .._api import load_env

            loaded = load_env(*args.env)
            if not args.json:
                print(loaded, file=sys.stderr)
        if args.ca or args.system:
            from .._api import add_certs

            added = add_certs(*args.ca, live=False, system=args.system)
            if not args.json:
                for warning in added.warnings:
                    print(f"! {warning}", file=sys.stderr)
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
    from .._api import fetch_chain

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
