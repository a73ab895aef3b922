"""``derive models``: the built-in models, one line each; ``--show NAME`` prints a model file to start one's own.

The engine's built-in models (softmax, logistic, linear; derive.core.models) take the add-ons
``--l2`` and ``--smoothing``; the model files shipped with derive (derive/graph/models) are read by the
same loader as ``--model-file``: ``mlp`` exists only as a file, the others are the built-ins written
as files.
"""

from __future__ import annotations

import argparse

from derive.app.cli.registry import command
from derive.core.errors import InputError


def _models_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--show", metavar="NAME", help="print the model file NAME (copy it to write your own)")


@command("models", "list the models, one line each (--show NAME prints a model file)", _models_args)
def cmd_models(args: argparse.Namespace) -> int:
    from derive.app.graphs import file_models
    from derive.core.models import MODELS
    from derive.graph import library

    if args.show is not None:
        try:
            print(library.source(args.show), end="")
        except KeyError as err:
            raise InputError(str(err.args[0])) from None
        return 0
    names = [*MODELS, *file_models()]
    width = max(map(len, names))
    for name, model in MODELS.items():
        print(f"{name.ljust(width)}  {model.title}: {model.summary}")
    for name in file_models():
        graph = library.builtin(name)
        print(f"{name.ljust(width)}  {graph.title} (model file; --model {name})")
    print("add-ons of the first three: --l2 LAMBDA (L2 penalty), --smoothing EPS (softmax label smoothing)")
    print(f"your own model: --model-file FILE (a TOML file of definitions; derive models --show {file_models()[0]})")
    print(f"shipped model files: {', '.join(library.names())} (derive models --show NAME)")
    return 0
