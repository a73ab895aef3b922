"""The array language of generated code: operations as SymPy functions, and the layout of every array.

Each operation (``Dot``, ``Transposed``, ``SumOver`` ...) is a SymPy ``Function``
so that ``cse``, ``xreplace`` and the rewrites see through it, and
:class:`derive.printing.numpy.ArrayPrinter` prints it (``_print_Dot``: ``A @ B``).

Layout: every index of the engine has a role (the batch index n, a feature index
i/l, a class index j/k/m).  Inputs are stored with their indices in the order the
engine writes them (X[n, i] is (N, d), P[n, j] is (N, K), W[i, j] is (d, K), b[j]
is (K,)); every computed array is laid out class-major, batch last (``ORDER``):
Z, A and the gradient of the logits are (K, N).

Why class-major: the softmax reduces over the K classes of every sample.  On
(N, K) arrays with small K NumPy's ``axis=1`` reductions loop K times per row and
are slow; on (K, N) arrays ``axis=0`` reductions are K - 1 vectorised passes over
contiguous rows of length N.  The matrix products are oriented by
``PRODUCT_ORDER``: the logits come out class-major as ``W.T @ X.T``, with no
transposing copy of a (K, N) array, and the gradient as ``X.T @ G.T``, (d, K)
like W (the README's benchmark prints the GEMM pairs in both orientations).
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from derive.core import symbols as S

# --------------------------------------------------------------------------- array operations


class Dot(sp.Function):
    """Matrix product of two 2-D arrays (prints ``A @ B``)."""

    nargs = 2
    #: binds like ``*`` but must be parenthesised inside a product: ``scale * (A @ B)``
    precedence = 49


class Transposed(sp.Function):
    """``A.T``; the transpose of a transpose is the array itself."""

    nargs = 1

    @classmethod
    def eval(cls, arg):
        if isinstance(arg, Transposed):
            return arg.args[0]
        return None


class Column(sp.Function):
    """A vector as a column, ``b[:, None]``, to broadcast along the rows of a 2-D array."""

    nargs = 1


class Contiguous(sp.Function):
    """A C-contiguous copy, ``np.ascontiguousarray(A)``."""

    nargs = 1


class SumOver(sp.Function):
    """``A.sum(axis=k)``."""

    nargs = 2


class MaxOver(sp.Function):
    """``A.max(axis=k)``."""

    nargs = 2


class Total(sp.Function):
    """Sum of every entry: a scalar."""

    nargs = 1


class Inner(sp.Function):
    """Sum of the entrywise product of two arrays of one shape (``np.vdot``)."""

    nargs = 2


class Grouped(sp.Function):
    """A product computed on its own before it meets the rest (prints ``(u * v)``): the row
    vectors of a softmax multiplied together, then once with the (K, N) array."""

    nargs = 1


# --------------------------------------------------------------------------- indices and layouts

#: the batch index, the batch size and the factor of the batch mean (1/N, or 1 for a sum)
n, N = sp.symbols("n N", integer=True, positive=True)
scale = sp.Symbol("scale", positive=True)

BATCH, FEATURE, CLASS = "batch", "feature", "class"
#: every index's role; the axes of a computed array are ordered by role as in ORDER
ROLES = {n: BATCH, S.i: FEATURE, S.l: FEATURE, S.j: CLASS, S.k: CLASS, S.m: CLASS}
ORDER = (CLASS, FEATURE, BATCH)
SIZES = {BATCH: N, FEATURE: S.d, CLASS: S.K}

#: per-sample quantities and the batched arrays whose row n they become
BATCHED = {S.x: "X", S.P: "P", S.a: "A", S.z: "Z"}
#: the scalar per-sample quantities of single-output models (logistic, linear) and their batched vectors
BATCHED_SCALARS = {S.y: "y", S.sigma: "A", S.yhat: "A", S.logit: "Z"}
#: arrays of the generated code: batched ones, the parameters, the shifted logits
X, P, A, Z, W, b, Sh, w, y = sp.symbols("X P A Z W b S w y")
ARRAYS = frozenset({X, P, A, Z, W, b, Sh, w, y})
#: arrays the code computes (in layout order) rather than receives (in the engine's index order)
COMPUTED = frozenset({A, Z, Sh})
#: the axis order of matrix products.  The batch last, so that the logits come out class-major with
#: no copy (W.T @ X.T is (K, N)); features before classes, so that the gradient over the batch is
#: X.T @ G.T, (d, K) like W.  The other orientation of that product, G @ X, is as fast on an idle
#: machine but pathological with OpenBLAS's threads when the cores are busy (320 vs 16 ms at
#: 10000 x 784 x 10; see the README).
PRODUCT_ORDER = (FEATURE, CLASS, BATCH)
#: where the class axis is in a computed (K, N) array
CLASS_AXIS = sorted((CLASS, BATCH), key=ORDER.index).index(CLASS)


@dataclass(frozen=True)
class Lowered:
    """An array expression and the indices its axes carry, in layout order."""

    expr: sp.Expr
    indices: tuple[sp.Symbol, ...]


def layout(indices) -> tuple[sp.Symbol, ...]:
    """Indices in axis order (ORDER); one index per role."""
    ordered = tuple(sorted(set(indices), key=lambda q: ORDER.index(ROLES[q])))
    if len({ROLES[q] for q in ordered}) != len(ordered):
        raise NotImplementedError(f"outer product over indices {ordered} has no array layout")
    return ordered


def arrange(expr: sp.Expr, have: tuple, want: tuple) -> sp.Expr:
    """``expr`` with axes ``have`` as an array with axes ``want`` (the same indices): maybe transposed."""
    if have == want:
        return expr
    if len(have) == 2 and have == want[::-1]:
        return Transposed(expr)
    raise NotImplementedError(f"cannot arrange axes {have} as {want}")


def broadcast(part: Lowered, whole: tuple) -> sp.Expr:
    """``part`` shaped to broadcast against an array with axes ``whole`` in NumPy."""
    if part.indices in ((), whole) or part.indices == whole[-1:]:
        return part.expr
    if len(part.indices) == 1 and part.indices == whole[:1] and len(whole) == 2:
        return Column(part.expr)
    raise NotImplementedError(f"axes {part.indices} do not broadcast against {whole}")
