"""The one command spec: every subcommand of ``%sly_tls`` and ``python -m sly_nb_tls``, and the parsers built from it.

Both front-ends' parsers, the magic's ``%sly_tls?`` and the command line's
``--help`` come from the `COMMANDS` table, so a command or an option is
declared once.  Only argparse, and no parser is built at import: ``%load_ext``
imports this module and must stay fast, so ``%sly_tls?`` is written from the
table itself (a test checks each usage line against argparse's).
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from .._words import SCOPES

__all__ = [
    "AUDIT_RECORDS",
    "CLI",
    "COMMANDS",
    "FRONTS",
    "MAGIC",
    "Arg",
    "Command",
    "Front",
    "build_parser",
    "commands",
    "proxy_from_arguments",
    "reference",
]

Front = Literal["magic", "cli"]
MAGIC: Front = "magic"
CLI: Front = "cli"


@dataclass(frozen=True)
class FrontEnd:
    """How one front-end is called: its program name, its one-line job, its default command."""

    prog: str
    description: str
    #: argparse's -h/--help: a terminal has it; a magic has ``%sly_tls?`` instead
    help_option: bool
    #: the command a bare call runs ("": a command is required)
    default: str = ""
    epilog: str | None = None


FRONTS: dict[Front, FrontEnd] = {
    MAGIC: FrontEnd(
        "%sly_tls", "Trust a private CA in this kernel for every HTTPS client, without a restart.", False, "status"
    ),
    CLI: FrontEnd(
        "python -m sly_nb_tls",
        "Trust a private CA for every HTTPS client in a Python process; diagnose TLS trouble.",
        True,
        epilog="Exit status: 0 ok, 1 a problem was found, 2 usage error or unusable input.",
    ),
}


def _seconds(text: str) -> float:
    """A --timeout, checked by the one rule the API applies too: refused before anything is done."""
    from .._bounded import checked_seconds  # at the first parse, not at %load_ext
    from ..errors import SlyTlsError

    try:
        return checked_seconds(text)
    except SlyTlsError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive(text: str) -> float:
    """--seconds: a finite number above zero."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"--seconds must be a positive, finite number of seconds, not {text!r}")
    return value


#: `status --audit` without N: the API's own default, ``sly_nb_tls.audit(n=20)`` (a test compares them)
AUDIT_RECORDS = 20


def _records(text: str) -> int:
    """--audit N: a whole number of records, at least 1 (the rule `sly_nb_tls.audit` applies, in its words)."""
    try:
        number = int(text)
    except ValueError:
        number = None
    if number is None or number < 1:
        shown = text if number is None else number
        raise argparse.ArgumentTypeError(f"the number of records must be a whole number of at least 1, not {shown!r}")
    return number


def _port(text: str) -> int:
    """A --port: 0 (any free port) or a TCP port number."""
    try:
        number = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"the port must be a whole number, not {text!r}") from None
    if not 0 <= number <= 65535:
        raise argparse.ArgumentTypeError(f"the port must be 0 (any free port) or from 1 to 65535, not {number}")
    return number


