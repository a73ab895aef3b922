"""``derive train``: softmax (or logistic) regression on iris with the generated gradient, against scikit-learn.

Needs the ``[train]`` extra (scikit-learn, matplotlib): without it the command is a one-line
error that says how to install it, and ``derive all`` skips the loss curves.  The loss
curve goes to ./train_<task>.png unless ``--plot PATH``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from derive.app.cli import train_data
from derive.app.cli.options import (
    ModelOptions,
    add_model_options,
    learning_rate,
    model_from_args,
    plot_path,
    positive_int,
    strength,
)
from derive.app.cli.registry import command
from derive.app.files import writable_folder, write_atomic
from derive.app.graphs import graph_from_args, sizes_option
from derive.core.errors import InputError

#: the tasks of ``derive train`` (derive.app.training.TASKS; listed here so that the parser needs no NumPy)
TRAIN_TASKS = ("setosa", "species")


def require_extra() -> None:
    """InputError naming the packages of the [train] extra that are not installed, and how to install them."""
    from derive.app.training import INSTALL, missing_packages

    missing = missing_packages()
    if missing:
        raise InputError(f"training needs {' and '.join(missing)} (not installed): {INSTALL}")


def _train_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--task",
        choices=TRAIN_TASKS,
        default="species",
        help="setosa: the seed's binary task; species: 3 classes (default)",
    )
    parser.add_argument(
        "--epochs", type=positive_int(1_000_000), metavar="N", help="epochs of gradient descent (default per task)"
    )
    parser.add_argument("--lr", type=learning_rate, metavar="ETA", help="learning rate (default per task)")
    parser.add_argument(
        "--plot",
        type=plot_path,
        metavar="PATH",
        help="the loss curve, .png, .pdf or .svg (default ./train_<task>.png, in the current folder)",
    )
    add_model_options(parser, files=True)
    group = parser.add_argument_group("a model file's network (--model mlp, --model-file F)")
    group.add_argument("--sizes", type=sizes_option, metavar="M=8", help="sizes the task does not fix (default 8 each)")
    group.add_argument("--momentum", type=strength(0.999), default=0.9, metavar="BETA", help="momentum (default 0.9)")
    group.add_argument("--seed", type=int, default=0, help="the initial weights' seed (default 0)")
    parser.add_argument(
        "--format", choices=("text", "json"), default="text", help="--method newton's report (default text)"
    )
    parser.add_argument(
        "--solver",
        choices=("auto", "hessian", "cg"),
        default="auto",
        help="--method newton's step: the generated hessian, or conjugate gradient on the generated hvp"
        " (default auto: the hessian up to 2000 parameters)",
    )
    train_data.add_options(parser)  # --data PATH.zarr: training over a dataset on disk (issue 16)


@command(
    "train", "train softmax regression on iris with the generated gradient; compare with scikit-learn", _train_args
)
def cmd_train(args: argparse.Namespace) -> int:
    from derive.app.training import loss_plot, train

    if args.data is not None:
        return train_data.run(args)
    if args.method == "lbfgs":
        raise InputError("--method lbfgs trains over a dataset (--data); on iris: gd (default) or newton")
    require_extra()
    if args.method == "newton":
        return train_newton_from_args(args)
    graph = graph_from_args(args)
    if graph is not None:
        return train_graph(graph, args)
    model, constants = model_from_args(args)
    plot = args.plot or Path(f"train_{args.task}.png")
    writable_folder(plot.parent)  # before training: a path that cannot be written is one line, not a late failure
    if plot.is_dir():
        raise InputError(f"--plot {plot}: it is a directory")
    try:
        result = train(args.task, args.epochs, args.lr, progress=True, model=model, constants=constants)
    except ValueError as err:
        raise InputError(str(err)) from None
    print(result.summary())
    print(f"loss curve: {write_atomic(plot, loss_plot(result, plot.suffix.lower().lstrip('.')))}")
    return 0


def loss_curve(task: str, model: ModelOptions | None = None) -> bytes:
    """The PNG that ``derive train --task TASK`` writes with its default epochs and learning rate."""
    from derive.app.training import loss_plot, train

    require_extra()
    configured, constants = (model or ModelOptions()).configure()
    return loss_plot(train(task, model=configured, constants=constants))


def train_graph(graph, args: argparse.Namespace) -> int:
    """``derive train --model mlp``: the model file's network on iris, its loss curve beside scikit-learn's MLP."""
    from derive.app.network_training import network_plot, train_network

    plot = args.plot or Path(f"train_{graph.name}_{args.task}.png")
    writable_folder(plot.parent)
    if plot.is_dir():
        raise InputError(f"--plot {plot}: it is a directory")
    result = train_network(graph, args.task, args.epochs, args.lr, args.momentum, args.sizes, args.seed, progress=True)
    print(result.summary())
    print(f"loss curve: {write_atomic(plot, network_plot(result, plot.suffix.lower().lstrip('.')))}")
    return 0


def network_curve(name: str = "mlp", task: str = "species") -> bytes:
    """output/train_mlp.png: the loss curve of ``derive train --model mlp`` with its defaults."""
    from derive.app.network_training import network_plot, train_network
    from derive.graph import library

    return network_plot(train_network(library.builtin(name), task))


def train_newton_from_args(args: argparse.Namespace) -> int:
    """``derive train --method newton``: Newton's method with the generated Hessian beside gradient descent."""
    import json

    from derive.app.graphs import shipped_graph_from_args
    from derive.app.network_training import newton_plot, train_newton

    if args.smoothing is not None or args.sizes is not None:
        raise InputError("--method newton takes --model or --model-file, --l2 and --task")
    graph = shipped_graph_from_args(args)
    plot = args.plot or Path(f"train_newton_{graph.name}_{args.task}.png")
    writable_folder(plot.parent)
    result = train_newton(graph, args.task, args.epochs or 3000, args.lr or 0.05, args.solver)
    if args.format == "json":
        print(json.dumps(result.as_dict()))
    else:
        for n, (loss, norm) in enumerate(zip(result.losses, result.grad_norms, strict=True)):
            print(f"iteration {n:2d}: loss {loss:.12f}, |gradient| {norm:.3e}")
        print(
            f"Newton ({result.solver}): |gradient| {result.grad_norms[-1]:.1e} after {result.iterations} iterations;"
            " gradient descent"
            f" (lr {args.lr or 0.05:g}): {result.gd_grad_norms[-1]:.1e} after {len(result.gd_grad_norms)} epochs;"
            f" accuracy: training {result.train_accuracy:.1%}, test {result.test_accuracy:.1%}"
        )
    print(
        f"curves: {write_atomic(plot, newton_plot(result, plot.suffix.lower().lstrip('.')))}",
        file=sys.stderr if args.format == "json" else sys.stdout,
    )
    return 0
