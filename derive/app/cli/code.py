"""``derive code``: write the generated NumPy module (loss, grad, loss_and_grad) into the current folder.

:func:`module_text` is the same module for a model's options and a dtype given as plain
values; ``derive all`` writes the ones of :data:`MODULES` into output/.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from derive.app.cli.options import ModelOptions, add_model_options, folder, model_from_args
from derive.app.cli.registry import command
from derive.app.files import write_atomic
from derive.app.graphs import builtin_file_from_args, graph_from_args
from derive.core.errors import InputError
from derive.render.backends import BACKENDS

#: the generated modules in output/: file name -> (the model's options, the dtype)
MODULES = {
    "softmax_grad.py": (ModelOptions(), "float64"),
    "softmax_grad_float32.py": (ModelOptions(), "float32"),
    "logistic_grad.py": (ModelOptions("logistic"), "float64"),
    "logistic_grad_float32.py": (ModelOptions("logistic"), "float32"),
    "linear_grad.py": (ModelOptions("linear"), "float64"),
    "softmax_l2_grad.py": (ModelOptions(l2=0.01), "float64"),
    "logistic_l2_grad.py": (ModelOptions("logistic", l2=0.01), "float64"),
}


def options(model: ModelOptions, dtype: str) -> list[str]:
    """The options of ``derive code`` that write the module of ``model`` in ``dtype``."""
    return [*model.options(), *(["--dtype", dtype] if dtype != "float64" else [])]


#: the modules of the models other than plain softmax in output/, each with the options of derive code that write it
MODEL_MODULES = {name: options(*spec) for name, spec in MODULES.items() if spec[0] != ModelOptions()}


def module_text(model: ModelOptions, dtype: str = "float64") -> str:
    """The module that ``derive code`` with ``options(model, dtype)`` writes."""
    from derive.app.code import module_source

    configured, constants = model.configure()
    return module_source(dtype, configured, constants)


def graph_module_text(name: str, dtype: str = "float64") -> str:
    """The module that ``derive code --model NAME`` writes for the shipped model file NAME (mlp)."""
    from derive.app.code import network_module_source
    from derive.graph import library

    return network_module_source(library.builtin(name), dtype)


def _code_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--output", type=folder, default=Path("."), help="directory (default: the current one)")
    parser.add_argument(
        "--dtype", choices=("float64", "float32"), default="float64", help="dtype of the arrays (default float64)"
    )
    parser.add_argument(
        "--backend",
        choices=tuple(BACKENDS),
        default="numpy",
        help="; ".join(f"{name}: {b.summary}" for name, b in BACKENDS.items()),
    )
    add_model_options(parser, files=True)
    parser.add_argument(
        "--hessian",
        action="store_true",
        help="also hessian() and hvp(); softmax, logistic, linear: their model file's module (--l2, no --smoothing)",
    )
    parser.epilog = (
        "The module always lowers the exact closed forms (--exact changes nothing). With --l2 the strength is the default "
        "of the generated functions' keyword argument l2; with --smoothing the module takes the smoothed labels P."
    )


@command(
    "code",
    "write the generated NumPy module with loss, grad and loss_and_grad into . (-o DIR); print its path",
    _code_args,
)
def cmd_code(args: argparse.Namespace) -> int:
    from derive.app.code import module_name, module_source, network_module_name, network_module_source

    graph = graph_from_args(args)
    if graph is not None:
        if args.backend != "numpy":
            raise InputError(f"--backend {args.backend} takes the built-in models; a model file's module is NumPy")
        where = f"--model-file {args.model_file}" if args.model_file else f"--model {graph.name}"
        dtype = [] if args.dtype == "float64" else [f"--dtype {args.dtype}"]
        words = " ".join(["derive code", where, *dtype, *(["--hessian"] if args.hessian else [])])
        source = network_module_source(graph, args.dtype, words, hessian=args.hessian)
        print(write_atomic(args.output / network_module_name(graph, args.dtype), source))
        return 0
    model, constants = model_from_args(args)
    if args.hessian:
        return _builtin_hessian(args, module_name(args.dtype, model))
    source = module_source(args.dtype, model, constants, args.backend)
    print(write_atomic(args.output / module_name(args.dtype, model, args.backend), source))
    return 0


def _builtin_hessian(args: argparse.Namespace, name: str) -> int:
    """--hessian for a built-in model: the module of its model file (with --l2 in the loss), under the built-in's
    file name; its functions take the built-in's arguments in order but have no reduction= (nor l2=)."""
    from derive.app.code import network_module_source

    if args.backend != "numpy":
        raise InputError(
            f"--hessian writes the NumPy module of the model file {args.model}.toml: leave out --backend {args.backend}"
        )
    graph = builtin_file_from_args(args, "writes the module of")
    l2 = [] if args.l2 is None else [f"--l2 {args.l2:g}"]
    dtype = [] if args.dtype == "float64" else [f"--dtype {args.dtype}"]
    words = " ".join(["derive code", f"--model {args.model}", *l2, *dtype, "--hessian"])
    source = network_module_source(graph, args.dtype, words, hessian=True)
    path = write_atomic(args.output / name, source)
    penalty = f" with {l2[0]} in its loss" if l2 else ""
    print(
        f"derive code: --hessian writes the module of the model file {args.model}.toml{penalty} (hessian, hvp beside"
        f" loss_and_grad and grad; no reduction={', no l2=' if l2 else ''})",
        file=sys.stderr,
    )
    print(path)
    return 0
