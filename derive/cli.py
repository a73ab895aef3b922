"""The command line: ``derive <command>``.  The only module that writes files.

Each command is a function registered in :data:`COMMANDS` by :func:`command`,
with a function that adds its arguments; ``main`` dispatches.  User errors
(:class:`~derive.errors.InputError`) become one line on stderr and exit 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .errors import InputError

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "output"


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


COMMANDS: dict[str, Command] = {}


def command(name: str, help: str, configure: Callable[[argparse.ArgumentParser], None] = lambda p: None):
    """Register the decorated ``run(args) -> exit code`` as ``derive <name>``."""

    def register(run: Callable[[argparse.Namespace], int]):
        COMMANDS[name] = Command(name, help, configure, run)
        return run

    return register


def write_atomic(path: Path, data: str | bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same directory, then rename."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as err:
        raise InputError(f"cannot write to {path.parent}: {err.strerror or err}") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data.encode() if isinstance(data, str) else data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def positive_int(limit: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text[:40]!r} is not a whole number") from None
        if not 1 <= value <= limit:
            raise argparse.ArgumentTypeError(f"{value} is out of range 1..{limit}")
        return value

    return parse


def learning_rate(text: str) -> float:
    from .inputs import number

    try:
        value = number(text, "lr")
    except InputError as err:
        raise argparse.ArgumentTypeError(str(err).removeprefix("--lr: ")) from None
    if value <= 0:
        raise argparse.ArgumentTypeError("the learning rate must be positive")
    return value


def add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--exact", action="store_true", help="do not assume Sum_k P_k = 1 (exact form for any labels)")


def add_example_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("the sample (default: the seed's iris Setosa sample)")
    group.add_argument("--x", metavar='"1.9 0.4"', help="features x_i, i = 1..d")
    group.add_argument("--W", metavar='"0.1 0.5; 0.1 0.5"', help="weights: rows = features i, columns = classes j")
    group.add_argument("--b", metavar='"0 0"', help="biases b_j (default zeros)")
    group.add_argument("--label", type=int, metavar="J", help="true class, 1-based (one-hot labels)")
    group.add_argument("--P", metavar='"0.9 0.1"', help="soft labels P_j instead of --label")
    group.add_argument("--lr", type=learning_rate, metavar="ETA", help="also show one gradient-descent step")


def example_from_args(args: argparse.Namespace):
    from . import inputs
    from .example import MAX_CLASSES, MAX_FEATURES, SEED, worked_example

    x, W, b, P = inputs.sample(args.x, args.W, args.b, args.label, args.P, SEED, MAX_CLASSES, MAX_FEATURES)
    return worked_example(x, W, b, P, lr=args.lr, assume=not args.exact)


def _example_args(parser: argparse.ArgumentParser) -> None:
    add_example_options(parser)
    add_model_options(parser)
    parser.add_argument("--format", choices=("text", "json"), default="text", help="output format (default text)")


@command("example", "the worked example: z, a, H, gradients, mistakes, one descent step", _example_args)
def cmd_example(args: argparse.Namespace) -> int:
    from .derivation import gradients
    from .textreport import example_report

    example = example_from_args(args)
    if args.format == "json":
        print(json.dumps(example.as_dict()))
    else:
        print(example_report(example, gradients(assume=not args.exact)), end="")
    return 0


def _gradient_args(parser: argparse.ArgumentParser) -> None:
    add_model_options(parser)
    parser.add_argument("--steps", action="store_true", help="print every step of the derivation")
    parser.add_argument("--classes", "-K", type=positive_int(1000), metavar="K", help="prove every entry for K classes")
    parser.add_argument("--features", "-d", type=positive_int(100_000), metavar="d", help="... and d features")


@command("gradient", "the closed forms of dH/dW_ij and dH/db_j, derived by the engine", _gradient_args)
def cmd_gradient(args: argparse.Namespace) -> int:
    from .derivation import gradients
    from .textreport import assumption_line, steps_report
    from .textprinter import equation

    derivations = gradients(assume=not args.exact)
    for derivation in derivations:
        if args.steps:
            print(steps_report(derivation))
        print(equation(derivation.lhs, derivation.result))
    print(assumption_line(derivations[0]))
    if (args.classes is None) != (args.features is None):
        raise InputError("give both --classes and --features for the element-wise proof")
    if args.classes is not None:
        from .elementwise import prove

        try:
            proof = prove("softmax", args.classes, args.features, assume=not args.exact, progress=sys.stderr.isatty())
        except ValueError as err:
            raise InputError(str(err)) from None
        print(proof.summary())
    return 0


#: artefacts that ``derive all`` writes into output/: file name -> function returning its content
ARTEFACTS: dict[str, Callable[[], str | bytes]] = {}


def artefact(name: str):
    def register(make: Callable[[], str | bytes]):
        ARTEFACTS[name] = make
        return make

    return register


@artefact("gradient.txt")
def _gradient_text() -> str:
    from .derivation import gradients
    from .textreport import assumption_line, steps_report

    parts = []
    for assume in (True, False):
        derivations = gradients(assume=assume)
        parts += [steps_report(d) for d in derivations] + [assumption_line(derivations[0]) + "\n"]
    return "\n".join(parts)


@artefact("example.txt")
def _example_text() -> str:
    from .derivation import gradients
    from .example import worked_example
    from .textreport import example_report

    return example_report(worked_example(lr=0.1), gradients())


@artefact("example.json")
def _example_json() -> str:
    from .example import worked_example

    return json.dumps(worked_example(lr=0.1).as_dict(), indent=2) + "\n"


def _all_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--output", type=Path, default=OUTPUT, help=f"directory (default {OUTPUT})")


@command("all", "regenerate every artefact in output/ (the main job)", _all_args)
def cmd_all(args: argparse.Namespace) -> int:
    for name, make in ARTEFACTS.items():
        print(write_atomic(args.output / name, make()))
    return 0


def _code_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--output", type=Path, default=OUTPUT, help=f"directory (default {OUTPUT})")
    parser.add_argument("--dtype", choices=("float64", "float32"), default="float64", help="dtype of the arrays (default float64)")


@command("code", "write the generated NumPy module with loss, grad and loss_and_grad; print its path", _code_args)
def cmd_code(args: argparse.Namespace) -> int:
    from .codegen import module_name, module_source

    print(write_atomic(args.output / module_name(args.dtype), module_source(args.dtype)))
    return 0


#: the tasks of ``derive train`` (derive.training.TASKS; listed here so the parser needs no import)
TRAIN_TASKS = ("setosa", "species")


def _train_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--task", choices=TRAIN_TASKS, default="species", help="setosa: the seed's binary task; species: 3 classes (default)")
    parser.add_argument("--epochs", type=positive_int(1_000_000), metavar="N", help="epochs of gradient descent (default per task)")
    parser.add_argument("--lr", type=learning_rate, metavar="ETA", help="learning rate (default per task)")
    parser.add_argument("--plot", type=Path, metavar="PATH", help="loss-curve PNG (default output/train_<task>.png)")


@command("train", "train softmax regression on iris with the generated gradient; compare with scikit-learn", _train_args)
def cmd_train(args: argparse.Namespace) -> int:
    from .training import loss_plot, train

    result = train(args.task, args.epochs, args.lr, progress=True)
    print(result.summary())
    print(f"loss curve: {write_atomic(args.plot or OUTPUT / f'train_{args.task}.png', loss_plot(result))}")
    return 0


@artefact("softmax_grad.py")
def _softmax_grad() -> str:
    from .codegen import module_source

    return module_source("float64")


@artefact("softmax_grad_float32.py")
def _softmax_grad_float32() -> str:
    from .codegen import module_source

    return module_source("float32")


@artefact("train_setosa.png")
def _train_setosa_plot() -> bytes:
    from .training import loss_plot, train

    return loss_plot(train("setosa"))


@artefact("train_species.png")
def _train_species_plot() -> bytes:
    from .training import loss_plot, train

    return loss_plot(train("species"))


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="derive",
        description="Symbolic derivation of ML gradients: softmax regression with cross-entropy, derived by SymPy.",
    )
    sub = top.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for cmd in COMMANDS.values():
        cmd.configure(sub.add_parser(cmd.name, help=cmd.help, description=cmd.help))
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return COMMANDS[args.command].run(args)
    except InputError as err:
        print(f"derive {args.command}: error: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0