@dataclass(frozen=True)
class Arg:
    """One argument: its flags (or positional name) and the keywords argparse's ``add_argument`` takes."""

    flags: tuple[str, ...]
    help: str | None = None
    metavar: str | None = None
    nargs: str | None = None
    action: str | None = None
    choices: tuple[str, ...] | None = None
    default: Any = None
    #: the value of an option given without its optional value (``nargs="?"``)
    const: Any = None
    type: Callable[[str], Any] | None = None
    #: arguments with the same group exclude each other
    group: str | None = None
    #: the one front-end that offers it (None: both)
    only: Front | None = None

    def keywords(self) -> dict[str, Any]:
        names = ("help", "metavar", "nargs", "action", "choices", "default", "const", "type")
        keywords = {name: getattr(self, name) for name in names if getattr(self, name) is not None}
        if self.action == "append" and self.default is None:
            keywords["default"] = []  # a list, not None: `*args.ca` must work when no --ca is given
        return keywords

    def usage(self) -> str:
        """Its word in a usage line, as argparse writes it: ``[--save FILE]``, ``[--audit [N]]``, ``[URL]``,
        ``CA [CA ...]``."""
        name = self.metavar or (self.flags[0].upper() if not self.flags[0].startswith("-") else "")
        if not self.flags[0].startswith("-"):
            return {"?": f"[{name}]", "*": f"[{name} ...]", "+": f"{name} [{name} ...]"}.get(self.nargs or "", name)
        return f"[{self._option()}]"

    def _option(self) -> str:
        if self.action in ("store_true", "store_false"):
            return self.flags[0]
        value = self.metavar or (
            "{" + ",".join(self.choices) + "}" if self.choices else self.flags[0].lstrip("-").upper()
        )
        return f"{self.flags[0]} [{value}]" if self.nargs == "?" else f"{self.flags[0]} {value}"

    def shown(self) -> str:
        """How the reference names it: ``--save FILE``, ``--scope {user,env,system}``, ``URL``."""
        if not self.flags[0].startswith("-"):
            return self.metavar or self.flags[0].upper()
        value = self.metavar or ("{" + ",".join(self.choices) + "}" if self.choices else "")
        if value and self.nargs == "?":
            value = f"[{value}]"
        return ", ".join(self.flags) + (f" {value}" if value else "")


@dataclass(frozen=True)
class Command:
    """One subcommand: its name, what it does in one line, its arguments and where it is offered."""

    name: str
    help: str
    args: tuple[Arg, ...] = ()
    #: the one front-end that offers it (None: both)
    only: Front | None = None
    #: the magic's cell form (``%%sly_tls add``) passes the cell's text to it
    cell: bool = False

    def arguments(self, front: Front) -> tuple[Arg, ...]:
        return tuple(a for a in self.args if a.only in (None, front))

    def usage(self, front: Front) -> str:
        """The command's usage line as argparse writes it, without building a parser (``%load_ext``
        stays fast): options first, those that exclude each other as ``[--a URL | --b]``."""
        words: list[str] = ["[-h]"] if FRONTS[front].help_option else []
        done: set[str] = set()
        arguments = self.arguments(front)
        for arg in (a for a in arguments if a.flags[0].startswith("-")):
            if arg.group is None:
                words.append(arg.usage())
            elif arg.group not in done:
                done.add(arg.group)
                words.append("[" + " | ".join(a._option() for a in arguments if a.group == arg.group) + "]")
        words += [a.usage() for a in arguments if not a.flags[0].startswith("-")]
        return " ".join([f"{FRONTS[front].prog} {self.name}", *words])


_URL = Arg(("url",), metavar="URL", nargs="?", help="default: SERVER_ADDRESS")
_ROUTE = (
    Arg(("--proxy",), metavar="URL", group="route", help="through this proxy, not the one requests would choose"),
    Arg(("--direct",), action="store_true", group="route", help="connect directly, whatever HTTPS_PROXY says"),
)
# A kernel's user gets the result object itself; a terminal's may want to parse it.
_JSON = Arg(("--json",), action="store_true", help="print one JSON object", only=CLI)
_SCOPE = Arg(
    ("--scope",),
    choices=SCOPES,
    default="user",
    help="whose new kernels: user = your profile, env = this Python environment, system = the machine (default user)",
)
#: the Jupyter server that started this kernel (its terminals, LSP servers, kernels of any language)
_SERVER = Arg(
    ("--server",),
    action="store_true",
    help="also the Jupyter server that started this kernel, and every process it starts from now on",
)
_PATHS = Arg(("paths",), metavar="PATH", nargs="*", help="certificate files or directories")
#: a root that strict checks reject for its own structure is otherwise trusted as its equivalent anchor
_AS_IS = Arg(
    ("--as-is",),
    action="store_true",
    help="trust a root that strict X.509 checks reject as it is, not its equivalent anchor (same name and key, "
    "the defect corrected)",
)


