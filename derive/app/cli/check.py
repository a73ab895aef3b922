"""``derive check CLAIM``: judge a hand derivation of dH/dW_ij or dH/db_j (dH/dw_i, dH/db for single outputs).

Exit 0 correct, 1 incorrect, 2 bad input, 3 correct only under Sum_k P_k = 1 (switched off
by ``--exact``).  The claim may start with a minus sign: the command takes formulas (see
:func:`derive.app.cli.main.as_typed`).  ``derive all`` writes the verdicts on the seed
model's claims (:func:`seed_claims`).
"""

from __future__ import annotations

import argparse
import json
import sys

from derive.app.cli.options import add_model_options, model_from_args, positive_int
from derive.app.cli.registry import command
from derive.app.graphs import graph_from_args, shipped_graph_from_args
from derive.core.errors import InputError


def _check_args(parser: argparse.ArgumentParser) -> None:
    from derive.notation.bounds import MAX_SIZE

    parser.add_argument(
        "claim",
        metavar="CLAIM",
        nargs="?",
        help='the claimed dH/dW_ij, e.g. "-P_j*(1-a_j)*x_i" or LaTeX, or a whole derivation (lines joined by \\\\)',
    )
    parser.add_argument(
        "--file",
        metavar="F",
        help="read a formula or a whole derivation (align, \\\\, &=) from F; - for standard input",
    )
    parser.add_argument(
        "--let",
        action="append",
        default=[],
        metavar="NAME=MEANING",
        help='read NAME as one of derive\'s names, e.g. --let "p=a" (the prediction) or --let "p=P" (the label)',
    )
    parser.add_argument(
        "--batch",
        action="store_true",
        help="a batch form over N samples, as in \\nabla_W H = X^\\top(A - P)/N (X is N x d, A and P are N x K)",
    )
    parser.add_argument(
        "--wrt",
        help="the parameter: W (dH/dW_ij, default) or b (dH/db_j); w (dH/dw_i) or b for logistic and linear;"
        " a model file's parameter by name (V, c, ...)",
    )
    parser.add_argument("--latex", action="store_true", help="read the claim as LaTeX (detected when it has \\ or {})")
    parser.add_argument(
        "--classes", type=positive_int(MAX_SIZE), default=2, metavar="K", help="K for concrete indices (default 2)"
    )
    parser.add_argument("--features", type=positive_int(MAX_SIZE), default=2, metavar="d", help="d (default 2)")
    parser.add_argument(
        "--format", choices=("text", "json", "latex"), default="text", help="output format (default text)"
    )
    add_model_options(parser, files=True)
    parser.add_argument(
        "--hessian",
        action="store_true",
        help="judge a second derivative d2H/dp/dq: --wrt W (W with W) or --wrt W,b; names l, k for the second indices",
    )


@command(
    "check",
    "judge a hand-derived dH/dW_ij or dH/db_j, or a whole derivation line by line (--file)",
    _check_args,
    formulas=True,
)
def cmd_check(args: argparse.Namespace) -> int:
    """Exit 0 correct (every step holds), 1 incorrect, 2 bad input, 3 correct only under Sum_k P_k = 1."""
    from derive.claims.claim import ReadAsDerivation
    from derive.claims.judge import is_derivation
    from derive.notation.bounds import MAX_LENGTH

    text = typed(args)
    if args.hessian:
        return check_second(text, args)
    graph = graph_from_args(args)
    if graph is not None:
        return check_graph_claim(graph, text, args)
    if args.wrt not in (None, "W", "w", "b"):
        raise InputError(f"--wrt {args.wrt}: the built-in models' parameters are W, w and b (see derive models)")
    if args.batch or is_derivation(text) or len(text) > MAX_LENGTH:  # a long text is judged as a derivation
        return check_derivation(text, args)
    try:
        return check_claim(text, args)
    except ReadAsDerivation:  # dH/dW_i1 = ... (one class fixed), \nabla_W H = ... (a matrix form)
        return check_derivation(text, args)


def typed(args: argparse.Namespace) -> str:
    """The claim on the command line, or the text of --file (bounded: never more than the limit is read)."""
    from derive.notation.bounds import MAX_DERIVATION

    if (args.claim is None) == (args.file is None):
        raise InputError("give the claim, or --file F (a derivation in a file; - for standard input), not both")
    if args.file is None and args.claim != "-":
        return args.claim
    try:
        if (args.file or args.claim) == "-":
            return sys.stdin.read(MAX_DERIVATION + 1)
        with open(args.file, encoding="utf-8") as handle:
            return handle.read(MAX_DERIVATION + 1)
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"cannot read {args.file}: {getattr(err, 'strerror', None) or err}") from None


