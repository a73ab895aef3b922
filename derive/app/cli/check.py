"""``derive check CLAIM``: judge a hand derivation of dH/dW_ij or dH/db_j (dH/dw_i, dH/db for single outputs).

Exit 0 correct, 1 incorrect, 2 bad input, 3 correct only under Sum_k P_k = 1 (switched off
by ``--exact``).  The claim may start with a minus sign: the command takes formulas (see
:func:`derive.app.cli.main.as_typed`).  ``derive all`` writes the verdicts on the seed
model's claims (:func:`seed_claims`).
"""

from __future__ import annotations

import argparse
import json

from derive.app.cli.options import add_model_options, model_from_args, positive_int
from derive.app.cli.registry import command


def _check_args(parser: argparse.ArgumentParser) -> None:
    from derive.claims.bounds import MAX_SIZE

    parser.add_argument(
        "claim",
        metavar="CLAIM",
        help='the claimed dH/dW_ij, e.g. "-P_j*(1-a_j)*x_i" or LaTeX; "-(y - sigma)*x_i" for --model logistic',
    )
    parser.add_argument(
        "--wrt",
        choices=("W", "w", "b"),
        help="the parameter: W (dH/dW_ij, default) or b (dH/db_j); w (dH/dw_i) or b for logistic and linear",
    )
    parser.add_argument("--latex", action="store_true", help="read the claim as LaTeX (detected when it has \\ or {})")
    parser.add_argument(
        "--classes", type=positive_int(MAX_SIZE), default=2, metavar="K", help="K for concrete indices (default 2)"
    )
    parser.add_argument("--features", type=positive_int(MAX_SIZE), default=2, metavar="d", help="d (default 2)")
    parser.add_argument("--format", choices=("text", "json"), default="text", help="output format (default text)")
    add_model_options(parser)


@command(
    "check",
    "judge a hand derivation of dH/dW_ij or dH/db_j (dH/dw_i, dH/db for logistic and linear)",
    _check_args,
    formulas=True,
)
def cmd_check(args: argparse.Namespace) -> int:
    """Exit 0 correct, 1 incorrect, 2 bad input, 3 correct only under Sum_k P_k = 1 (switched off by --exact)."""
    from derive.claims.verdict import check
    from derive.render.check import report

    model, constants = model_from_args(args)
    result = check(
        args.claim, wrt=args.wrt, assume=not args.exact, latex=True if args.latex else None,
        classes=args.classes, features=args.features, model=model, constants=constants,
    )  # fmt: skip
    print(
        json.dumps(result.as_dict()) if args.format == "json" else report(result),
        end="\n" if args.format == "json" else "",
    )
    return result.exit_code


def seed_claims(model_name: str = "softmax") -> str:
    """``derive check`` on each of the model's seed claims, with the command line (output/check.txt)."""
    from derive.claims.verdict import check
    from derive.core.models import get_model
    from derive.render.check import report

    model = get_model(model_name)
    return "\n".join(
        f'$ derive check "{claim}"    # the {name}\n{report(check(claim))}' for name, claim in model.claims
    )
