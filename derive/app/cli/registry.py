"""The registry of commands: ``@command("name", help, configure)`` makes a function ``derive name``.

A command module adds one :class:`Command` to :data:`COMMANDS` when it is imported;
:mod:`derive.app.cli.main` builds the parser from the registry and dispatches to ``run``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass

Configure = Callable[[argparse.ArgumentParser], None]
Run = Callable[[argparse.Namespace], int]


@dataclass(frozen=True)
class Command:
    """``derive <name>``: ``configure`` adds its arguments to its subparser, ``run`` returns the exit code.

    ``formulas``: its arguments include formulas as people type them, which may start with a
    minus sign ("-P_j*x_i"); :func:`derive.app.cli.main.as_typed` keeps argparse from taking
    those for options.
    """

    name: str
    help: str
    configure: Configure
    run: Run
    formulas: bool = False


#: every command, in the order ``derive --help`` lists them (the order their modules are imported)
COMMANDS: dict[str, Command] = {}


def _no_arguments(parser: argparse.ArgumentParser) -> None:
    """A command without options of its own."""


def command(name: str, help: str, configure: Configure = _no_arguments, formulas: bool = False):
    """Register the decorated ``run(args) -> exit code`` as ``derive <name>``."""

    def register(run: Run) -> Run:
        COMMANDS[name] = Command(name, help, configure, run, formulas)
        return run

    return register
