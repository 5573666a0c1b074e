"""The front-ends' words for a command: the magic's, the command line's and the panel's.

Importing this module registers them; a front-end then says everything it
makes in its own words with ``speaking("magic")`` (or "cli", "panel").
"""

from __future__ import annotations

import shlex
from collections.abc import Callable

from .._fixes import Command, Fix, register, speaking

__all__ = ["speaking"]


def _for_magic(text: str) -> str:
    """Quoted only where the magic's shell-like split needs it: a placeholder like <fingerprint> stays as it is."""
    return shlex.quote(text) if not text or any(c.isspace() or c in "'\"\\" for c in text) else text


def _words(command: Command, quote: Callable[[str], str] = shlex.quote) -> list[str]:
    """`command` as shell words: action, arguments, then ``--option value`` / ``--flag``."""
    words = [command.action, *(quote(a) for a in command.args)]
    for name, value in command.options:
        words.append(f"--{name}" if value is True else f"--{name} {quote(str(value))}")
    return words


class MagicVoice:
    """``%sly_tls add corp.crt``."""

    where = "this kernel"
    lasting = True

    def say(self, command: Command, fix: Fix | None = None) -> str:
        if command.action == "set-variable":
            name, value = (*command.args, "")[:2]
            return f"%env {name}={value}"
        return "%sly_tls " + " ".join(_words(command, _for_magic))


class CliVoice:
    """``python -m sly_nb_tls add corp.crt``: a run undoes its own changes when it ends."""

    where = "this process"
    lasting = False

    def say(self, command: Command, fix: Fix | None = None) -> str:
        if command.action == "set-variable":
            name, value = (*command.args, "")[:2]
            return f"{name}={shlex.quote(value)}"
        if command.action == "env":  # the command line loads env files as part of a test
            files = command.args or ("FILE",)
            return "python -m sly_nb_tls test " + " ".join(f"--env {shlex.quote(f)}" for f in files)
        if command.action == "add" and command.option("system"):  # its add installs files; a test can widen
            return "python -m sly_nb_tls test URL --system"
        return "python -m sly_nb_tls " + " ".join(_words(command))


class PanelVoice:
    """The panel's buttons and fields; what it has no widget for, it says as the magic does."""

    where = "this kernel"
    lasting = True

    def say(self, command: Command, fix: Fix | None = None) -> str:
        said = self._widgets(command, fix)
        return said if said is not None else MagicVoice().say(command, fix)

    @staticmethod
    def _saved_before(command: Command, fix: Fix | None) -> bool:
        """Whether `fix` fetched and saved the very file this `add` names: the panel trusts the chain it shows."""
        saved = {str(c.option("save")) for c in (fix.commands if fix else ()) if c.action == "fetch"}
        return bool(command.args) and set(command.args) <= saved

    def _widgets(self, command: Command, fix: Fix | None) -> str | None:
        action, options = command.action, dict(command.options)
        if action == "fetch" and set(options) <= {"save"}:
            where = f'put {command.args[0]} in "Server", ' if command.args else ""
            return f'{where}press "Fetch chain"'
        if action == "add" and self._saved_before(command, fix):
            return 'press "Trust this chain" (or "Find the root")'
        if action == "add" and options == {"system": True} and not command.args:
            return 'press "Add system store"'
        if action == "add" and not options:
            return f'type {" ".join(command.args)} in "Certificate" and press "Add"'
        if action == "test" and set(options) <= {"timeout"}:
            where = f'put {command.args[0]} in "Server", ' if command.args else ""
            timeout = f'set "Timeout (s)" to {options["timeout"]}, ' if "timeout" in options else ""
            return f'{where}{timeout}press "Test"'
        if action == "env" and not options:
            files = f'put {" ".join(command.args)} in "Env files", ' if command.args else ""
            return f'{files}press "Load"'
        if action == "reset":
            return 'press "Reset all"'
        if action == "remove":
            return 'press "Remove" next to it'
        if action == "status":
            return 'press "Refresh"'
        return None


register("magic", MagicVoice())
register("cli", CliVoice())
register("panel", PanelVoice())
