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
    add_model_options(parser)
    parser.add_argument("--format", choices=("text", "json"), default="text", help="output format (default text)")


@command("example", "the worked example: z, a, H, gradients, mistakes, one descent step", _example_args)
def cmd_example(args: argparse.Namespace) -> int:
    example = example_from_args(args)
    if args.format == "json":
        print(as_json(example))
    else:
        model, _ = model_from_args(args)
        print(report(example, model), end="")
    return 0
