"""``derive gradient``: the closed forms of a model's derivatives, or of one's own loss (``--expr``/``--wrt``).

For a model: each derivative derived by the engine (``--steps`` prints every step), the
assumption line, and with ``--classes K --features d`` the element-wise proof.  For a loss
typed with ``--expr`` (which may start with a minus sign: the command takes formulas), its
derivatives by the parameters of ``--wrt``, their steps and a finite-difference check.
"""

from __future__ import annotations

import argparse
import sys

from derive.app.cli.options import add_model_options, model_from_args, positive_int
from derive.app.cli.registry import command
from derive.app.graphs import graph_from_args, sizes_option
from derive.core.errors import InputError


def _gradient_args(parser: argparse.ArgumentParser) -> None:
    add_model_options(parser, files=True)
    parser.add_argument("--steps", action="store_true", help="print every step of the derivation")
    parser.add_argument("--classes", "-K", type=positive_int(1000), metavar="K", help="prove every entry for K classes")
    parser.add_argument("--features", "-d", type=positive_int(100_000), metavar="d", help="... and d features")
    parser.add_argument(
        "--sizes", type=sizes_option, metavar="d=784,M=128,K=10", help="a model file's sizes: prove every entry"
    )
    group = parser.add_argument_group("your own loss (instead of --model)")
    group.add_argument(
        "--expr",
        metavar="LOSS",
        help='a loss such as "log(cosh(w*x + b - y))" (functions exp, log, sigmoid, softmax, cosh, ...)',
    )
    group.add_argument(
        "--wrt", metavar="w,b", help="the parameters to differentiate by, comma-separated (w, b, w_i ...)"
    )


@command("gradient", "the closed forms of the loss's derivatives, derived by the engine", _gradient_args, formulas=True)
def cmd_gradient(args: argparse.Namespace) -> int:
    if args.expr is not None or args.wrt is not None:
        return user_gradient(args)
    graph = graph_from_args(args)
    if graph is not None:
        return graph_gradient(graph, args)
    if args.sizes is not None:
        raise InputError("--sizes sizes a model file (--model-file, --model mlp); the built-in models take -K and -d")
    model, _ = model_from_args(args)
    sizes = proof_sizes(model, args.classes, args.features)  # checked before any output
    print_closed_forms(model, not args.exact, args.steps)
    if sizes is not None:
        print(proof(model, *sizes, not args.exact))
    return 0


def graph_gradient(graph, args: argparse.Namespace) -> int:
    """A model file's closed forms by backpropagation (every step with --steps) and the error signals."""
    from derive.graph.backprop import backprop
    from derive.render.report import backprop_lines, steps_report

    if args.classes or args.features:
        raise InputError("--classes and --features size the built-in models; a model file's proof takes --sizes")
    if args.sizes is not None:
        graph_sizes(graph, args.sizes)  # checked before any output
    bp = backprop(graph, assume=not args.exact)
    if args.steps:
        print(steps_report(bp))
    print("\n".join(backprop_lines(bp)))
    if args.sizes is not None:
        print(graph_proof(graph, args.sizes, not args.exact))
    return 0


def graph_sizes(graph, given: dict[str, int]) -> None:
    """--sizes names every size of the model file and no other, each at least 1."""
    names = [s.name for s in graph.sizes]
    if sorted(given) != sorted(names):
        raise InputError(f"--sizes names every size of {graph.name} and no other: {', '.join(names)}")
    if any(value < 1 for value in given.values()):
        raise InputError("--sizes: every size is at least 1")


def graph_proof(graph, given: dict[str, int], assume: bool) -> str:
    """The element-wise proof of a model file at the sizes of --sizes (every size named)."""
    from derive.verify.network_proof import ProofError, prove

    try:
        return prove(graph, given, assume, progress=sys.stderr.isatty()).summary()
    except ValueError as err:
        raise InputError(str(err)) from None
    except ProofError as err:
        raise InputError(f"the proof failed: {err}") from None


def proof_sizes(model, classes: int | None, features: int | None) -> tuple[int, int] | None:
    """(K, d) of the element-wise proof, None without one: both for a model with classes, d alone for one output."""
    from derive.verify.proof import MAX_CLASSES, MAX_ENTRIES

    if model.output_index is None:
        if classes is not None:
            raise InputError(f"model {model.name!r} has one output: leave out --classes (--features alone sets d)")
        return None if features is None else (1, features)
    if (classes is None) != (features is None):
        raise InputError("give both --classes and --features for the element-wise proof")
    if classes is None:
        return None
    if classes > MAX_CLASSES or classes * features + classes > MAX_ENTRIES:
        raise InputError(
            f"K = {classes}, d = {features} is too large for the element-wise proof (at most {MAX_CLASSES} classes "
            f"and {MAX_ENTRIES} entries)"
        )
    return classes, features


def print_closed_forms(model, assume: bool, steps: bool) -> None:
    """Each derivative's closed form (after its steps with ``steps``), then the assumption line."""
    from derive.core.derivation import gradients
    from derive.printing.text import equation
    from derive.render.report import assumption_line, steps_report

    derivations = gradients(model, assume=assume)
    for derivation in derivations:
        if steps:
            print(steps_report(derivation))
        print(equation(derivation.lhs, derivation.result))
    print(assumption_line(derivations[0]))


def proof(model, classes: int, features: int, assume: bool) -> str:
    """The summary of the element-wise proof for K = ``classes`` and d = ``features``."""
    from derive.verify.proof import prove

    try:
        return prove(model, classes, features, assume=assume, progress=sys.stderr.isatty()).summary()
    except ValueError as err:
        raise InputError(str(err)) from None


def user_gradient(args: argparse.Namespace) -> int:
    """The derivatives of a user-written loss, with their steps and a finite-difference check."""
    from derive.claims.loss import gradients, numeric_check
    from derive.printing.text import equation, text
    from derive.render.report import steps_report

    if args.expr is None or args.wrt is None:
        raise InputError(
            'give the loss with --expr and the parameters with --wrt, e.g. --expr "(w*x + b - y)^2/2" --wrt w,b'
        )
    if args.model != "softmax" or args.l2 is not None or args.smoothing is not None or args.classes or args.features:
        raise InputError("--expr is a loss of its own: leave out --model, --l2, --smoothing, --classes and --features")
    results = gradients(args.expr, args.wrt)
    print(f"loss: L = {text(results[0].loss.expr)}")
    worst = 0.0
    for result in results:
        if args.steps:
            print(steps_report(result))
        print(equation(result.lhs, result.result))
        worst = max(worst, numeric_check(result))
    print(f"checked: central finite differences at 3 random points, largest relative error {worst:.1e}")
    return 0


def steps_text(model_name: str = "softmax", assumptions: tuple[bool, ...] = (True, False)) -> str:
    """Every derivation's steps and its assumption line, with and without the assumptions (output/gradient.txt)."""
    from derive.core.derivation import gradients
    from derive.render.report import assumption_line, steps_report

    parts = []
    for assume in assumptions:
        derivations = gradients(model_name, assume=assume)
        parts += [steps_report(d) for d in derivations] + [assumption_line(derivations[0]) + "\n"]
    return "\n".join(parts)


def graph_steps_text(name: str) -> str:
    """Backpropagation through the shipped model file NAME, every step, then the closed forms (output/mlp_gradient.txt)."""
    from derive.graph import library
    from derive.graph.backprop import backprop
    from derive.render.report import backprop_lines, steps_report

    bp = backprop(library.builtin(name))
    return steps_report(bp) + "\n" + "\n".join(backprop_lines(bp)) + "\n"