def lets(args: argparse.Namespace) -> dict[str, str]:
    """--let NAME=MEANING, as {NAME: MEANING}."""
    found = {}
    for item in args.let:
        name, equals, meaning = item.partition("=")
        if not equals or not name.strip() or not meaning.strip():
            raise InputError(f'--let {item!r}: write NAME=MEANING, as in --let "p=a"')
        found[name.strip()] = meaning.strip()
    return found


def check_claim(text: str, args: argparse.Namespace) -> int:
    """One formula: its verdict, difference, named mistake and counterexample."""
    from derive.claims.verdict import check
    from derive.render.check import report, repr_latex

    model, constants = model_from_args(args)
    result = check(
        text, wrt=args.wrt, assume=not args.exact, latex=True if args.latex else None,
        classes=args.classes, features=args.features, model=model, constants=constants, lets=lets(args),
    )  # fmt: skip
    shown = {"json": lambda: json.dumps(result.as_dict()) + "\n", "latex": lambda: repr_latex(result) + "\n"}
    print(shown.get(args.format, lambda: report(result))(), end="")
    return result.exit_code


def check_derivation(text: str, args: argparse.Namespace) -> int:
    """A whole derivation: every line with ✓ or ✗, the first wrong step explained."""
    from derive.claims.judge import as_dict, judge_text
    from derive.render.judgement import report, report_latex

    model, _ = model_from_args(args)
    judged = judge_text(text, model, args.wrt, not args.exact, args.classes, args.features, lets(args), args.batch)
    shown = {"json": lambda: json.dumps(as_dict(judged)) + "\n", "latex": lambda: report_latex(judged)}
    print(shown.get(args.format, lambda: report(judged))(), end="")
    return judged.exit_code


def check_graph_claim(graph, text: str, args: argparse.Namespace) -> int:
    """A claimed dH/d(--wrt) for a model file, judged by numbers against the engine's backpropagation."""
    from derive.graph.backprop import backprop
    from derive.graph.claim import read_claim
    from derive.render.report import graph_claim_report
    from derive.verify import network

    if args.wrt is None:
        names = ", ".join(p.name for p in graph.parameters)
        raise InputError(f"give the parameter the claim differentiates by: --wrt NAME (one of {names})")
    if args.batch or args.let:
        raise InputError("--batch and --let are for the built-in models; a model file's claim uses its own names")
    try:
        wrt = graph.node(args.wrt)
    except KeyError as err:
        raise InputError(str(err.args[0])) from None
    if wrt.kind != "parameter":
        raise InputError(f"{args.wrt} is not a parameter of {graph.name}")
    claim = read_claim(graph, wrt, text)
    verdict = network.judge(graph, backprop(graph), backprop(graph, False), wrt, claim, assume=not args.exact)
    if args.format == "json":
        print(json.dumps(network.verdict_dict(verdict)))
    else:
        print(graph_claim_report(verdict), end="")
    return verdict.exit_code


def check_second(text: str, args: argparse.Namespace) -> int:
    """A claimed second derivative, judged by numbers against the engine's (derive.graph.hessian)."""
    from derive.graph.claim import read_second_claim
    from derive.graph.hessian import second_derivatives
    from derive.render.report import graph_claim_report
    from derive.verify.network import verdict_dict
    from derive.verify.second_claims import judge_second

    graph = shipped_graph_from_args(args)
    names = (args.wrt or graph.parameters[0].name).split(",")
    names = names * 2 if len(names) == 1 else names
    seconds = {(s.first.name, s.second.name): s for s in second_derivatives(graph, assume=not args.exact)}
    second = seconds.get(tuple(names))
    pairs = ", ".join(f"{a},{b}" for a, b in seconds)
    if second is None and len(names) == 2 and tuple(reversed(names)) in seconds:
        raise InputError(
            f"--wrt {args.wrt}: name the pair in the file's order, --wrt {names[1]},{names[0]} (the claim is"
            f" d2H/d{names[1]}/d{names[0]}, its second indices the second parameter's)"
        )
    if second is None or len(names) != 2:
        raise InputError(f"--wrt names one parameter or a pair of {graph.name}'s: {pairs}")
    claim = read_second_claim(graph, second.first, second.second, graph.node(second.second.name), text)
    verdict = judge_second(graph, second, claim)
    if args.format == "json":
        print(json.dumps(verdict_dict(verdict) | {"wrt": second.name}))
    else:
        print(graph_claim_report(verdict, second.name), end="")
    return verdict.exit_code


def seed_claims(model_name: str = "softmax") -> str:
    """``derive check`` on each of the model's seed claims, with the command line (output/check.txt)."""
    from derive.claims.verdict import check
    from derive.core.models import get_model
    from derive.render.check import report

    model = get_model(model_name)
    return "\n".join(
        f'$ derive check "{claim}"    # the {name}\n{report(check(claim))}' for name, claim in model.claims
    )
