r"""The batch form of a gradient: ``\nabla_W H = X^\top(A - P)/N`` over N samples (``derive check --batch``).

In a batch form the loss is the mean of the model's loss over the N rows of a batch: X is N x d
(a sample per row), A, P (or Y) and Z are N x K, W is d x K (rows are features) and N is the
batch size, as :data:`SHAPES` says.  Its truth is the engine's own derivative for one sample,
averaged over the rows (:func:`mean_over_samples`): x_i, a_j, P_j and z_j become the n-th row's
X_ni, A_nj, Y_nj and Z_nj, and the result is (1/N) Sum_n of it.  A line is read as its entry
(i, j) (:func:`derive.claims.matrices.index_form`) and compared with the line before at random
batches of :data:`SAMPLES` rows, each row's z and a computed from its x and the shared W and b.
"""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache

import numpy as np
import sympy as sp

from derive.claims.compare import POINTS, Mismatch, Point, agree, entries
from derive.claims.counterexample import Counterexample, entry_name, plain
from derive.claims.matrices import ROW, Layout, held_replace
from derive.claims.vocabulary import CLASS, FEATURE, Vocabulary
from derive.core import symbols as S
from derive.core.models import Model
from derive.notation.bounds import ClaimError
from derive.verify import checking
from derive.verify.evaluate import arrays, number

#: the batch size and the row index of a batch
N = sp.Symbol("N", integer=True, positive=True)
n = ROW
#: a batch's matrices as index quantities: row n of X, A, Y (the labels) and Z
X, A, Y, Z = (sp.IndexedBase(name, real=True) for name in ("X", "A", "Y", "Z"))
#: the shape of each matrix of a batch form, by its name
SHAPES = {"X": (N, S.d), "A": (N, S.K), "P": (N, S.K), "Z": (N, S.K), "W": (S.d, S.K), "b": (S.K, 1)}
#: the index quantity each matrix's entries are
ENTRIES = {"X": X, "A": A, "P": Y, "Z": Z, "W": S.W, "b": S.b}
#: one sample's quantity -> the batch's, whose first index is the row
ROWS = {S.x: X, S.a: A, S.P: Y, S.z: Z}
#: batch sizes the lines are compared at (two rows at least: a lost 1/N shows only then)
SAMPLES = 3


def supports(model: Model) -> None:
    """The batch form is softmax regression's (with or without the L2 penalty); ClaimError otherwise."""
    if model.output_index is None or model.label_definition is not None:
        raise ClaimError("--batch reads softmax regression's batch form X^T(A - P)/N (with or without --l2)")


def mean_over_samples(per_sample: sp.Expr) -> sp.Expr:
    """The engine's derivative for one sample as the mean over a batch's rows: (1/N) Sum_n of it at row n."""

    rows = {q: ROWS[q.base][(n, *q.indices)] for q in per_sample.atoms(sp.Indexed) if q.base in ROWS}
    return sp.Mul(1 / N, sp.Sum(held_replace(per_sample, rows), (n, 1, N)), evaluate=False)


def mismatch(claim: sp.Expr, truth: sp.Expr, model: Model, parameter, normalised: bool, classes: int, features: int):
    """The worst entry where ``claim`` and ``truth`` differ at random batches, or None when they agree."""
    worst = None
    for point in batches(model, classes, features, normalised):
        for entry in entries(parameter, classes, features):
            env = {**point.env, **entry}
            got, want = number(claim, env), number(truth, env)
            if not agree(got, want):
                found = Mismatch(entry, got, want, point.values, classes, features)
                worst = found if worst is None or found.gap > worst.gap else worst
    return worst


@lru_cache(maxsize=16)
def batches(model: Model, classes: int, features: int, normalised: bool, seed: int = 0) -> tuple[Point, ...]:
    """POINTS random batches of SAMPLES rows: shared W, b (and lambda), each row's x and labels, z and a."""
    rng = np.random.default_rng([seed, classes, features, normalised, SAMPLES])
    return tuple(_batch(model, classes, features, normalised, rng) for _ in range(POINTS))


def _batch(model: Model, classes: int, features: int, normalised: bool, rng: np.random.Generator) -> Point:
    shared = {
        **{q: v for q, v in checking.random_inputs(model, classes, features, rng).items() if _shared(q)},
        **checking.penalty_strength(model, rng),
    }
    values = dict(shared)
    for row in range(1, SAMPLES + 1):
        sample = checking.random_inputs(model, classes, features, rng, normalised=normalised)
        own = checking.valuation(model, classes, features, {**sample, **shared})
        values.update({ROWS[q.base][(row, *q.indices)]: v for q, v in own.items() if not _shared(q)})
    env = arrays(values, classes, features)
    env.update({S.K: classes, S.d: features, N: SAMPLES})
    return Point(values, env)


def _shared(quantity: sp.Basic) -> bool:
    """W, b and the strengths are the batch's; x, the labels, z and a are each row's."""
    return not (isinstance(quantity, sp.Indexed) and quantity.base in ROWS)


def counterexample(parameter: sp.Basic, found: Mismatch) -> Counterexample:
    name = entry_name(parameter, found.entry)
    where = f"{name} at a random batch of N = {SAMPLES} samples, K = {found.classes}, d = {found.features}"
    return Counterexample("random", name, plain(found.entry), found.claim, found.truth, None, where)


#: the matrices of a batch form (the layout its lines are read in)
LAYOUT = Layout(SHAPES, ENTRIES)
#: a sample's index has no letter of its own: a batch form names whole matrices
SAMPLE = "sample"


def vocabulary_of(words: Vocabulary) -> Vocabulary:
    """The model's names and a batch's: X, A (or \\hat{Y}), P (or Y), Z and the batch size N."""
    matrices = {"X": (X, (SAMPLE, FEATURE)), "A": (A, (SAMPLE, CLASS)), "Z": (Z, (SAMPLE, CLASS))}
    return replace(
        words,
        quantities={**words.quantities, **matrices},
        scalars={**words.scalars, "N": N},
        aliases={**words.aliases, "Y": "P", "Yhat": "A"},
        known=words.known + ", and in a batch form X, A (or \\hat{Y}), P (or Y), Z, W and N",
    )
