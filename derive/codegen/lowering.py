"""Lift a per-sample closed form to the batch, and lower index expressions to whole-array expressions.

*Lifting* turns x_i into X[n, i], P_j into P[n, j] (y into y[n] ...) and takes the
batch mean, ``scale * Sum_n``.  *Lowering* reads the ``Indexed`` structure: a sum
over an index shared by two factors is a contraction (a matrix product, oriented
by ``PRODUCT_ORDER`` of :mod:`derive.codegen.arrays`, operands transposed as the layouts
require); a sum over an index of one factor is a reduction along that axis;
everything else is elementwise with NumPy broadcasting.  Symbolic constants (the
1/N of the mean) multiply the small results of products and reductions, not the
(K, N) operands.  Nothing here knows the answer: change the closed form and the
code changes with it.
"""

from __future__ import annotations

from collections.abc import Callable

import sympy as sp

from derive.codegen.arrays import (
    ARRAYS,
    BATCHED,
    BATCHED_SCALARS,
    COMPUTED,
    PRODUCT_ORDER,
    ROLES,
    SIZES,
    Dot,
    Inner,
    Lowered,
    N,
    SumOver,
    Total,
    Transposed,
    arrange,
    broadcast,
    layout,
    n,
    scale,
)

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


def signed(constants: list[sp.Expr], factors: list[sp.Expr]) -> sp.Expr:
    """The product of ``factors`` with the numeric constants (a sign) taken in: -(P - A) -> A - P."""
    return sp.Mul(*(c for c in constants if c.is_number), *factors)


def outside(constants: list[sp.Expr], operation: sp.Expr) -> sp.Expr:
    """Symbolic constants (the 1/N of the mean) times the result of a product or a reduction.

    The result is the small array (dW is (d, K), db is (K,)): scaling it instead of an
    operand such as the (K, N) gradient of the logits saves a pass over the batch.  Numeric
    signs go into an operand (:func:`signed`), where they fold into the subtraction.
    """
    return sp.Mul(*(c for c in constants if not c.is_number), operation)


def contract(q: sp.Symbol, groups: dict[tuple, list[sp.Expr]], constants: list[sp.Expr]) -> Lowered:
    """Sum_q L[u, q] R[q, v] -> L @ R, oriented by PRODUCT_ORDER, each operand transposed as needed.

    A numeric sign goes into the operand that is not a stored input (the gradient G rather
    than X), symbolic constants multiply the product (see :func:`outside`).  A product with
    a batch axis comes out in layout order (the batch is last in both orders): no transposing
    copy; a product over the batch comes out (feature, class), transposed only in name.
    """
    if sorted(map(len, groups)) == [1, 2]:
        return contract_vector(q, groups, constants)
    if any(len(axes) != 2 for axes in groups):
        raise NotImplementedError(f"contraction over {q} of axes {tuple(groups)}")
    u, v = sorted({r for axes in groups for r in axes} - {q}, key=lambda r: PRODUCT_ORDER.index(ROLES[r]))
    (left_axes, left), (right_axes, right) = sorted(groups.items(), key=lambda g: v in g[0])
    left_expr, right_expr = sp.Mul(*left), sp.Mul(*right)
    if _is_input(right_expr):
        left_expr = signed(constants, left)
    else:
        right_expr = signed(constants, right)
    product = Dot(arrange(left_expr, left_axes, (u, q)), arrange(right_expr, right_axes, (q, v)))
    return Lowered(arrange(outside(constants, product), (u, v), layout((u, v))), layout((u, v)))


def contract_vector(q: sp.Symbol, groups: dict[tuple, list[sp.Expr]], constants: list[sp.Expr]) -> Lowered:
    """Sum_q M[u, q] v[q] -> M @ v (the logits X @ w, the gradient X.T @ g of a single-output model).

    Constants go as in :func:`contract`.
    """
    (_, vector), (matrix_axes, matrix) = sorted(groups.items(), key=lambda g: len(g[0]))
    (u,) = set(matrix_axes) - {q}
    matrix_expr, vector_expr = sp.Mul(*matrix), sp.Mul(*vector)
    if _is_input(vector_expr):
        matrix_expr = signed(constants, matrix)
    else:
        vector_expr = signed(constants, vector)
    return Lowered(outside(constants, Dot(arrange(matrix_expr, matrix_axes, (u, q)), vector_expr)), (u,))


def _is_input(expr: sp.Expr) -> bool:
    return expr in ARRAYS or (isinstance(expr, Transposed) and expr.args[0] in ARRAYS)


def reduce(q: sp.Symbol, axes: tuple, factors: list[sp.Expr], constants: list[sp.Expr]) -> Lowered:
    """Sum over the axis of q of the product of ``factors``; constants stay outside a total."""
    rest = tuple(r for r in axes if r != q)
    if not rest:
        return _total(factors)
    return Lowered(outside(constants, SumOver(signed(constants, factors), axes.index(q))), rest)


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
