"""From the engine's closed form to batched NumPy code: lift, lower, stabilise, eliminate, print.

The driver is a short chain of stages, each returning a SymPy value that is kept::

    derive(...).result            -(P_j - a_j)*x_i                        the engine's closed form
      lift  (batch mean)          Sum(-scale*(P[n,j] - A[n,j])*X[n,i], (n, 1, N))
      lower (index -> array)      scale*Dot(A - P.T, X)                  scale * (G @ X), G class-major
      stabilise (named rules)     A -> exp(S)/SumOver(exp(S), 0), S = Z - MaxOver(Z, 0)
      economise (cost rules)      t1 * (s / T): per-sample factors first
      cse                         t0 = exp(S), t1 = ..., the outputs in terms of t*
      print (ArrayPrinter)        lines of NumPy code for the template

*Lowering* reads the ``Indexed`` structure.  Every index has a role (the batch
index n, a feature index i/l, a class index j/k/m); every input array is stored
with its indices in the order the engine writes them (X[n, i] is (N, d), P[n, j]
is (N, K), W[i, j] is (d, K), b[j] is (K,)), and every computed array is laid out
class-major, batch last: Z, A and the gradient of the logits are (K, N).  A sum
over an index shared by two factors is a contraction (a matrix product, oriented
with the batch axis as rows, operands transposed as the layouts require); a sum over an index of one factor is a
reduction along that axis; everything else is elementwise with NumPy
broadcasting.  Nothing here knows the answer: change the closed form and the code
changes with it.

Why class-major: the softmax reduces over the K classes of every sample.  On
(N, K) arrays with small K NumPy's ``axis=1`` reductions loop K times per row and
are slow; on (K, N) arrays ``axis=0`` reductions are K - 1 vectorised passes over
contiguous rows of length N.  The matrix products follow the same layout
(``PRODUCT_ORDER``): the logits come out class-major as ``W.T @ X.T`` and the
gradient as ``(G @ X).T``, with no transposing copy of a (K, N) array; OpenBLAS
runs these orientations as fast as ``X @ W`` and ``X.T @ G.T`` or faster (the
README's benchmark prints both GEMM pairs).  Symbolic constants (the 1/N of the
mean) multiply the small results, not the (K, N) operands, and two cost rewrites
(``ECONOMISE``) save passes: per-sample factors are multiplied together before they
meet the classes, and the loss's ``Sum_k P_k log T`` becomes one dot product of
per-sample vectors.

Every model goes through the same stages.  A single-output model (logistic,
linear) has scalar per-sample quantities (y, sigma, yhat, z) lifted to vectors
y[n], A[n], Z[n]; sums of a matrix against a vector become ``X @ w`` and
``X.T @ g``.  The sigmoid rewrites (``name_sigmoid`` ... ``sigmoid_by_softplus``)
turn its loss and gradient into logaddexp forms finite at any logit, and do
nothing to a softmax, just as the softmax rewrites do nothing to a sigmoid.  A
penalty (L2) is not a per-sample loss: its term R and the engine's derivative of
it (``Derivation.penalty_result``) are lowered on their own and added once per
batch, the data term (``Derivation.data_result``) is lifted to the batch mean.
The template reads the generated functions' arguments from ``Model.inputs``.

Labels that do not sum to one: the generated module uses the engine's *exact*
form (``derive(..., assume=False)``), a_j Sum_k P_k - P_j, right for any labels at
the price of one reduction; ``program(exact=False)`` lowers the assumed form.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from dataclasses import dataclass

import sympy as sp

from . import symbols as S
from .derivation import derive
from .models import Model, get_model
from .numpyprinter import ArrayPrinter
from .textprinter import equation

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


class Sigmoid(sp.Function):
    """The logistic function 1/(1 + exp(-u)), named by a rewrite so that the rules below can see it."""

    nargs = 1


class Softplus(sp.Function):
    """log(1 + exp(u)) = ``np.logaddexp(0, u)``: finite for every u (u for large u, exp(u) for very negative u)."""

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
#: the axis order of matrix products: the layout's own, so that a product over the batch comes out
#: class-major with no copy (W.T @ X.T is (K, N); G @ X is (K, d), whose transpose is dW)
PRODUCT_ORDER = ORDER
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


# --------------------------------------------------------------------------- lift


def lift(expr: sp.Expr) -> sp.Expr:
    """x_i -> X[n, i], P_j -> P[n, j], y -> y[n], sigma -> A[n]: a per-sample expression as row n of the batch."""
    rows = {s: sp.IndexedBase(name)[n] for s, name in BATCHED_SCALARS.items()}
    return expr.replace(
        lambda e: isinstance(e, sp.Indexed) and e.base in BATCHED,
        lambda e: sp.IndexedBase(BATCHED[e.base])[(n, *e.indices)],
    ).xreplace(rows)


def batch_mean(expr: sp.Expr) -> sp.Sum:
    """scale * Sum_n of the lifted expression: the mean (scale = 1/N) or the sum (scale = 1)."""
    return sp.Sum(scale * lift(expr), (n, 1, N))


# --------------------------------------------------------------------------- lower


def lower(expr: sp.Expr) -> Lowered:
    """An index expression -> an array expression over whole arrays."""
    for kind, rule in LOWERINGS:
        if isinstance(expr, kind):
            return rule(expr)
    if expr.free_symbols & set(ROLES):
        raise NotImplementedError(f"cannot lower {expr}")
    return Lowered(expr, ())


def _indexed(expr: sp.Indexed) -> Lowered:
    """An input as stored (indices in the engine's order) arranged in layout order; computed arrays as they are."""
    array, stored = sp.Symbol(str(expr.base.label)), tuple(expr.indices)
    if array in COMPUTED:
        return Lowered(array, layout(stored))
    return Lowered(arrange(array, stored, layout(stored)), layout(stored))


def _elementwise(parts: list[Lowered], combine: Callable[..., sp.Expr]) -> Lowered:
    whole = layout(q for part in parts for q in part.indices)
    return Lowered(combine(*(broadcast(part, whole) for part in parts)), whole)


def _add(expr: sp.Add) -> Lowered:
    return _elementwise([lower(t) for t in expr.args], sp.Add)


def _mul(expr: sp.Mul) -> Lowered:
    return _elementwise([lower(f) for f in expr.args], sp.Mul)


def _function(expr: sp.Function) -> Lowered:
    return _elementwise([lower(arg) for arg in expr.args], expr.func)


def _pow(expr: sp.Pow) -> Lowered:
    return _elementwise([lower(expr.base), lower(expr.exp)], sp.Pow)


def _sum(expr: sp.Sum) -> Lowered:
    """Sum over q: a contraction of two factor groups sharing q, or a reduction of one."""
    (q, low, high), *rest = expr.limits
    if rest:
        return _sum_of_all(expr)
    if low != 1 or high != SIZES[ROLES[q]]:
        raise NotImplementedError(f"{expr}: only one index summed over its whole range")
    parts = [lower(f) for f in sp.Mul.make_args(expr.function)]
    groups: dict[tuple, list[sp.Expr]] = {}
    for part in parts:
        if q in part.indices:
            groups.setdefault(part.indices, []).append(part.expr)
    outside = [part for part in parts if q not in part.indices]
    constants = [part.expr for part in outside if not part.indices]
    if len(groups) == 2:
        inner = contract(q, groups, constants)
    elif len(groups) == 1:
        ((indices, factors),) = groups.items()
        inner = reduce(q, indices, factors, constants)
    else:
        raise NotImplementedError(f"{expr}: {len(groups)} groups of factors share {q}")
    rest_parts = [part for part in outside if part.indices]
    if inner.expr.func in (Total, Inner):
        rest_parts += [Lowered(c, ()) for c in constants]
    return _elementwise([inner, *rest_parts], sp.Mul) if rest_parts else inner


def _sum_of_all(expr: sp.Sum) -> Lowered:
    """A sum over every index of its summand (the L2 penalty Sum_l Sum_m W_lm^2): the total of the array."""
    part = lower(expr.function)
    summed = {q for q, low, high in expr.limits if low == 1 and high == SIZES.get(ROLES.get(q))}
    if set(part.indices) != summed or len(summed) != len(expr.limits):
        raise NotImplementedError(f"{expr}: several indices summed, but not every index over its whole range")
    return _total([part.expr])


def scaled(constants: list[sp.Expr], factors: list[sp.Expr]) -> sp.Expr:
    """The product, with a numeric sign taken into the factors first: -scale*(P - A) -> scale*(A - P)."""
    numbers = [c for c in constants if c.is_number]
    return sp.Mul(*(c for c in constants if not c.is_number), sp.Mul(*numbers, *factors))


def outside(constants: list[sp.Expr], operation: sp.Expr) -> sp.Expr:
    """Symbolic constants (the 1/N of the mean) times the result of a product or a reduction.

    The result is the small array (dW is (d, K), the gradient G is (K, N)): scaling it
    instead of an operand saves a pass over the batch.  Numeric signs go into an operand
    (see :func:`scaled`), where they fold into the subtraction.
    """
    return sp.Mul(*(c for c in constants if not c.is_number), operation)


def _numbers(constants: list[sp.Expr]) -> list[sp.Expr]:
    return [c for c in constants if c.is_number]


def contract(q: sp.Symbol, groups: dict[tuple, list[sp.Expr]], constants: list[sp.Expr]) -> Lowered:
    """Sum_q L[u, q] R[q, v] -> L @ R, oriented by PRODUCT_ORDER, each operand transposed as needed.

    A numeric sign goes into the operand that is not a stored input (the gradient G rather
    than X), symbolic constants multiply the product (see :func:`outside`).  The product's
    axes are in layout order already (PRODUCT_ORDER is ORDER): no transposing copy.
    """
    if sorted(map(len, groups)) == [1, 2]:
        return contract_vector(q, groups, constants)
    if any(len(axes) != 2 for axes in groups):
        raise NotImplementedError(f"contraction over {q} of axes {tuple(groups)}")
    u, v = sorted({r for axes in groups for r in axes} - {q}, key=lambda r: PRODUCT_ORDER.index(ROLES[r]))
    (left_axes, left), (right_axes, right) = sorted(groups.items(), key=lambda g: v in g[0])
    left_expr, right_expr = sp.Mul(*left), sp.Mul(*right)
    if _is_input(right_expr):
        left_expr = scaled(_numbers(constants), left)
    else:
        right_expr = scaled(_numbers(constants), right)
    product = Dot(arrange(left_expr, left_axes, (u, q)), arrange(right_expr, right_axes, (q, v)))
    return Lowered(outside(constants, product), (u, v))


def contract_vector(q: sp.Symbol, groups: dict[tuple, list[sp.Expr]], constants: list[sp.Expr]) -> Lowered:
    """Sum_q M[u, q] v[q] -> M @ v (the logits X @ w, the gradient X.T @ g of a single-output model).

    Constants go as in :func:`contract`.
    """
    (_, vector), (matrix_axes, matrix) = sorted(groups.items(), key=lambda g: len(g[0]))
    (u,) = set(matrix_axes) - {q}
    matrix_expr, vector_expr = sp.Mul(*matrix), sp.Mul(*vector)
    if _is_input(vector_expr):
        matrix_expr = scaled(_numbers(constants), matrix)
    else:
        vector_expr = scaled(_numbers(constants), vector)
    return Lowered(outside(constants, Dot(arrange(matrix_expr, matrix_axes, (u, q)), vector_expr)), (u,))


def _is_input(expr: sp.Expr) -> bool:
    return expr in ARRAYS or (isinstance(expr, Transposed) and expr.args[0] in ARRAYS)


def reduce(q: sp.Symbol, axes: tuple, factors: list[sp.Expr], constants: list[sp.Expr]) -> Lowered:
    """Sum over the axis of q of the product of ``factors``; constants stay outside a total."""
    rest = tuple(r for r in axes if r != q)
    if not rest:
        return _total(factors)
    return Lowered(outside(constants, SumOver(scaled(_numbers(constants), factors), axes.index(q))), rest)


def _total(factors: list[sp.Expr]) -> Lowered:
    """Sum of every entry: of a sum over one axis, of an entrywise product of two arrays (vdot), of a
    square (vdot with itself), or plain.  The total does not depend on the layout: when every array
    of the summand is transposed, the transposes go."""
    body = sp.Mul(*factors)
    if isinstance(body, SumOver):
        body = body.args[0]
    body = body.xreplace(_untransposing(body))
    if isinstance(body, sp.Pow) and body.exp == 2:
        return Lowered(Inner(body.base, body.base), ())
    if isinstance(body, sp.Mul) and len(body.args) == 2 and not any(f.is_number for f in body.args):
        return Lowered(Inner(*body.args), ())
    return Lowered(Total(body), ())


def _untransposing(expr: sp.Expr) -> dict:
    """{A.T: A} when every array in ``expr`` appears transposed only, else {}."""
    arrays = expr.free_symbols & ARRAYS
    bare = expr.xreplace({t: sp.Dummy() for t in expr.atoms(Transposed)}).free_symbols & ARRAYS
    return {} if bare or not arrays else {t: t.args[0] for t in expr.atoms(Transposed)}


LOWERINGS: tuple[tuple[type, Callable[..., Lowered]], ...] = (
    (sp.Indexed, _indexed),
    (sp.Sum, _sum),
    (sp.Add, _add),
    (sp.Mul, _mul),
    (sp.Pow, _pow),
    (sp.Function, _function),
)


def stored(lowered: Lowered, parameter: sp.Basic) -> sp.Expr:
    """A gradient in the layout of its parameter as stored (dW is (d, K) like W; db of a scalar b is a scalar).

    The transpose of scalars times one transposed input is the product with the input: (lambda W.T).T = lambda W.
    """
    want = tuple(getattr(parameter, "indices", ()))
    if lowered.expr == 0:
        return sp.Integer(0)
    mapping = _untransposing(lowered.expr)
    if lowered.indices == want[::-1] != want and mapping and len(mapping) == 1:
        return lowered.expr.xreplace(mapping)
    return arrange(lowered.expr, lowered.indices, want)


# --------------------------------------------------------------------------- stabilise


@dataclass(frozen=True)
class Rewrite:
    """A named rewrite of an array expression; ``says`` is the identity it uses."""

    name: str
    says: str
    apply: Callable[[sp.Expr], sp.Expr]

    def __call__(self, expr: sp.Expr) -> sp.Expr:
        return self.apply(expr)


def class_sum(expr: sp.Expr) -> SumOver:
    return SumOver(expr, CLASS_AXIS)


#: the largest logit of each sample
M = MaxOver(Z, CLASS_AXIS)


def row_constant(expr: sp.Expr) -> bool:
    """Whether ``expr`` is the same for every class of a sample: no array outside a class reduction
    (or a total, which is one number)."""
    reduced = [r for r in expr.atoms(SumOver, MaxOver) if r.args[1] == CLASS_AXIS] + list(expr.atoms(Total, Inner))
    hidden = expr.xreplace({r: sp.Dummy() for r in reduced})
    return not (hidden.free_symbols & ARRAYS)


def _factor_row_constants(expr: sp.Expr) -> sp.Expr:
    def out(total: SumOver) -> sp.Expr:
        inside = sp.Mul.make_args(total.args[0])
        constant = [f for f in inside if row_constant(f)]
        return sp.Mul(*constant) * class_sum(sp.Mul(*(f for f in inside if f not in constant)))

    return expr.replace(lambda e: isinstance(e, SumOver) and e.args[1] == CLASS_AXIS and e.args[0].is_Mul, out)


_u = sp.Wild("u")


def _reflect_softplus(expr: sp.Expr) -> sp.Expr:
    """Softplus(u) -> u + Softplus(-u) where both occur, then the totals collected in u (the y*Softplus terms cancel)."""
    atoms = expr.atoms(Softplus)
    pairs = {s for s in atoms if Softplus(-s.args[0]) in atoms and not s.args[0].could_extract_minus_sign()}
    if not pairs:
        return expr
    expr = expr.xreplace({s: s.args[0] + Softplus(-s.args[0]) for s in pairs})
    arguments = [s.args[0] for s in pairs]
    return expr.replace(lambda t: isinstance(t, Total), lambda t: Total(sp.collect(sp.expand(t.args[0]), arguments)))


#: the rules, in order, that turn the naive sigmoid and softmax into forms finite for any logits: a rule
#: whose pattern is absent changes nothing, so every model goes through the same chain
STABILISE: tuple[Rewrite, ...] = (
    Rewrite(
        "name_sigmoid",
        "1/(1 + exp(-u)) = sigma(u)",
        lambda e: e.replace(1 / (1 + sp.exp(_u)), Sigmoid(-_u)),
    ),
    Rewrite(
        "sigmoid_complement",
        "1 - sigma(u) = sigma(-u): no cancellation when sigma(u) is close to 1",
        lambda e: e.replace(1 - Sigmoid(_u), Sigmoid(-_u)),
    ),
    Rewrite(
        "log_sigmoid",
        "log sigma(u) = -log(1 + exp(-u)) = -logaddexp(0, -u): finite for any u, never the log of 0",
        lambda e: e.replace(sp.log(Sigmoid(_u)), -Softplus(-_u)),
    ),
    Rewrite(
        "softplus_reflect",
        "logaddexp(0, u) = u + logaddexp(0, -u): one logaddexp serves both log sigma and log(1 - sigma)",
        lambda e: _reflect_softplus(e),
    ),
    Rewrite(
        "sigmoid_by_softplus",
        "sigma(u) = exp(-logaddexp(0, -u)): exp of a number <= 0 never overflows, and shares logaddexp with the loss",
        lambda e: e.replace(Sigmoid(_u), sp.exp(-Softplus(-_u))),
    ),
    Rewrite(
        "shift_by_max",
        "exp(Z) = exp(M) exp(S) with M = max_k Z_k, S = Z - M <= 0, so exp(S) cannot overflow",
        lambda e: e.xreplace({sp.exp(Z): sp.exp(M) * sp.exp(Sh)}),
    ),
    Rewrite(
        "max_out_of_class_sum",
        "Sum_k c F_k = c Sum_k F_k for c the same for every class; exp(M) then cancels in a_j",
        _factor_row_constants,
    ),
    Rewrite(
        "log_of_quotient",
        "log(exp(S)/T) = S - log T: the log-softmax never takes the log of an underflowed a_j",
        lambda e: sp.expand_log(e, force=True),
    ),
)


def contiguous(expr: sp.Expr) -> sp.Expr:
    """Transposed inputs used outside a matrix product become one contiguous copy.

    ``P.T`` is a strided view: BLAS takes it for free, but elementwise arithmetic, the
    class reductions and ``np.vdot`` on it are slow (or copy on every use).
    """
    in_products = {arg for dot in expr.atoms(Dot) for arg in dot.args}
    loose = {t for t in expr.atoms(Transposed) if t.args[0] in ARRAYS and t not in in_products}
    return expr.xreplace({t: Contiguous(t) for t in loose})


#: the definition of the shifted logits that the rules above introduce
SHIFTED = (Sh, Z - M)


def stabilise(expr: sp.Expr, rules: tuple[Rewrite, ...] = STABILISE) -> sp.Expr:
    for rule in rules:
        expr = rule(expr)
    return expr


def _row_constants_first(expr: sp.Expr) -> sp.Expr:
    """t1 * s * c / T -> t1 * (s * c / T): the factors that are the same for every class multiplied first."""

    def group(product: sp.Mul) -> sp.Expr:
        constant = [f for f in product.args if row_constant(f)]
        varying = [f for f in product.args if not row_constant(f)]
        if len(constant) < 2 or not varying:
            return product
        return sp.Mul(*varying, Grouped(sp.Mul(*constant)))

    return expr.replace(lambda e: e.is_Mul, group)


def _split_inner(expr: sp.Expr) -> sp.Expr:
    """Inner(U, V + r) -> Inner(U, V) + Inner(Sum_k U, r) for r the same for every class of a sample."""

    def split(inner: Inner) -> sp.Expr:
        for u, v in (inner.args, inner.args[::-1]):
            terms = sp.Add.make_args(v)
            per_row = [t for t in terms if row_constant(t) and t.free_symbols & ARRAYS]
            rest = [t for t in terms if t not in per_row]
            if per_row and rest and not row_constant(u):
                r = sp.Add(*per_row)
                sign = -1 if r.could_extract_minus_sign() else 1
                return Inner(u, sp.Add(*rest)) + sign * Inner(class_sum(u), sign * r)
        return inner

    return expr.replace(lambda e: isinstance(e, Inner), split)


#: rewrites that change no value but the work: each saves a pass over a (K, N) array
ECONOMISE: tuple[Rewrite, ...] = (
    Rewrite(
        "row_constants_first",
        "a_j s / T = a_j (s / T): the per-sample factors are multiplied together before they meet the classes",
        _row_constants_first,
    ),
    Rewrite(
        "split_inner",
        "Sum_k P_k (S_k - log T) = Sum_k P_k S_k - (Sum_k P_k) log T: no (K, N) array for S - log T",
        _split_inner,
    ),
)


def fired(expr: sp.Expr, rules: tuple[Rewrite, ...] = STABILISE) -> tuple[Rewrite, ...]:
    """The rules that changed ``expr`` on its way through ``stabilise``."""
    changed = []
    for rule in rules:
        new = rule(expr)
        if new != expr:
            changed.append(rule)
        expr = new
    return tuple(changed)


def bounded_exponent(arg: sp.Expr) -> bool:
    """Whether exp(arg) cannot overflow: arg is the shifted logits S <= 0 or -logaddexp(0, u) <= 0."""
    return arg == Sh or (arg.could_extract_minus_sign() and isinstance(-arg, Softplus))


# --------------------------------------------------------------------------- the kernel


@dataclass(frozen=True)
class Kernel:
    """Straight-line array code: ``assignments`` in order, then the named ``outputs``."""

    assignments: tuple[tuple[sp.Symbol, sp.Expr], ...]
    outputs: tuple[tuple[str, sp.Expr], ...]

    def lines(self) -> tuple[str, ...]:
        printer = ArrayPrinter()
        return tuple(f"{name} = {printer.doprint(expr)}" for name, expr in self.assignments)

    def returns(self) -> tuple[str, ...]:
        printer = ArrayPrinter()
        return tuple(printer.doprint(expr) for _, expr in self.outputs)


@dataclass(frozen=True)
class Program:
    """What the generated module is made of: the closed forms it came from and its kernels."""

    model: Model
    exact: bool
    closed_forms: tuple[str, ...]
    forward: tuple[tuple[sp.Symbol, sp.Expr], ...]
    loss: Kernel
    loss_and_grad: Kernel
    #: the penalty R and its derivatives, added once to the batch's data term; None without a penalty
    penalty: Kernel | None = None
    #: the stabilising rewrites that changed the code (each one's ``says`` goes into the module's docstring)
    rewrites: tuple[Rewrite, ...] = ()


def forward(model: Model) -> tuple[tuple[sp.Symbol, sp.Expr], tuple[sp.Symbol, sp.Expr]]:
    """Z = the lowered logits, A = the lowered activation (both from the model's definitions)."""
    logits = lower(lift(model.logit_definition)).expr
    activation = lower(lift(model.activation_definition)).expr
    return (Z, logits), (A, activation)


#: symbolic strengths of the add-ons -> the keyword argument of the generated functions that carries them
KEYWORDS = {S.lam: sp.Symbol("l2", positive=True)}


def gradient_name(parameter: sp.Basic) -> str:
    """dW for W_ij, db for b_j or a scalar b."""
    return f"d{S.key(parameter)}"


def outputs(model: Model, exact: bool) -> dict[str, sp.Expr]:
    """The data term: the batch mean of the model's loss and of the engine's closed forms, lowered.

    A penalty (L2) is not part of a sample's loss; :func:`penalty` lowers it, to be added once.
    """
    loss = lower(batch_mean(model.loss)).expr
    grads = {
        gradient_name(p): stored(lower(batch_mean(derive(model, p, assume=not exact).data_result)), p)
        for p in model.parameters
    }
    return {"loss": loss, **grads}


def penalty(model: Model, exact: bool) -> dict[str, sp.Expr]:
    """The penalty R and the engine's derivative of it for each parameter (0 where R does not depend on it)."""
    terms = {"loss": lower(model.penalty).expr}
    for p in model.parameters:
        terms[gradient_name(p)] = stored(lower(derive(model, p, assume=not exact).penalty_result), p)
    return {name: term.xreplace(KEYWORDS) for name, term in terms.items()}


def kernel(named: dict[str, sp.Expr], activation: sp.Expr) -> Kernel:
    """Substitute the activation, stabilise, and eliminate common subexpressions."""
    exprs = [stabilise(contiguous(stabilise(e.xreplace({A: activation}))), ECONOMISE) for e in named.values()]
    if any(not bounded_exponent(g.args[0]) for e in exprs for g in e.atoms(sp.exp)):
        raise NotImplementedError("an exponential of the logits survives outside a stable form")
    replacements, reduced = sp.cse(exprs, symbols=sp.numbered_symbols("t"), order="none")
    return Kernel(tuple(replacements), tuple(zip(named, reduced)))


def program(model: Model | str = "softmax", exact: bool = True) -> Program:
    """Every piece of the generated module for ``model``."""
    model = get_model(model) if isinstance(model, str) else model
    logits, (_, activation) = forward(model)
    named = outputs(model, exact)
    derivations = [derive(model, p, assume=not exact) for p in model.parameters]
    loss_and_grad = kernel(named, activation)
    shifted = any(Sh in e.free_symbols for _, e in loss_and_grad.assignments + loss_and_grad.outputs)
    return Program(
        model=model,
        exact=exact,
        closed_forms=tuple(equation(d.lhs, d.result) for d in derivations),
        forward=(logits, SHIFTED) if shifted else (logits,),
        loss=kernel({"loss": named["loss"]}, activation),
        loss_and_grad=loss_and_grad,
        penalty=kernel(penalty(model, exact), activation) if model.penalty != 0 else None,
        rewrites=fired(sp.Add(*(e.xreplace({A: activation}) for e in named.values()))),
    )


# --------------------------------------------------------------------------- the module

#: rows per block of the batch sum.  2048 rows of X (12.8 MB in float64, 6.4 MB in float32) stay
#: in the 32 MB L3 cache between W.T @ X.T and G @ X, the (K, 2048) temporaries stay in L2, and
#: each product is still large enough for OpenBLAS's threads (measured over 1024 ... 32768 rows
#: at 10000 and 100000 x 784 x 10: 2048 is within noise of the best in both dtypes; see the
#: README).  The generated module exposes it as BLOCK_ROWS.
BLOCK_ROWS = 2048
DTYPES = ("float64", "float32")


def module_name(dtype: str = "float64", model: Model | str = "softmax") -> str:
    """softmax_grad.py for float64, softmax_grad_float32.py for float32; logistic_l2_grad.py for logistic+l2."""
    stem = f"{_model(model).name.replace('+', '_')}_grad"
    return f"{stem}.py" if dtype == "float64" else f"{stem}_{dtype}.py"


def _model(model: Model | str) -> Model:
    return get_model(model) if isinstance(model, str) else model


def module_source(dtype: str = "float64", model: Model | str = "softmax", constants: dict | None = None) -> str:
    """The generated module's text: the program's printed kernels laid out by the template.

    Always the exact form: a module that assumed Sum_k P_k = 1 would be silently wrong for other labels.
    ``constants`` gives the add-ons' strengths ({lambda: 0.01}); the model's defaults otherwise.
    """
    from . import __name__ as package
    from .rendering import render

    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, not {dtype!r}")
    model = _model(model)
    constants = {**model.constants, **(constants or {})}
    prog = program(model, exact=True)
    printer = ArrayPrinter()
    sig = signature(model)
    return render(
        "numpy",
        "model_grad.py.jinja",
        title=prog.model.title,
        version=_version(package),
        command=command(model, dtype, constants),
        model=prog.model.name,
        closed_forms=prog.closed_forms,
        labels=labels_note(model),
        dtype=dtype,
        block_rows=BLOCK_ROWS,
        sig=sig,
        headers=headers(sig, str(KEYWORDS[S.lam]) if prog.penalty is not None else None),
        math=definitions(model),
        rewrites=[f"{rule.name}: {rule.says}." for rule in prog.rewrites],
        layout=LAYOUT if model.output_index is not None else "",
        penalty=penalty_context(prog, sig, constants),
        forward=[f"{s} = {printer.doprint(e)}" for s, e in prog.forward],
        loss={"lines": prog.loss.lines(), "returns": prog.loss.returns()},
        loss_and_grad={"lines": prog.loss_and_grad.lines(), "returns": prog.loss_and_grad.returns()},
        gradient_doc=("Per sample" if prog.penalty is None else "Per sample, with the penalty's term once per batch")
        + ": "
        + "; ".join(prog.closed_forms)
        + ".",
    )


LABELS = "Exact for any labels: no assumption that Sum_k P_k = 1 (soft or unnormalised labels are fine)."

#: what each input of the generated functions holds, for the module's docstring
MEANINGS = {
    S.x: "features x_i of each sample",
    S.P: "labels P_j of each sample (one-hot or soft)",
    S.W: "weights: rows = features i, columns = classes j",
    S.b: "biases b_j",
    S.w: "weights w_i",
    S.bias: "bias b: a number",
}
#: the meaning of a single-output model's label, by the model's label_kind
LABEL_MEANINGS = {
    "probability": "labels y of each sample: 0 or 1, or a probability",
    "real": "targets y of each sample",
}


@dataclass(frozen=True)
class Argument:
    """An argument of the generated functions: its name in the code, shape (as Python text) and meaning."""

    name: str
    shape: str
    meaning: str

    @property
    def scalar(self) -> bool:
        return self.shape == "()"


@dataclass(frozen=True)
class Signature:
    """The arguments of the generated functions, in order: the parameters, X, the labels."""

    parameters: tuple[Argument, ...]
    features: Argument
    label: Argument

    @property
    def arguments(self) -> tuple[Argument, ...]:
        return (*self.parameters, self.features, self.label)

    @property
    def names(self) -> str:
        return ", ".join(a.name for a in self.arguments)

    @property
    def typed(self) -> str:
        return ", ".join(f"{a.name}: {'float' if a.scalar else 'np.ndarray'}" for a in self.arguments)

    @property
    def gradients(self) -> tuple[str, ...]:
        return tuple(f"d{p.name}" for p in self.parameters)

    @property
    def results(self) -> tuple[str, ...]:
        """The names of loss_and_grad's results: H and the gradients."""
        return ("H", *self.gradients)

    @property
    def documented(self) -> tuple[Argument, ...]:
        """The arguments in the order the module's docstring lists them: the data first."""
        return (self.features, self.label, *self.parameters)

    @property
    def bias(self) -> Argument:
        return self.parameters[-1]


#: the line length of the generated code (the project's ruff setting)
LINE_LENGTH = 120


def def_line(name: str, parameters: list[str], returns: str) -> str:
    """A function's header laid out as ruff format lays it out: one line when it fits, else the
    parameters on one indented line, else one parameter per line with a trailing comma."""
    joined = ", ".join(parameters)
    one = f"def {name}({joined}) -> {returns}:"
    if len(one) <= LINE_LENGTH:
        return one
    if len(joined) + 4 <= LINE_LENGTH:
        return f"def {name}(\n    {joined}\n) -> {returns}:"
    return f"def {name}(\n" + "".join(f"    {p},\n" for p in parameters) + f") -> {returns}:"


def headers(sig: Signature, keyword: str | None) -> dict[str, str]:
    """The headers of the generated functions; ``keyword`` is the penalty's strength argument, if any."""
    typed = [f"{a.name}: {'float' if a.scalar else 'np.ndarray'}" for a in sig.arguments]
    public = [*typed, 'reduction: str = "mean"', *([f"{keyword}: float = {keyword.upper()}"] if keyword else [])]
    grads = ", ".join("float" if a.scalar else "np.ndarray" for a in sig.parameters)
    return {
        "_scale": def_line("_scale", [*typed, "reduction: str"], "float"),
        "_loss": def_line("_loss", [*typed, "scale: float"], "float"),
        "_loss_and_grad": def_line("_loss_and_grad", [*typed, "scale: float"], f"tuple[float, {grads}]"),
        "loss": def_line("loss", public, "float"),
        "loss_and_grad": def_line("loss_and_grad", public, f"tuple[float, {grads}]"),
        "grad": def_line("grad", public, f"tuple[{grads}]"),
    }


def _shape(sizes: tuple[str, ...]) -> str:
    return f"({sizes[0]},)" if len(sizes) == 1 else f"({', '.join(sizes)})"


def signature(model: Model) -> Signature:
    """The generated functions' arguments, read from the model's inputs (their shapes in d and K)."""
    shapes = dict(model.inputs)
    parameters = tuple(Argument(str(S.key(p)), _shape(shapes[S.key(p)]), MEANINGS[S.key(p)]) for p in model.parameters)
    label_name = BATCHED.get(model.label) or BATCHED_SCALARS[model.label]
    label_meaning = MEANINGS.get(model.label) or LABEL_MEANINGS[model.label_kind]
    return Signature(
        parameters,
        Argument(BATCHED[S.x], _shape(("N", *shapes[S.x])), MEANINGS[S.x]),
        Argument(label_name, _shape(("N", *shapes[model.label])), label_meaning),
    )


def command(model: Model, dtype: str, constants: dict) -> str:
    """The command line that writes this module."""
    words = ["derive code"]
    base = model.name.split("+")[0]
    if base != "softmax":
        words.append(f"--model {base}")
    if model.penalty != 0:
        words.append(f"--l2 {constants[S.lam]:g}")
    if model.label_definition is not None:
        words.append(f"--smoothing {constants[S.eps]:g}")
    return " ".join([*words, f"--dtype {dtype}"])


def labels_note(model: Model) -> str:
    if model.label_definition is not None:
        return (
            f"{LABELS}\nP must be the smoothed labels, (1 - epsilon) onehot + epsilon/K: with them the gradient is"
            " a_j - P_j\n(they sum to one), and the code, exact for any labels, computes just that."
        )
    if model.assumptions:
        return LABELS
    return f"Exact for any labels: the closed forms assume nothing about {signature(model).label.name}."


def definitions(model: Model) -> tuple[str, ...]:
    """The model's definitions, printed by the engine's text printer: logits, activation, loss, penalty."""
    lines = [equation(model.logit, model.logit_definition), equation(model.activation, model.activation_definition)]
    loss = S.L if model.penalty != 0 else S.H
    lines.append(equation(loss, model.loss))
    if model.penalty != 0:
        lines.append(equation(S.R, model.penalty))
    return tuple(lines)


#: how the arrays of a model with classes are laid out, for the module's docstring
LAYOUT = (
    "Inside, arrays over the batch are class-major, (K, N), so that the reductions over the\n"
    "classes run along axis 0; the matrix products come out in that layout (W.T @ X.T is (K, N))."
)


def penalty_context(prog: Program, sig: Signature, constants: dict) -> dict | None:
    """The penalty, added once to the batch's loss and gradients, with its strength as a keyword argument."""
    if prog.penalty is None:
        return None
    printer = ArrayPrinter()
    names = ("H", *sig.gradients)
    totals = [printer.doprint(sp.Symbol(name) + expr) for name, (_, expr) in zip(names, prog.penalty.outputs)]
    keyword = KEYWORDS[S.lam]
    return {
        "keyword": str(keyword),
        "value": repr(float(constants[S.lam])),
        "lines": prog.penalty.lines(),
        "totals": totals,
    }


def _version(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "0.1.0"


def load_module(source: str, name: str = "softmax_grad") -> types.ModuleType:
    """A module object from generated source (derive's own output, never user text)."""
    module = types.ModuleType(name)
    exec(compile(source, f"<generated {name}>", "exec"), module.__dict__)  # noqa: S102 -- our own generated code
    return module
