"""``derive train --data PATH.zarr``: full-batch training over a dataset on disk, in-process or on Dask.

The options this mode adds to ``derive train`` (:func:`add_options`) and what it runs
(:func:`run`): open and check the set, start from ``--weights`` (or zeros, counting iterations on
from the saved ones), iterate ``--method`` (``lbfgs`` or ``gd``, :mod:`derive.app.fitting`) with
one pass of the engine per gradient, print the loss of every iteration, measure the accuracy over
the whole set (and the generating model's, for a synthetic set), and only then write the weights
(``-o``, atomically): a run that fails or is interrupted leaves the saved weights as they were.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from derive.app.cli.engine import add_engine_options, dataset_from_args, engine_from_args, start_from_args
from derive.app.cli.options import folder
from derive.core.errors import InputError

#: (iterations, learning rate) when --epochs and --lr are not given
DEFAULTS = {"lbfgs": (100, None), "gd": (100, 0.5)}


def add_options(parser: argparse.ArgumentParser) -> None:
    """--data and the options of training on it (the iris task's options do not apply there)."""
    add_engine_options(parser, data_required=False)
    group = parser.add_argument_group("training on a dataset (--data; --epochs is the number of iterations)")
    group.add_argument(
        "--method",
        choices=("lbfgs", "gd", "newton"),
        help="with --data: lbfgs (default) or gd; on iris: gd (default) or newton (Newton's method, generated Hessian)",
    )
    group.add_argument(
        "-o", "--output", type=folder, default=Path("weights.npz"), metavar="W.npz", help="the weights (./weights.npz)"
    )


def run(args: argparse.Namespace) -> int:
    """Train on --data and save the weights; the exit code."""
    from derive.app.fitting import fit

    _refuse_model_options(args)
    args.method = args.method or "lbfgs"
    if args.method == "newton":
        raise InputError("--method newton trains on iris (no --data); with --data: lbfgs or gd")
    dataset = dataset_from_args(args)
    W, b, start = start_from_args(args, dataset)
    _check_output(args.output)
    epochs, lr = args.epochs or DEFAULTS[args.method][0], args.lr or DEFAULTS["gd"][1]
    print(f"dataset: {dataset.describe()}")
    with engine_from_args(args, dataset) as engine:
        print(f"engine:  {engine.describe()}")
        print(f"{_method_text(args.method, lr)} from {'zeros' if args.weights is None else args.weights}")
        result = fit(engine, W, b, args.method, epochs, lr, start, report=_print_loss)
        _check_finite(result, args.output)
        accuracy = engine.accuracy(result.W, result.b)
        known = engine.accuracy(*dataset.generator) if dataset.generator is not None else None
    from derive.app import weights

    weights.save(args.output, result.W, result.b, result.iterations, result.loss)
    print(_summary(result, accuracy, known, args.output))
    return 0


def _refuse_model_options(args: argparse.Namespace) -> None:
    if args.model != "softmax" or args.l2 is not None or args.smoothing is not None:
        raise InputError("derive train --data trains plain softmax regression (no --model, --l2 or --smoothing yet)")


def _check_output(path: Path) -> None:
    """Before training: a path that cannot be written is one line now, not a late failure."""
    from derive.app.files import writable_folder

    writable_folder(path.parent)
    if path.is_dir():
        raise InputError(f"-o {path}: it is a directory")


def _check_finite(result, path: Path) -> None:
    import numpy as np

    if not (np.isfinite(result.loss) and np.isfinite(result.W).all() and np.isfinite(result.b).all()):
        raise InputError(f"training diverged (loss {result.loss}): try a smaller --lr; {path} left as it was")


def _method_text(method: str, lr: float) -> str:
    return "L-BFGS-B (scipy.optimize.minimize)" if method == "lbfgs" else f"gradient descent, lr {lr:g}"


def _print_loss(iteration: int, loss: float) -> None:
    print(f"iteration {iteration}: loss {loss:.9g}", flush=True)


def _passes(count: int) -> str:
    return f"{count} pass" if count == 1 else f"{count} passes"


def _summary(result, accuracy: float, known: float | None, path: Path) -> str:
    lines = [
        f"final loss {result.loss:.9g} after {result.iterations} iterations ({_passes(result.passes)} over the data)",
        f"accuracy {accuracy:.2%} over the whole set"
        + ("" if known is None else f" (the generating model's: {known:.2%})"),
    ]
    if result.message:
        lines.append(f"L-BFGS: {result.message}")
    return "\n".join([*lines, f"weights: {path}"])
