"""The command line of a run, rebuilt from its parsed arguments and the parser (written into result files).

Every argument the parser knows is recorded with its value, defaults included, so a new flag is
recorded without listing it here, and the run reproduces even after a default changes."""
from __future__ import annotations

import argparse
import shlex
from typing import Any


def command_line(args: argparse.Namespace) -> str:
    """The canonical ``edgecodec ...`` command that reproduces this run."""
    from .main import build_parser  # noqa: PLC0415  (main imports every command module)

    return shlex.join(_arguments(build_parser(), args, ["edgecodec"]))


def _arguments(parser: argparse.ArgumentParser, args: argparse.Namespace, argv: list[str]) -> list[str]:
    """``argv`` with this parser's positionals, then its options, then its chosen subcommand's own."""
    actions = [a for a in parser._actions if a.dest != argparse.SUPPRESS and a.default != argparse.SUPPRESS]
    given = [(a, getattr(args, a.dest, None)) for a in actions if not isinstance(a, argparse._SubParsersAction)]
    for action, value in given:
        if value is not None and not action.option_strings:
            argv += [_text(v) for v in value] if isinstance(value, list) else [_text(value)]
    for action, value in given:
        if value is None or not action.option_strings:
            continue
        option = next((o for o in action.option_strings if o.startswith("--")), action.option_strings[0])
        if action.nargs == 0:  # a switch: given when its value is not the default
            argv += [option] if value != action.default else []
        else:
            argv += [option, *(_text(v) for v in value)] if isinstance(value, list) else [option, _text(value)]
    for action in actions:
        if isinstance(action, argparse._SubParsersAction):
            name = getattr(args, action.dest)
            return _arguments(action.choices[name], args, argv + [name])
    return argv


def _text(value: Any) -> str:
    """A value as typed: floats shortest (30, not 30.0) unless that would round them."""
    if isinstance(value, float) and float(f"{value:g}") == value:
        return f"{value:g}"
    return str(value)
