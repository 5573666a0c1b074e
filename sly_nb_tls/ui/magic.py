"""``%sly_tls``: the IPython front-end — parse, call the public API, return its result.

Bad input raises `UsageError`, which IPython shows as one line, no traceback.
No logic lives here: every subcommand is one call into the core.
"""

from __future__ import annotations

import argparse
import os
import shlex
from collections.abc import Callable
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class
from IPython.core.magic_arguments import MagicArgumentParser, argument, magic_arguments
from IPython.utils.process import arg_split  # type: ignore[attr-defined]  # public, re-exported

from .commands import add_route_arguments, add_token_argument, proxy_from_arguments

__all__ = ["SlyTlsMagics"]

#: Seconds before a running test or fetch shows a progress line.
PROGRESS_AFTER = 1.0


def _parser(name: str, description: str) -> MagicArgumentParser:
    return MagicArgumentParser(prog=f"%sly_tls {name}", description=description, add_help=False)


def _subcommands() -> dict[str, MagicArgumentParser]:
    subs: dict[str, MagicArgumentParser] = {}

    p = subs["add"] = _parser(
        "add", "Trust the certificates in PATH(s) (file, directory) or, as %%sly_tls add, the cell's PEM text."
    )
    p.add_argument("paths", nargs="*", metavar="PATH")
    p.add_argument("--no-live", action="store_true", help="leave clients that already exist alone")
    p.add_argument(
        "--system", action="store_true", help="also trust this machine's system store in every client (widens trust)"
    )
    p.add_argument(
        "--persist", action="store_true", help="also trust them in every new kernel of yours (install --scope user)"
    )

    p = subs["install"] = _parser(
        "install", "Load sly_nb_tls and trust these CAs in every new IPython/kernel of a scope, with zero cells."
    )
    p.add_argument("paths", nargs="*", metavar="PATH")
    p.add_argument("--scope", choices=["user", "env", "system"], default="user", help="whose kernels (default user)")
    p = subs["uninstall"] = _parser("uninstall", "Remove exactly what install added to a scope.")
    p.add_argument("--scope", choices=["user", "env", "system"], default="user", help="whose kernels (default user)")

    p = subs["remove"] = _parser(
        "remove", "Stop trusting a certificate: a SHA-256 prefix (>= 8 hex digits) or the PATH it was added from."
    )
    p.add_argument("target", metavar="FINGERPRINT-PREFIX|PATH")

    p = subs["status"] = _parser("status", "Show what is trusted, which variables were changed, how to undo.")
    p.add_argument(
        "--clients", action="store_true", help="also each HTTPS library here and the trust it will use right now"
    )
    subs["reset"] = _parser("reset", "Undo every change sly_nb_tls made in this kernel.")

    p = subs["env"] = _parser(
        "env",
        "Load env files (default: local.env, .env, ~/supervisely.env) and register the CA files they name.",
    )
    p.add_argument("files", nargs="*", metavar="FILE")
    p.add_argument("--override", action="store_true", help="file values win over variables already set")

    p = subs["test"] = _parser(
        "test", "Test the connection step by step (default URL: SERVER_ADDRESS) and say how to fix it."
    )
    p.add_argument("url", nargs="?", metavar="URL")
    p.add_argument("--timeout", type=float, default=10.0, metavar="S", help="bound for the whole test (default 10)")
    add_route_arguments(p)
    add_token_argument(p)
    p.add_argument(
        "--clients", action="store_true", help="also send one request with each HTTPS client here, each its own way"
    )

    p = subs["fetch"] = _parser(
        "fetch", "Show the chain the server presents; --save writes it as PEM. Never adds trust."
    )
    p.add_argument("url", nargs="?", metavar="URL")
    p.add_argument("--save", metavar="FILE", help="write the root CA it sends (else its CA certificates) to FILE")
    p.add_argument("--overwrite", action="store_true", help="replace FILE if it holds something else")
    p.add_argument("--timeout", type=float, default=10.0, metavar="S", help="bound for the fetch (default 10)")
    add_route_arguments(p)

    subs["panel"] = _parser("panel", "Show the interactive panel (ipywidgets).")
    return subs


_SUBCOMMANDS = _subcommands()


def _split(line: str) -> list[str]:
    """Split like a shell, so "a path with spaces" loses its quotes.

    IPython's own parse_argstring splits non-POSIX and keeps the quotes. On
    Windows, POSIX rules would eat the backslashes of paths, so there only the
    surrounding quotes are stripped.
    """
    if os.name != "nt":
        try:
            return shlex.split(line)
        except ValueError as exc:  # an unbalanced quote
            raise UsageError(f"%sly_tls: {exc}: {line!r}") from None
    tokens = arg_split(line, posix=False)
    return [t[1:-1] if len(t) >= 2 and t[0] == t[-1] and t[0] in "\"'" else t for t in tokens]


def _usage_block() -> str:
    """Every subcommand's usage and options, for `%sly_tls?`.

    Formatted with plain argparse: IPython's help formatter would prefix each
    usage with "::" and a second "%".
    """
    lines = ["", "Subcommands:", ""]
    for name, parser in _SUBCOMMANDS.items():
        formatter = argparse.HelpFormatter(prog=f"%sly_tls {name}", width=100)
        formatter.add_usage(parser.usage, parser._actions, parser._mutually_exclusive_groups, prefix="")
        lines.append("  " + formatter.format_help().strip())
        lines.append(f"      {parser.description}")
        for action in parser._actions:
            if action.option_strings and action.help:
                metavar = f" {action.metavar}" if action.metavar else ""
                lines.append(f"        {', '.join(action.option_strings)}{metavar}: {action.help}")
    return "\n".join(lines)


