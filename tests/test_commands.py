"""The one command spec: both front-ends' parsers and helps come from it, scopes from one constant."""

from __future__ import annotations

import argparse
import ast
import re
from pathlib import Path

import pytest
from IPython.core.error import UsageError

from sly_nb_tls import _words
from sly_nb_tls.trust import install as _install
from sly_nb_tls.trust import scopes as _scopes
from sly_nb_tls.ui import magic as _magic
from sly_nb_tls.ui.cli import main
from sly_nb_tls.ui.commands import (
    AUDIT_RECORDS,
    CLI,
    COMMANDS,
    MAGIC,
    Arg,
    Command,
    Front,
    build_parser,
    commands,
    reference,
)

PACKAGE = Path(__file__).resolve().parents[1] / "sly_nb_tls"


def _cli_help(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    with pytest.raises(SystemExit) as info:
        main([*argv, "--help"])
    assert info.value.code == 0
    return capsys.readouterr().out


def _argv(command: Command, front: Front) -> list[str]:
    """The shortest line that runs `command`: a value for each required positional."""
    required = [a for a in command.arguments(front) if not a.flags[0].startswith("-") and a.nargs in (None, "+")]
    return [command.name, *("x" for _ in required)]


def _options(front: Front, name: str) -> set[str]:
    """The option flags `front`'s command `name` takes (none if it has no such command)."""
    return {f for c in commands(front) if c.name == name for a in c.arguments(front) for f in a.flags if f[0] == "-"}


def _parse(front: Front, argv: list[str]) -> argparse.Namespace:
    return (_magic._parser() if front == MAGIC else build_parser(CLI)[0]).parse_args(argv)


def test_every_command_is_offered_somewhere_and_add_differs_only_by_front() -> None:
    assert {c.name for c in commands(MAGIC)} | {c.name for c in commands(CLI)} == {c.name for c in COMMANDS}
    names = [c.name for c in COMMANDS]
    assert [n for n in set(names) if names.count(n) > 1] == ["add"]  # one per front-end, each with its reason
    assert {c.only for c in COMMANDS if c.name == "add"} == {MAGIC, CLI}


def test_magic_help_lists_every_magic_command_and_option_and_nothing_else() -> None:
    doc = _magic.SlyTlsMagics.sly_tls.__doc__ or ""
    listed = re.findall(r"^  %sly_tls (\S+)", doc, re.MULTILINE)
    assert listed == [c.name for c in commands(MAGIC)]
    for command in commands(MAGIC):
        block = doc.split(f"\n  %sly_tls {command.name}", 1)[1].split("\n  %sly_tls ", 1)[0]
        assert command.help in block
        for arg in command.arguments(MAGIC):
            assert f"{arg.shown()}: {arg.help}" in block if arg.help else (arg.metavar or "") in block
        for flag in _options(CLI, command.name) - _options(MAGIC, command.name):  # --json, test --ca, ...
            assert f"[{flag}" not in block and f"{flag}:" not in block, (command.name, flag)


def test_cli_help_lists_every_cli_command_and_each_its_options(capsys: pytest.CaptureFixture[str]) -> None:
    top = _cli_help(capsys)
    assert "Exit status: 0 ok, 1 a problem was found, 2 usage error" in top
    for command in commands(CLI):
        assert re.search(rf"^\s+{re.escape(command.name)}\s", top, re.MULTILINE), command.name
        text = _cli_help(capsys, command.name)
        assert f"usage: python -m sly_nb_tls {command.name}" in text
        for arg in command.arguments(CLI):
            assert (arg.flags[0] if arg.flags[0].startswith("-") else arg.metavar or "") in text, arg.flags
        for flag in _options(MAGIC, command.name) - _options(CLI, command.name):  # add --no-live, ...
            assert flag not in text, (command.name, flag)


@pytest.mark.parametrize("front", [MAGIC, CLI])
def test_each_parser_takes_every_spec_option_of_its_front(front: Front) -> None:
    for command in commands(front):
        assert _parse(front, _argv(command, front)).command == command.name
        for arg in command.arguments(front):
            if arg.action == "store_true":
                args = _parse(front, [*_argv(command, front), arg.flags[0]])
                assert getattr(args, arg.flags[0].lstrip("-").replace("-", "_")) is True, (command.name, arg.flags)


def test_an_option_of_the_other_front_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="unrecognized arguments: --json"):
        _parse(MAGIC, ["test", "--json"])
    with pytest.raises(UsageError, match="invalid choice: 'demo-server'"):
        _parse(MAGIC, ["demo-server"])
    with pytest.raises(SystemExit) as info:
        _parse(CLI, ["add", "--no-live", "x.crt"])
    assert info.value.code == 2


def test_magic_handles_every_magic_command() -> None:
    for command in commands(MAGIC):
        assert callable(getattr(_magic.SlyTlsMagics, f"_do_{command.name}", None)), command.name