def _timeout(what: str) -> Arg:
    return Arg(
        ("--timeout",), type=_seconds, default=10.0, metavar="S", help=f"bound for the whole {what} (default 10)"
    )


# Order: as the reference lists them.  A command or an argument with `only` says why on its line.
COMMANDS: tuple[Command, ...] = (
    # The same word, two jobs: a kernel trusts now; a terminal has no kernel to trust in, so it installs.
    Command(
        "add",
        "Trust the certificates in PATH(s) (file, directory) or, as %%sly_tls add, the cell's PEM text.",
        (
            _PATHS,
            Arg(("--no-live",), action="store_true", help="leave clients that already exist alone"),
            Arg(
                ("--system",),
                action="store_true",
                help="also trust this machine's system store in every client (widens trust)",
            ),
            Arg(
                ("--persist",),
                action="store_true",
                help="also trust them in every new kernel of yours (install --scope user)",
            ),
            _SERVER,
            _AS_IS,
        ),
        only=MAGIC,
        cell=True,
    ),
    Command(
        "add",
        "Trust CA in every new IPython and kernel of yours (no kernel runs here: install --scope user).",
        (
            Arg(("paths",), metavar="CA", nargs="+", help="certificate files or directories to trust"),
            _SERVER,
            _AS_IS,
            _JSON,
        ),
        only=CLI,
    ),
    # A command-line run undoes its own changes when it ends: nothing is left to remove or reset.
    Command(
        "remove",
        "Stop trusting a certificate: a SHA-256 prefix (>= 8 hex digits) or the PATH it was added from.",
        (Arg(("target",), metavar="FINGERPRINT-PREFIX|PATH"),),
        only=MAGIC,
    ),
    Command(
        "status",
        "Show what is trusted, the policy in force, how to undo; --clients: each client's trust; --audit: the log.",
        (
            # A kernel adds with `add` first; a terminal run asks "what would --ca FILE change".
            Arg(("--ca",), action="append", metavar="FILE", help="show the state after adding FILE", only=CLI),
            Arg(
                ("--clients",),
                action="store_true",
                group="view",
                help="also each HTTPS library here and the trust it will use right now",
            ),
            # Another view, not another part of the status: what changed (or was refused) before now.
            Arg(
                ("--audit",),
                nargs="?",
                const=AUDIT_RECORDS,
                type=_records,
                metavar="N",
                group="view",
                help=f"instead, the last N records of the audit log (default {AUDIT_RECORDS}): "
                "who added, removed or was refused what, and when",
            ),
            Arg(
                ("--server",), action="store_true", help="also what the Jupyter server that started this kernel trusts"
            ),
            _JSON,
        ),
    ),
    Command("reset", "Undo every change sly_nb_tls made in this kernel.", only=MAGIC),
    # Variables loaded by a command-line run vanish when it ends; there, `test --env FILE` uses them.
    Command(
        "env",
        "Load env files (default: local.env, .env, ~/supervisely.env) and register the CA files they name.",
        (
            Arg(("files",), metavar="FILE", nargs="*"),
            Arg(("--override",), action="store_true", help="file values win over variables already set"),
        ),
        only=MAGIC,
    ),
    Command(
        "test",
        "Test the connection step by step (default URL: SERVER_ADDRESS) and say how to fix it.",
        (
            _URL,
            # A kernel runs `add` / `env` first; a terminal run has only this command to set them up.
            Arg(("--ca",), action="append", metavar="FILE", help="trust FILE's certificates first", only=CLI),
            Arg(("--env",), action="append", metavar="FILE", help="load env FILE first", only=CLI),
            Arg(
                ("--system",),
                action="store_true",
                help="trust this machine's system store first (widens trust)",
                only=CLI,
            ),
            _timeout("test"),
            *_ROUTE,
            Arg(
                ("--token",),
                action="store_true",
                help="send API_TOKEN to URL even when URL is not SERVER_ADDRESS's host and port",
            ),
            Arg(
                ("--clients",),
                action="store_true",
                help="also send one request with each HTTPS client here, each its own way",
            ),
            _JSON,
        ),
    ),
    Command(
        "fetch",
        "Show the chain the server presents; --save writes it as PEM. Never adds trust.",
        (
            _URL,
            Arg(("--save",), metavar="FILE", help="write the root CA it sends (else its CA certificates) to FILE"),
            Arg(("--overwrite",), action="store_true", help="replace FILE if it holds something else"),
            _timeout("fetch"),
            *_ROUTE,
            _JSON,
        ),
    ),
    Command(
        "install",
        "Load sly_nb_tls and trust these CAs in every new IPython/kernel of a scope, with zero cells.",
        (_PATHS, _SCOPE, _AS_IS, _JSON),
    ),
    Command("uninstall", "Remove exactly what install added to a scope.", (_SCOPE, _JSON)),
    # Widgets need a notebook to show them.
    Command("panel", "Show the interactive panel (ipywidgets).", only=MAGIC),
    # The walkthrough loads an env file and resets trust as it goes: a kernel's user would lose their own.
    Command("demo", "Run the whole story against the built-in demo server and print each step.", only=CLI),
    # It serves until Ctrl-C, which would block a kernel; in a notebook, use sly_nb_tls.demo.DemoServer.
    Command(
        "demo-server",
        "Serve the demo Supervisely-like API over HTTPS on 127.0.0.1.",
        (
            Arg(("--port",), type=_port, default=0, help="port (default: any free port)"),
            Arg(("--seconds",), type=_positive, help="stop after this long (default: until Ctrl-C)"),
        ),
        only=CLI,
    ),
)


