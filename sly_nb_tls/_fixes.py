"""Advice as data (a `Fix`: words and the `Command`s that act), said in the voice of the front-end in use.

The core never spells a command: it builds ``command("add", "corp.crt")`` and
each front-end says it its own way — the API ``sly_nb_tls.add_certs("corp.crt")``
(the default voice, defined here), the magic ``%sly_tls add corp.crt``, the
command line ``python -m sly_nb_tls add corp.crt``, the panel a button.  The
front-ends register their voices (`register`) and choose one while they run
(`speaking`); a result object keeps the voice it was made in (`spoken`), so a
notebook shows it in the words of the front-end that made it, after that
front-end returned.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Protocol

from ._render import esc

__all__ = [
    "Command",
    "Fix",
    "Voice",
    "command",
    "current_voice",
    "fix",
    "lasting",
    "register",
    "say",
    "speaking",
    "spoken",
    "where",
]

#: An option's value: a flag (True), a number or a text.
Value = str | int | bool


@dataclass(frozen=True)
class Command:
    """One operation every front-end offers: `add corp.crt`, `fetch URL --save F`, `test URL --direct`."""

    action: str
    args: tuple[str, ...] = ()
    options: tuple[tuple[str, Value], ...] = ()

    def option(self, name: str) -> Value | None:
        return dict(self.options).get(name)

    def to_dict(self) -> dict[str, Any]:
        return {"action": self.action, "args": list(self.args), "options": dict(self.options)}

    def __str__(self) -> str:
        return say(self)


def command(action: str, *args: str, **options: Value) -> Command:
    """``command("fetch", url, save="corp.crt")``; a False or empty option is left out."""
    return Command(action, tuple(args), tuple((k, v) for k, v in options.items() if v is not False and v != ""))


@dataclass(frozen=True)
class Fix:
    """The one thing to do next: words and commands, in the order they are said.

    Words are kept apart from commands (never formatted into a template): they
    may carry a certificate's name, which must stay text.
    """

    parts: tuple[str | Command, ...]
    #: what kind of fix, where the first step is no command: "ask-admin", "check-clock", "check-proxy"…
    kind: str = ""

    @property
    def commands(self) -> tuple[Command, ...]:
        return tuple(p for p in self.parts if isinstance(p, Command))

    @property
    def action(self) -> str:
        """What to do first: the `kind`, else the first command's action ("advice" for words only)."""
        return self.kind or (self.commands[0].action if self.commands else "advice")

    @property
    def _main(self) -> Command | None:
        return next((c for c in self.commands if c.action == self.action), None)

    @property
    def args(self) -> tuple[str, ...]:
        return self._main.args if self._main else ()

    @property
    def options(self) -> tuple[tuple[str, Value], ...]:
        return self._main.options if self._main else ()

    def render(self, voice: str | None = None) -> str:
        return "".join(p if isinstance(p, str) else say(p, voice, self) for p in self.parts)

    def html(self, voice: str | None = None) -> str:
        """Escaped; each command in ``<code>``, to be copied."""
        return "".join(esc(p) if isinstance(p, str) else f"<code>{esc(say(p, voice, self))}</code>" for p in self.parts)

    def to_dict(self, voice: str | None = None) -> dict[str, Any]:
        return {
            "action": self.action,
            "args": list(self.args),
            "options": dict(self.options),
            "commands": [c.to_dict() for c in self.commands],
            "text": self.render(voice),
        }

    def __str__(self) -> str:
        return self.render()


def fix(*parts: str | Command, kind: str = "") -> Fix:
    return Fix(tuple(p for p in parts if p != ""), kind)


class Voice(Protocol):
    """How one front-end says a command, and where its changes hold."""

    #: "this kernel" or "this process"
    where: str
    #: True where the session outlives the command, so undoing (remove, reset) means something
    lasting: bool

    def say(self, command: Command, fix: Fix | None = None) -> str: ...


def _literal(value: Value) -> str:
    if isinstance(value, bool) or isinstance(value, int):
        return repr(value)
    return json.dumps(value, ensure_ascii=False)  # a valid Python string literal, in double quotes


#: action -> the public function that does it, where the names differ
_API_FUNCTIONS = {"add": "add_certs", "env": "load_env", "test": "test_connection", "fetch": "fetch_chain"}
#: (action, option) -> the keyword argument that does it, where it differs
_API_KEYWORDS: dict[tuple[str, str], tuple[str, Value]] = {
    ("test", "direct"): ("proxy", ""),
    ("fetch", "direct"): ("proxy", ""),
    ("test", "token"): ("send_token", True),
}


class _ApiVoice:
    """The public API: ``sly_nb_tls.add_certs("corp.crt")``."""

    where = "this process"
    lasting = True

    def say(self, command: Command, fix: Fix | None = None) -> str:
        if command.action == "set-variable":
            variable, text = (*command.args, "")[:2]
            return f"os.environ[{_literal(variable)}] = {_literal(text)}"
        arguments = [_literal(a) for a in command.args]
        for option, value in command.options:
            keyword, given = _API_KEYWORDS.get((command.action, option), (option, value))
            arguments.append(f"{keyword}={_literal(given)}")
        function = _API_FUNCTIONS.get(command.action, command.action)
        return f"sly_nb_tls.{function}({', '.join(arguments)})"


_VOICES: dict[str, Voice] = {"api": _ApiVoice()}
_CURRENT: ContextVar[str] = ContextVar("sly_nb_tls_voice", default="api")


def register(name: str, voice: Voice) -> None:
    """Make `voice` available as `name` (the front-ends register theirs when imported)."""
    _VOICES[name] = voice


def current_voice() -> str:
    return _CURRENT.get()


def _voice(name: str | None) -> Voice:
    # A result made in a voice whose front-end is not loaded here says it as the API does.
    return _VOICES.get(name or current_voice()) or _VOICES["api"]


@contextmanager
def speaking(name: str) -> Iterator[None]:
    """Say everything made inside in `name`'s words (also a decorator: ``@speaking("cli")``)."""
    if name not in _VOICES:
        raise ValueError(f"no voice {name!r}; registered: {', '.join(sorted(_VOICES))}")
    token = _CURRENT.set(name)
    try:
        yield
    finally:
        _CURRENT.reset(token)


def say(command: Command, voice: str | None = None, fix: Fix | None = None) -> str:
    """`command` in `voice`'s words (default: the current voice); `fix` is the advice it is part of."""
    return _voice(voice).say(command, fix)


def where(voice: str | None = None) -> str:
    """ "this kernel" or "this process": where a change made with `voice`'s front-end holds."""
    return _voice(voice).where


def lasting(voice: str | None = None) -> bool:
    """Whether `voice`'s session outlives one command: a CLI run undoes itself when it ends."""
    return _voice(voice).lasting


def spoken() -> Any:
    """A result object's field: the voice it was made in, to say its commands in later."""
    return field(default_factory=current_voice, repr=False, compare=False)