def test_scope_choices_are_the_one_constant_everywhere(capsys: pytest.CaptureFixture[str]) -> None:
    assert _scopes.SCOPES is _words.SCOPES and _install.SCOPES is _words.SCOPES
    shown = "{" + ",".join(_words.SCOPES) + "}"
    assert shown in (_magic.SlyTlsMagics.sly_tls.__doc__ or "")
    for name in ("install", "uninstall"):
        assert shown in _cli_help(capsys, name)
        for front in (MAGIC, CLI):
            for scope in _words.SCOPES:
                assert _parse(front, [name, "--scope", scope]).scope == scope
    with pytest.raises(UsageError, match=re.escape(f"choose from {', '.join(map(repr, _words.SCOPES))}")):
        _parse(MAGIC, ["install", "--scope", "everyone"])
    with pytest.raises(SystemExit):
        _parse(CLI, ["uninstall", "--scope", "everyone"])
    assert f"choose from {', '.join(map(repr, _words.SCOPES))}" in capsys.readouterr().err


def test_the_scope_names_are_written_down_once() -> None:
    listing = re.compile(r"""["']user["']\s*,\s*["']env["']\s*,\s*["']system["']""")
    found = [p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.py") if listing.search(p.read_text())]
    assert found == ["_words.py"]


def _argparse_privates() -> set[str]:
    """Every underscore name an argparse parser or subparsers action has (attributes and methods)."""
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    names = set(vars(parser)) | set(vars(sub)) | set(dir(argparse.ArgumentParser)) | set(dir(type(sub)))
    return {n for n in names if n.startswith("_") and not n.startswith("__")}


def test_no_front_end_reads_argparse_privates() -> None:
    privates = _argparse_privates()
    assert {"_actions", "_option_string_actions", "_mutually_exclusive_groups", "_name_parser_map"} <= privates
    for path in sorted((PACKAGE / "ui").glob("*.py")):
        used = {
            (node.attr, node.lineno)
            for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.Attribute) and node.attr in privates
        }
        assert used == set(), path.name


def test_an_appended_option_defaults_to_an_empty_list_of_its_own() -> None:
    arg = Arg(("--ca",), action="append", metavar="FILE")
    first, second = argparse.ArgumentParser(), argparse.ArgumentParser()
    first.add_argument(*arg.flags, **arg.keywords())
    second.add_argument(*arg.flags, **arg.keywords())
    assert first.parse_args(["--ca", "a", "--ca", "b"]).ca == ["a", "b"]
    assert first.parse_args([]).ca == [] and second.parse_args([]).ca == []


@pytest.mark.parametrize("front", [MAGIC, CLI])
def test_the_reference_writes_each_usage_exactly_as_argparse_does(front: str) -> None:
    """%sly_tls? is written from the spec without building a parser (%load_ext stays fast):
    each usage line must still be the one argparse prints for the same spec."""
    _, parsers = build_parser(front, width=10_000)
    for command in commands(front):
        expected = " ".join(parsers[command.name].format_usage().split()).removeprefix("usage: ")
        assert command.usage(front) == expected
        assert command.usage(front) in reference(front)


@pytest.mark.parametrize("front", [MAGIC, CLI])
def test_status_audit_takes_an_optional_count_defaulting_to_the_apis(front: Front) -> None:
    import inspect

    import sly_nb_tls

    assert inspect.signature(sly_nb_tls.audit).parameters["n"].default == AUDIT_RECORDS
    assert _parse(front, ["status"]).audit is None
    assert _parse(front, ["status", "--audit"]).audit == AUDIT_RECORDS
    assert _parse(front, ["status", "--audit", "3"]).audit == 3
    assert "[--clients | --audit [N]]" in reference(front)
    assert f"--audit [N]: instead, the last N records of the audit log (default {AUDIT_RECORDS})" in reference(front)


@pytest.mark.parametrize("text", ["1", "7", "0", "-1", "x", "1.5", "", "1e3"])
def test_the_parser_refuses_exactly_the_counts_the_api_refuses(text: str) -> None:
    """One rule: what `--audit` refuses, `sly_nb_tls.audit` refuses too, and the reverse."""
    import sly_nb_tls
    from sly_nb_tls.errors import SlyTlsError

    try:
        value: object = int(text)
    except ValueError:
        value = text
    try:
        sly_nb_tls.audit(value)  # type: ignore[arg-type]
        api_refuses = ""
    except SlyTlsError as exc:
        api_refuses = str(exc)
    try:
        _parse(MAGIC, ["status", "--audit", text])
        parser_refuses = ""
    except UsageError as exc:
        parser_refuses = str(exc)
    assert bool(parser_refuses) is bool(api_refuses), (parser_refuses, api_refuses)
    if api_refuses:
        rule = "must be a whole number of at least 1, not "
        assert rule in parser_refuses and rule in api_refuses
        assert parser_refuses.endswith(api_refuses.split(rule, 1)[1])  # the same value, in the same words
