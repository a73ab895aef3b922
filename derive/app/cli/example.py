"""``derive example``: the worked example at a sample: z, a, H, the gradients, common mistakes, one descent step.

The text is the terminal report (:func:`derive.render.report.example_report`), ``--format json``
one line of JSON; ``derive all`` writes both for the seed's sample (:func:`report`, :func:`as_json`).
"""

from __future__ import annotations

import argparse
import json

from derive.app.cli.options import (
    ModelOptions,
    add_example_options,
    add_model_options,
    example_from_args,
    model_from_args,
    sample,
    worked,
)
from derive.app.cli.registry import command
from derive.app.graphs import graph_from_args, sizes_option
from derive.core.errors import InputError


def report(example, model) -> str:
    """The terminal report of ``example``, a worked example of ``model``."""
    from derive.core.derivation import gradients
    from derive.render.report import example_report

    return example_report(example, gradients(model, assume=example.assume))


def as_json(example, indent: int | None = None) -> str:
    """``example`` as JSON: one line, or indented by ``indent``."""
    return json.dumps(example.as_dict(), indent=indent)


def seed_example(options: ModelOptions, lr: float | None = None, form: str = "text") -> str:
    """What ``derive example --lr LR`` prints for the model's own sample; the JSON indented, as a file."""
    model, constants = options.configure()
    example = worked(model, constants, sample(model), lr=lr)
    return report(example, model) if form == "text" else as_json(example, indent=2) + "\n"


def _example_args(parser: argparse.ArgumentParser) -> None:
    add_example_options(parser)
    add_model_options(parser, files=True)
    parser.add_argument(
        "--sizes", type=sizes_option, metavar="d=4,M=5,K=3", help="a model file's sizes (default: its example's, or 3)"
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="a model file's random numbers where its [example] gives none (default 0)"
    )
    parser.add_argument("--format", choices=("text", "json"), default="text", help="output format (default text)")


@command("example", "the worked example: z, a, H, gradients, mistakes, one descent step", _example_args)
def cmd_example(args: argparse.Namespace) -> int:
    graph = graph_from_args(args)
    if graph is not None:
        if any(getattr(args, name) is not None for name in ("x", "W", "b", "label", "P", "lr")):
            raise InputError("a model file's numbers come from its [example] table, --sizes and --seed")
        text, agrees = graph_example(graph, args)
        print(text)
        return 0 if agrees else 1
    if args.sizes is not None:
        raise InputError("--sizes is for model files (--model-file, --model mlp); the built-in models take -K and -d")
    example = example_from_args(args)
    if args.format == "json":
        print(as_json(example))
    else:
        model, _ = model_from_args(args)
        print(report(example, model), end="")
    return 0


def graph_example(graph, args: argparse.Namespace) -> tuple[str, bool]:
    """A model file's worked example (text or one line of JSON) at its own numbers or seeded random ones, and
    whether finite differences agree with the derived gradients there (exit 1 when not)."""
    from derive.graph.backprop import backprop
    from derive.render.report import network_example_report
    from derive.verify import network

    try:
        sizes = network.example_sizes(graph, args.sizes)
        arrays = network.example_arrays(graph, sizes, seed=args.seed)
    except ValueError as err:
        raise InputError(str(err)) from None
    bp = backprop(graph, assume=not args.exact)
    evaluation = network.evaluate(graph, bp, arrays)
    errors = network.check(graph, bp, arrays)
    agrees = max(errors.values(), default=0.0) < network.FD_TOLERANCE
    if args.format == "json":
        return json.dumps(network.as_dict(graph, sizes, evaluation, errors)), agrees
    return network_example_report(graph, bp, evaluation, sizes, errors).rstrip("\n"), agrees
