"""The entry point ``derive``: the parser built from the registry, formulas kept as typed, dispatch, errors.

Each module of :data:`COMMAND_MODULES` registers its commands when imported
(:mod:`derive.app.cli.registry`); :func:`parser` gives each a subparser, in that order.
:func:`main` turns a user's error (:class:`~derive.core.errors.InputError`) into one line
on stderr and exit 2, and a closed pipe (``derive gradient --steps | head``) into a quiet exit.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import sys

from derive import __version__
from derive.app.cli.registry import COMMANDS
from derive.core.errors import InputError

#: the modules of derive.app.cli that hold commands, in the order ``derive --help`` lists them
COMMAND_MODULES = (
    "example",
    "gradient",
    "hessian",
    "models",
    "check",
    "all",
    "documents",
    "shell",
    "code",
    "train",
    "data",
    "evaluate",
)

#: an argument shaped like an option (-h, -K, --format, --format=json); any other that starts with "-" is a formula
OPTION = re.compile(r"--?[A-Za-z][A-Za-z0-9-]*(=.*)?", re.DOTALL)

for _module in COMMAND_MODULES:
    importlib.import_module(f"derive.app.cli.{_module}")


class Parser(argparse.ArgumentParser):
    """argparse's parser, with its errors on one line (the usage is one ``--help`` away), exit 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def parser() -> argparse.ArgumentParser:
    """``derive``'s parser: ``--version`` and one subparser per registered command."""
    top = Parser(
        prog="derive",
        description="Symbolic derivation of ML gradients by SymPy: the built-in models (softmax regression with"
        " cross-entropy, logistic, linear, a two-layer perceptron) and your own (--model-file).",
    )
    top.add_argument("--version", action="version", version=f"derive {__version__}")
    sub = top.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in sorted(COMMANDS.values(), key=_help_rank):
        command.configure(sub.add_parser(command.name, help=command.help, description=command.help))
    return top


def _help_rank(command) -> int:
    """The place of the command's module in COMMAND_MODULES (commands of one module keep their order)."""
    module = command.run.__module__.removeprefix("derive.app.cli.")
    return COMMAND_MODULES.index(module) if module in COMMAND_MODULES else len(COMMAND_MODULES)


def as_typed(argv: list[str]) -> list[str]:
    """``argv`` with each formula made a value for argparse: ``check "-P_j*x_i"`` -> ``check " -P_j*x_i"``.

    argparse takes every argument that starts with "-" for an option, so a claim or a loss
    typed with a leading minus sign would be refused.  A leading space makes it a value,
    and the formula parsers ignore the space.  Only the arguments after the name of a
    command that takes formulas (``Command.formulas``) change, only up to "--", and only
    those not shaped like options (:data:`OPTION`).
    """
    at = next((n for n, arg in enumerate(argv) if not arg.startswith("-")), len(argv))
    command = COMMANDS.get(argv[at]) if at < len(argv) else None
    if command is None or not command.formulas:
        return argv
    head, rest = argv[: at + 1], argv[at + 1 :]
    end = rest.index("--") if "--" in rest else len(rest)
    return head + [_as_value(arg) for arg in rest[:end]] + rest[end:]


def _as_value(arg: str) -> str:
    # a lone "-" is standard input (--file -), not a formula
    return " " + arg if arg.startswith("-") and arg != "-" and not OPTION.fullmatch(arg) else arg


def main(argv: list[str] | None = None) -> int:
    """Run ``derive`` with ``argv`` (default: the process's arguments); the exit code."""
    args = parser().parse_args(as_typed(sys.argv[1:] if argv is None else list(argv)))
    try:
        code = COMMANDS[args.command].run(args)
        sys.stdout.flush()  # inside the try: a reader that left is noticed here, not at the interpreter's exit
        return code
    except InputError as err:
        print(f"derive {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"derive {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader left: send what is still buffered nowhere, so that exiting does not fail again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
