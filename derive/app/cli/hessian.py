"""``derive hessian``: the second derivatives of a model's loss, one line per pair of parameters, in index form.

The engine differentiates its own first-derivative closed forms through the model's graph
(:mod:`derive.graph.hessian`); the built-in models are taken as their model files (the same closed forms,
tested), any other with ``--model-file``.  ``--steps`` prints every step; ``--check`` compares the whole
Hessian at a random point with finite differences of the derived gradient and prints its eigenvalues.
"""

from __future__ import annotations

import argparse

from derive.app.cli.options import positive_int, strength
from derive.app.cli.registry import command
from derive.app.graphs import shipped_graph_from_args, sizes_option
from derive.core.errors import InputError


def _hessian_args(parser: argparse.ArgumentParser) -> None:
    from derive.graph import library

    group = parser.add_argument_group("the model")
    group.add_argument("--model", choices=library.names(), default="softmax", help="a built-in model (default softmax)")
    group.add_argument("--model-file", metavar="FILE", help="your own model: a TOML file of definitions")
    group.add_argument("--exact", action="store_true", help="do not use the file's assumptions (Sum_j P_j = 1)")
    group.add_argument(
        "--l2", type=strength(1e6), metavar="LAMBDA", help="add (lambda/2) Sum W^2 over the weight matrices"
    )
    parser.add_argument("--steps", action="store_true", help="print every step of each second derivative")
    parser.add_argument(
        "--check", action="store_true", help="the Hessian at a random point against finite differences, its eigenvalues"
    )
    parser.add_argument(
        "--sizes", type=sizes_option, metavar="d=2,K=3", help="sizes of --check's random point (default 2 each, 1..6)"
    )
    parser.add_argument("--seed", type=positive_int(10**6), default=1, help="the random point of --check")


@command("hessian", "the second derivatives d2H/dW_ij/dW_lk ..., derived by the engine", _hessian_args)
def cmd_hessian(args: argparse.Namespace) -> int:
    from derive.graph.hessian import second_derivatives
    from derive.printing.text import text
    from derive.render.report import steps_report

    graph = shipped_graph_from_args(args)
    if args.sizes is not None and not args.check:
        raise InputError("--sizes sizes the random point of --check: add --check")
    sizes = check_sizes(graph, args) if args.check else None  # before anything is printed
    seconds = second_derivatives(graph, assume=not args.exact)
    for second in seconds:
        if args.steps:
            print(steps_report(second))
        print(f"{second.name} = {text(second.value)}")
    if args.steps:
        from derive.graph.structure import structures
        from derive.render.report import structure_report

        print(structure_report(structures(graph, seconds)), end="")
    if graph.assumptions:
        used = "; ".join(a.text for a in graph.assumptions)
        print(f"exact: {used} not assumed" if args.exact else f"assuming {used}; --exact drops the assumption")
    if args.check:
        print(check_line(graph, seconds, sizes, args))
        for claim in structure(graph, seconds, sizes, args):
            mark = "holds" if claim.holds else "FAILS"
            print(f"  [{mark}] {claim.text} ({claim.detail})")
    return 0


def structure(graph, seconds, sizes: dict[str, int], args: argparse.Namespace):
    """The convexity argument's claims, each checked with numbers (derive.verify.convexity)."""
    from derive.verify.convexity import claims

    return claims(graph, seconds, sizes, exact=args.exact)


def check_sizes(graph, args: argparse.Namespace) -> dict[str, int]:
    """The sizes of --check: 2 for each unless --sizes says, each 1..6."""
    sizes = {s.name: 2 for s in graph.sizes} | (args.sizes or {})
    known = [s.name for s in graph.sizes]
    for name, value in sizes.items():
        if name not in known:
            raise InputError(f"--sizes: {graph.name} has no size {name} (its sizes: {', '.join(known)})")
        if not 1 <= value <= 6:
            raise InputError(
                f"--sizes {name}={value}: each size of --check is 1..6 (the Hessian is checked entry by entry)"
            )
    return sizes


def check_line(graph, seconds, sizes: dict[str, int], args: argparse.Namespace) -> str:
    """The numeric check of --check: finite differences of the gradient, symmetry, eigenvalues."""
    import numpy as np

    from derive.graph.backprop import backprop
    from derive.verify import network

    arrays = network.random_arrays(graph, sizes, batch=3, seed=args.seed, exact=args.exact)
    derived = network.hessian_matrix(graph, seconds, arrays)
    numeric = network.hessian_by_differences(graph, backprop(graph, not args.exact), arrays)
    error = float(np.max(np.abs(derived - numeric)) / (np.max(np.abs(numeric)) + 1e-12))
    eigenvalues = np.linalg.eigvalsh((derived + derived.T) / 2)
    from derive.verify.convexity import shown as number

    shown = ", ".join(number(v) for v in eigenvalues)
    return (
        f"checked at a random point ({', '.join(f'{k} = {v}' for k, v in sizes.items())}, 3 samples): "
        f"{derived.shape[0]}x{derived.shape[1]} Hessian, largest relative difference from finite differences of the "
        f"gradient {error:.1e}; eigenvalues {shown}"
    )