@magics_class
class SlyTlsMagics(Magics):
    """Holds no state: the trust registry is process-wide, shared with the Python API."""

    @magic_arguments()
    @argument("command", nargs="?", default="status", choices=list(_SUBCOMMANDS), help="what to do (default: status)")
    @argument("args", nargs=argparse.REMAINDER, help="arguments of the subcommand")
    @line_cell_magic
    def sly_tls(self, line: str, cell: str | None = None) -> Any:
        """Trust a private CA in this kernel for every HTTPS client, without a restart."""
        top = self.sly_tls.parser.parse_args(_split(line))
        parser = _SUBCOMMANDS[top.command]
        args = parser.parse_args(top.args)
        handler: Callable[[argparse.Namespace, str | None], Any] = getattr(self, f"_do_{top.command}")
        if cell is not None and top.command != "add":
            raise UsageError(
                f"%%sly_tls {top.command} takes no cell body; only %%sly_tls add reads PEM text from the cell"
            )
        from ..errors import SlyTlsError

        try:
            return handler(args, cell)
        except SlyTlsError as exc:
            raise UsageError(str(exc)) from None

    def _do_add(self, args: argparse.Namespace, cell: str | None) -> Any:
        from ..trust.extras import add_certs

        sources: list[str] = list(args.paths)
        if cell is not None:
            if not cell.strip():
                raise UsageError("%%sly_tls add: the cell is empty; paste PEM certificates into it")
            sources.insert(0, cell)
        if not sources and not args.system:
            raise UsageError(
                "%sly_tls add needs a PATH (file or directory), --system, or %%sly_tls add with PEM text in the cell"
            )
        return add_certs(*sources, live=not args.no_live, system=args.system, persist=args.persist)

    def _do_install(self, args: argparse.Namespace, cell: str | None) -> Any:
        from ..trust.install import install

        return install(*args.paths, scope=args.scope)

    def _do_uninstall(self, args: argparse.Namespace, cell: str | None) -> Any:
        from ..trust.install import uninstall

        return uninstall(scope=args.scope)

    def _do_remove(self, args: argparse.Namespace, cell: str | None) -> Any:
        from ..trust.extras import remove

        return remove(args.target)

    def _do_status(self, args: argparse.Namespace, cell: str | None) -> Any:
        from ..trust.extras import status

        return status(clients=args.clients)

    def _do_reset(self, args: argparse.Namespace, cell: str | None) -> Any:
        from ..trust.extras import reset

        return reset()

    def _do_env(self, args: argparse.Namespace, cell: str | None) -> Any:
        from ..trust.envfile import load_env

        return load_env(*args.files, override=args.override)

    def _do_test(self, args: argparse.Namespace, cell: str | None) -> Any:
        from ..diagnose.connection import test_connection
        from ..diagnose.probe import Deadline, Target

        url, timeout = Target.parse(args.url).text, Deadline.check(args.timeout)
        with _shown_if_slow(f"⋯ testing {url} (at most {timeout:g} s)"):
            return test_connection(
                url, timeout=timeout, proxy=proxy_from_arguments(args), clients=args.clients, send_token=args.token
            )

    def _do_fetch(self, args: argparse.Namespace, cell: str | None) -> Any:
        from ..diagnose.connection import fetch_chain
        from ..diagnose.probe import Deadline, Target

        url, timeout = Target.parse(args.url).text, Deadline.check(args.timeout)
        with _shown_if_slow(f"⋯ fetching the chain of {url} (at most {timeout:g} s)"):
            return fetch_chain(
                url, save=args.save, overwrite=args.overwrite, timeout=timeout, proxy=proxy_from_arguments(args)
            )

    def _do_panel(self, args: argparse.Namespace, cell: str | None) -> Any:
        try:
            from .panel import panel
        except ImportError as exc:
            raise UsageError(
                f"the panel needs ipywidgets 8 ({exc.name} is missing): pip install 'sly-nb-tls[widgets]'"
            ) from None
        return panel()


class _shown_if_slow:
    """Show `text` only if the work takes over a second, and replace it when done.

    Fast answers (the usual case) leave no trace in the output, which keeps
    notebooks clean; a slow one shows the user something is happening.
    """

    def __init__(self, text: str, after: float | None = None):
        import threading

        self.text = text
        after = PROGRESS_AFTER if after is None else after
        self.handle: Any = None
        self.started = 0.0
        self.lock = threading.Lock()
        self.timer = threading.Timer(after, self._show)
        self.timer.daemon = True

    def _show(self) -> None:
        from IPython.display import display

        with self.lock:
            self.handle = display({"text/plain": self.text}, raw=True, display_id=True)

    def __enter__(self) -> _shown_if_slow:
        import time

        self.started = time.perf_counter()
        if self.timer.interval <= 0:
            self._show()  # "always": no race between the timer thread and fast work
        else:
            self.timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        import time

        self.timer.cancel()
        with self.lock:
            if self.handle is not None:
                self.handle.update({"text/plain": f"done in {time.perf_counter() - self.started:.1f} s"}, raw=True)


SlyTlsMagics.sly_tls.__doc__ = (SlyTlsMagics.sly_tls.__doc__ or "") + _usage_block()
