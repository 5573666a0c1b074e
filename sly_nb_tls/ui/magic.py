"""``%sly_tls``: the IPython front-end — parse, call the public API, return its result.

Bad input raises `UsageError`, which IPython shows as one line, no traceback.
No logic lives here: every subcommand is one call into the core.
"""

from __future__ import annotations

import argparse
import functools
import os
import shlex
from collections.abc import Callable
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class
from IPython.core.magic_arguments import MagicArgumentParser
from IPython.utils.process import arg_split  # type: ignore[attr-defined]  # public, re-exported

from .commands import FRONTS, MAGIC, build_parser, commands, proxy_from_arguments, reference

__all__ = ["SlyTlsMagics"]

#: Seconds before a running test or fetch shows a progress line.
PROGRESS_AFTER = 1.0


class _Parser(MagicArgumentParser):
    """IPython's parser for magics, so a usage error is a one-line `UsageError`, built from the command spec."""

    def __init__(self, **kwargs: Any) -> None:
        # Python 3.14's add_parser passes color=, which MagicArgumentParser's fixed signature does not take.
        kwargs.pop("color", None)
        super().__init__(**kwargs)


@functools.cache
def _parser() -> argparse.ArgumentParser:
    """Built at the first ``%sly_tls``, not at ``%load_ext`` (argparse's setup costs milliseconds)."""
    return build_parser(MAGIC, _Parser)[0]


_COMMANDS = {command.name: command for command in commands(MAGIC)}


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


@magics_class
class SlyTlsMagics(Magics):
    """Holds no state: the trust registry is process-wide, shared with the Python API."""

    @line_cell_magic
    def sly_tls(self, line: str, cell: str | None = None) -> Any:
        # The docstring (`%sly_tls?`) is made from the command spec at the end of this module.
        args = _parser().parse_args(_split(line) or [FRONTS[MAGIC].default])
        handler: Callable[[argparse.Namespace, str | None], Any] = getattr(self, f"_do_{args.command}")
        if cell is not None and not _COMMANDS[args.command].cell:
            takes = " or ".join(f"%%sly_tls {name}" for name, command in _COMMANDS.items() if command.cell)
            raise UsageError(f"%%sly_tls {args.command} takes no cell body; only {takes} reads PEM text from the cell")
        from ..errors import SlyTlsError
        from .voices import speaking  # here, not at %load_ext: it loads the rendering modules

        try:
            with speaking("magic"):  # results and errors say their commands as %sly_tls ones
                return handler(args, cell)
        except SlyTlsError as exc:
            raise UsageError(str(exc)) from None

    def _do_add(self, args: argparse.Namespace, cell: str | None) -> Any:
        from .._api import add_certs

        sources: list[str] = list(args.paths)
        if cell is not None:
            if not cell.strip():
                raise UsageError("%%sly_tls add: the cell is empty; paste PEM certificates into it")
            sources.insert(0, cell)
        if not sources and not args.system:
            raise UsageError(
                "%sly_tls add needs a PATH (file or directory), --system, or %%sly_tls add with PEM text in the cell"
            )
        return add_certs(
            *sources,
            live=not args.no_live,
            system=args.system,
            persist=args.persist,
            server=args.server,
            as_is=args.as_is,
        )

    def _do_install(self, args: argparse.Namespace, cell: str | None) -> Any:
        from .._api import install

        return install(*args.paths, scope=args.scope, as_is=args.as_is)

    def _do_uninstall(self, args: argparse.Namespace, cell: str | None) -> Any:
        from .._api import uninstall

        return uninstall(scope=args.scope)

    def _do_remove(self, args: argparse.Namespace, cell: str | None) -> Any:
        from .._api import remove

        return remove(args.target)

    def _do_status(self, args: argparse.Namespace, cell: str | None) -> Any:
        if args.audit is not None:
            from .._api import audit

            if args.server:
                raise UsageError("%sly_tls status --audit shows this machine's audit log; it takes no --server")
            return audit(args.audit)
        from .._api import status

        return status(clients=args.clients, server=args.server)

    def _do_reset(self, args: argparse.Namespace, cell: str | None) -> Any:
        from .._api import reset

        return reset()

    def _do_env(self, args: argparse.Namespace, cell: str | None) -> Any:
        from .._api import load_env

        return load_env(*args.files, override=args.override)

    def _do_test(self, args: argparse.Namespace, cell: str | None) -> Any:
        from .._api import test_connection

        url, timeout = args.url, args.timeout
        with _shown_if_slow(f"⋯ testing {url or 'SERVER_ADDRESS'} (at most {timeout:g} s)"):
            return test_connection(
                url, timeout=timeout, proxy=proxy_from_arguments(args), clients=args.clients, send_token=args.token
            )

    def _do_fetch(self, args: argparse.Namespace, cell: str | None) -> Any:
        from .._api import fetch_chain

        url, timeout = args.url, args.timeout
        with _shown_if_slow(f"⋯ fetching the chain of {url or 'SERVER_ADDRESS'} (at most {timeout:g} s)"):
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


SlyTlsMagics.sly_tls.__doc__ = reference(MAGIC)