def commands(front: Front) -> tuple[Command, ...]:
    """The commands `front` offers, in the reference's order."""
    return tuple(c for c in COMMANDS if c.only in (None, front))


def build_parser(
    front: Front, parser_class: type[argparse.ArgumentParser] = argparse.ArgumentParser, *, width: int | None = None
) -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """`front`'s parser with one subparser per command, and those subparsers by name.

    `parser_class` decides what a usage error does (the magic's raises
    `UsageError`); `width` fixes the help's width (default: the terminal's).
    """
    spec = FRONTS[front]

    def formatter(prog: str) -> argparse.HelpFormatter:
        return argparse.HelpFormatter(prog, width=width)

    common: dict[str, Any] = {"formatter_class": formatter, "add_help": spec.help_option}
    top = parser_class(prog=spec.prog, description=spec.description, epilog=spec.epilog, **common)
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=parser_class)
    parsers = {}
    for command in commands(front):
        parser = sub.add_parser(
            command.name, prog=f"{spec.prog} {command.name}", help=command.help, description=command.help, **common
        )
        groups: dict[str, Any] = {}
        for arg in command.arguments(front):
            if arg.group is not None and arg.group not in groups:
                groups[arg.group] = parser.add_mutually_exclusive_group()
            target = parser if arg.group is None else groups[arg.group]
            target.add_argument(*arg.flags, **arg.keywords())
        parsers[command.name] = parser
    return top, parsers


def reference(front: Front) -> str:
    """What `front` does, then each command's usage, job and arguments: the text of ``%sly_tls?``."""
    spec = FRONTS[front]
    bare = f"   (no COMMAND: {spec.default})" if spec.default else ""
    lines = [spec.description, "", f"Usage: {spec.prog} COMMAND [ARGUMENTS]{bare}", "", "Subcommands:", ""]
    for command in commands(front):
        lines += [f"  {command.usage(front)}", f"      {command.help}"]
        lines += [f"        {arg.shown()}: {arg.help}" for arg in command.arguments(front) if arg.help]
    return "\n".join(lines)


def proxy_from_arguments(args: argparse.Namespace) -> str | None:
    """The `proxy` argument of test/fetch: "" for --direct, None for "as requests would"."""
    return "" if args.direct else args.proxy
