"""NumPy code for index expressions over a batch: sums of products print as ``np.einsum``.

The scalar printers print one number; a model's definitions and gradients are *index expressions*
(u_h = c_h + Sum_i V_ih x_i) that generated code computes for a whole batch at once.  This printer
keeps, beside each printed piece of code, the axes of the array it makes: the batch axis ``n`` for
what depends on the sample (inputs, definitions, error signals), then the indices in order.  The
rules, one per SymPy class:

==================  =====================================================================
expression          code (axes)
==================  =====================================================================
V[i, h]             ``V`` (i, h); a batched name has the axis n first: ``x`` (n, i)
Sum(f g, (i,..))    ``np.einsum("ni,ih->nh", x, V)``: a product summed over i, in one call
Sum(f, (i,..))      ``np.einsum("nih->nh", f)`` for any other summand
f + g, f * g        broadcasting, each operand aligned to the axes of the result
exp, log, tanh ...  ``np.exp`` ... (:data:`FUNCTIONS`), axes unchanged
softmax quotient    ``_softmax(z, axis)``, ``log(Sum_m exp(z_m))`` -> ``_logsumexp(z, axis)``
==================  =====================================================================

The helpers ``_softmax``, ``_logsumexp``, ``_sigmoid`` are in :data:`HELPERS` (max-shifted, finite
for any input), for the module that prints this code to define once.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from derive.core.primitives import relu, sigmoid, softplus, step

#: the batch axis: an einsum letter that no index uses (indices are lower-case letters)
BATCH = sp.Symbol("N_batch")
BATCH_LETTER = "N"

#: elementwise functions: SymPy class -> format of the code
FUNCTIONS = {
    sp.exp: "np.exp({0})",
    sp.log: "np.log({0})",
    sp.tanh: "np.tanh({0})",
    sigmoid: "_sigmoid({0})",
    softplus: "np.logaddexp(0.0, {0})",
    relu: "np.maximum({0}, 0.0)",
    step: "np.greater({0}, 0.0).astype(DTYPE)",
}

HELPERS = '''
def _softmax(z: np.ndarray, axis: int) -> np.ndarray:
    """exp(z) / sum(exp(z)) along ``axis``, shifted by the maximum (finite for any z); one new array."""
    e = z - z.max(axis=axis, keepdims=True)
    np.exp(e, out=e)
    e /= e.sum(axis=axis, keepdims=True)
    return e


def _logsumexp(z: np.ndarray, axis: int) -> np.ndarray:
    """log(sum(exp(z))) along ``axis``, shifted by the maximum (finite for any z); one new array."""
    top = z.max(axis=axis, keepdims=True)
    e = z - top
    np.exp(e, out=e)
    return np.squeeze(top, axis=axis) + np.log(e.sum(axis=axis))


def _sigmoid(u: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-u)) without overflow: 0.5 (1 + tanh(u / 2))."""
    return 0.5 * (1.0 + np.tanh(0.5 * u))
'''


@dataclass(frozen=True)
class Array:
    """Printed code and the axes of the array it computes (BATCH first when it depends on the sample)."""

    code: str
    axes: tuple[sp.Symbol, ...]
    #: safe as an operand of * and unary - without parentheses
    atomic: bool = True
    #: safe before an attribute or a subscript (.T, .sum(), [:, None]): a name, a call, a subscript
    primary: bool = True
    #: the samples themselves (an input): the large operand of a product
    data: bool = False


class TensorPrinter:
    """Print an index expression as NumPy code over a batch.

    ``names`` maps each base (IndexedBase or scalar Symbol) to its variable in the code; ``batched``
    says which of them carry the batch axis.
    """

    def __init__(
        self,
        names: dict[sp.Basic, str],
        batched: set[sp.Basic],
        sizes: dict | None = None,
        data: frozenset = frozenset(),
    ):
        self.names, self.batched, self.data = names, batched, data
        #: index -> the code of the size it runs to, for Kronecker deltas (an identity matrix of that size)
        self.sizes = dict(sizes or {})

    def doprint(self, expr: sp.Expr, axes: tuple[sp.Symbol, ...]) -> str:
        """Code for ``expr`` as an array with exactly ``axes`` (in that order)."""
        array = self.array(expr)
        missing = [a for a in array.axes if a not in axes]
        if missing:
            raise ValueError(f"{expr} has the free index {missing[0]}, which {axes} lacks")
        return align(array, axes).code

    def array(self, expr: sp.Expr) -> Array:
        for cls in type(expr).__mro__:
            method = getattr(self, f"_print_{cls.__name__}", None)
            if method is not None:
                return method(expr)
        if type(expr) in FUNCTIONS:
            inner = self.array(expr.args[0])
            return Array(FUNCTIONS[type(expr)].format(inner.code), inner.axes)
        raise ValueError(f"cannot print {type(expr).__name__} ({expr}) as array code")

    def batch_mean(self, expr: sp.Expr, axes: tuple[sp.Symbol, ...], count: str = "N") -> str:
        """Code for the mean over the batch of ``expr`` (its terms on the sample summed by einsum, / count)."""
        pieces = []
        for term in sp.Add.make_args(expr):
            array = self.array(term)
            if BATCH in array.axes:
                summed = self.array(sp.Sum(term, (BATCH, 1, sp.Symbol(count))))
                pieces.append(f"{_wrapped(align(summed, axes))} / {count}")
            else:
                pieces.append(align(array, axes).code)
        return joined(pieces)

    # ---------------------------------------------------------------- leaves
    def _print_Indexed(self, expr: sp.Indexed) -> Array:
        if len(set(expr.indices)) != len(expr.indices):
            raise ValueError(f"{expr}: an index repeated within one name (a diagonal) is not supported")
        batch = (BATCH,) if expr.base in self.batched else ()
        return Array(self.names[expr.base], (*batch, *expr.indices), data=expr.base in self.data)

    def _print_Symbol(self, expr: sp.Symbol) -> Array:
        if expr not in self.names:
            raise ValueError(f"{expr} is not a quantity of the model")
        return Array(self.names[expr], (BATCH,) if expr in self.batched else ())

    def _print_KroneckerDelta(self, expr: sp.KroneckerDelta) -> Array:
        first, second = expr.args
        if first not in self.sizes:
            raise ValueError(f"{expr}: the size of {first} is not known to the printer")
        return Array(f"np.eye({self.sizes[first]}, dtype=DTYPE)", (first, second))

    def _print_Number(self, expr: sp.Number) -> Array:
        return Array(repr(float(expr)), (), bool(expr >= 0))

    # ---------------------------------------------------------------- arithmetic
    def _print_Add(self, expr: sp.Add) -> Array:
        parts = [self.array(t) for t in expr.args]
        axes = union(p.axes for p in parts)
        return Array(joined(align(p, axes).code for p in parts), axes, False)

    def _print_Mul(self, expr: sp.Mul) -> Array:
        if _is_softmax(expr):
            return self._softmax(expr)
        coeff, factors = expr.as_coeff_mul()
        parts = [self.array(f) for f in factors]
        axes = union(p.axes for p in parts)
        code = " * ".join(_wrapped(align(p, axes)) for p in parts)
        if coeff == -1:
            return Array(f"-{code}" if len(parts) == 1 else f"-({code})", axes, False)
        if coeff != 1:
            code = f"{float(coeff)!r} * {code}"
        return Array(code, axes, False)

    def _print_Pow(self, expr: sp.Pow) -> Array:
        base = self.array(expr.base)
        exponent = expr.exp
        if exponent == -1:
            return Array(f"1.0 / {_wrapped(base)}", base.axes, False)
        if exponent == sp.Rational(1, 2):
            return Array(f"np.sqrt({base.code})", base.axes)
        if not exponent.is_Number:
            raise ValueError(f"{expr}: only constant exponents print")
        power = int(exponent) if exponent.is_Integer else float(exponent)
        if base.atomic and exponent.is_Integer and exponent > 0:  # ruff's layout: simple operands hug
            return Array(f"{base.code}**{power}", base.axes, True, False)
        return Array(f"{_wrapped(base)} ** {power}", base.axes, False)

    def _print_log(self, expr: sp.log) -> Array:
        (arg,) = expr.args
        if isinstance(arg, sp.Sum) and isinstance(arg.function, sp.exp) and len(arg.limits) == 1:
            inner = self.array(arg.function.args[0])
            index = arg.limits[0][0]
            axes = tuple(a for a in inner.axes if a != index)
            return Array(f"_logsumexp({inner.code}, axis={inner.axes.index(index)})", axes)
        inner = self.array(arg)
        return Array(f"np.log({inner.code})", inner.axes)

    def _print_Sum(self, expr: sp.Sum) -> Array:
        body, indices = expr.function, [limit[0] for limit in expr.limits]
        factors = sp.Mul.make_args(body) if isinstance(body, sp.Mul) and not _is_softmax(body) else (body,)
        coeff = sp.Mul(*(f for f in factors if f.is_Number))
        parts = [self.array(f) for f in factors if not f.is_Number]
        axes = tuple(a for a in union(p.axes for p in parts) if a not in indices)
        code = einsum(parts, axes)
        if coeff != 1:
            code = f"{float(coeff)!r} * {code}"
        return Array(code, axes, coeff == 1)

    def _softmax(self, expr: sp.Mul) -> Array:
        numerator, denominator = sp.fraction(expr)
        z = self.array(numerator.args[0])
        index = _softmax_index(numerator, denominator)
        return Array(f"_softmax({z.code}, axis={z.axes.index(index)})", z.axes)


def joined(terms) -> str:
    """Terms added up as ruff writes them: a term that starts with a minus sign is subtracted."""
    code = ""
    for term in terms:
        if not code:
            code = term
        elif term.startswith("-"):
            code += f" - {term[1:]}"
        else:
            code += f" + {term}"
    return code


def einsum(parts: list[Array], axes: tuple[sp.Symbol, ...]) -> str:
    """The sum of the product of ``parts`` over the axes not in ``axes``: a matrix product or a reduction
    where one does it (``A @ B.T``, ``A.sum(axis=0)``: BLAS, no copies), ``np.einsum`` otherwise."""
    direct = _matmul(parts, axes) if len(parts) == 2 else _reduction(parts[0], axes) if len(parts) == 1 else None
    return direct if direct is not None else _einsum(parts, axes)


def _reduction(part: Array, axes: tuple[sp.Symbol, ...]) -> str | None:
    """A.sum(axis=n) for one array summed over one of its axes, the others kept in order."""
    summed = [a for a in part.axes if a not in axes]
    kept = tuple(a for a in part.axes if a in axes)
    if len(summed) != 1 or kept != axes:
        return None
    return f"{_primary(part)}.sum(axis={part.axes.index(summed[0])})"


def _matmul(parts: list[Array], axes: tuple[sp.Symbol, ...]) -> str | None:
    """A @ B (either transposed) for two arrays of at most two axes sharing the one summed axis; the samples on
    the right (``(W.T @ x.T).T`` for x W, ``(delta.T @ x).T`` for x^T delta): OpenBLAS streams a long right
    operand faster than a long left one (1.3-1.5 times at N = 100000, d = 784, K = 10; the same at small N)."""
    left, right = parts
    if _long_on_the_left(left, right, axes):
        swapped = _matmul([right, left], axes[::-1])
        return None if swapped is None else f"{swapped}.T"
    shared = [a for a in left.axes if a in right.axes]
    if len(shared) != 1 or shared[0] in axes or len(left.axes) > 2 or len(right.axes) > 2:
        return None
    (k,) = shared
    rest_left = [a for a in left.axes if a != k]
    rest_right = [a for a in right.axes if a != k]
    if tuple(rest_right + rest_left) == axes and rest_left and rest_right:
        left, right, rest_left, rest_right = right, left, rest_right, rest_left
    if tuple(rest_left + rest_right) != axes:
        return None
    a = _primary(left) + (".T" if len(left.axes) == 2 and left.axes[0] == k else "")
    b = _primary(right) + (".T" if len(right.axes) == 2 and right.axes[1] == k else "")
    return f"({a} @ {b})"


def _long_on_the_left(left: Array, right: Array, axes: tuple[sp.Symbol, ...]) -> bool:
    """x W (a batch times a parameter) or x^T delta (the samples summed, the data first): better swapped."""
    if len(axes) != 2:
        return False
    if axes[0] == BATCH:
        return BATCH in left.axes and BATCH not in right.axes
    return BATCH in left.axes and BATCH in right.axes and left.data and not right.data


def _einsum(parts: list[Array], axes: tuple[sp.Symbol, ...]) -> str:
    """``np.einsum`` of the arrays ``parts`` with the result's ``axes`` (optimised: BLAS for a pair)."""
    spec = ",".join("".join(letter(a) for a in p.axes) for p in parts) + "->" + "".join(letter(a) for a in axes)
    operands = ", ".join(p.code for p in parts)
    return f'np.einsum("{spec}", {operands}, optimize=True)'


def letter(axis: sp.Symbol) -> str:
    if axis == BATCH:
        return BATCH_LETTER
    if len(axis.name) != 1:
        raise ValueError(f"index {axis} is not one letter")
    return axis.name


def union(groups) -> tuple[sp.Symbol, ...]:
    """All axes of the groups, the batch first, then each index where it first appears."""
    seen = list(dict.fromkeys(a for group in groups for a in group))
    return tuple(sorted(seen, key=lambda a: a != BATCH))


def align(array: Array, axes: tuple[sp.Symbol, ...]) -> Array:
    """The array with exactly ``axes``: transposed to their order, with new axes of length 1 where absent."""
    if array.axes == axes:
        return array
    if not array.axes:
        return array
    order = [a for a in axes if a in array.axes]
    code = _primary(array)
    if tuple(order) != array.axes:
        code = f"{code}.transpose({', '.join(str(array.axes.index(a)) for a in order)})"
    if len(order) != len(axes):
        code = f"{code}[{', '.join(':' if a in array.axes else 'None' for a in axes)}]"
    return Array(code, axes)


def _wrapped(array: Array) -> str:
    return array.code if array.atomic else f"({array.code})"


def _primary(array: Array) -> str:
    return array.code if array.atomic and array.primary else f"({array.code})"


def _is_softmax(expr: sp.Expr) -> bool:
    numerator, denominator = sp.fraction(expr)
    return (
        isinstance(numerator, sp.exp)
        and isinstance(denominator, sp.Sum)
        and isinstance(denominator.function, sp.exp)
        and _softmax_index(numerator, denominator) is not None
    )


def _softmax_index(numerator: sp.exp, denominator: sp.Sum):
    """The index over which exp(z_j) / Sum_m exp(z_m) normalises: j, when the sum is z's own."""
    top, bottom = numerator.args[0], denominator.function.args[0]
    (var, _, _), *_ = denominator.limits
    if not (isinstance(top, sp.Indexed) and isinstance(bottom, sp.Indexed) and top.base == bottom.base):
        return None
    differ = [t for t, b in zip(top.indices, bottom.indices, strict=True) if t != b]
    if len(differ) != 1 or bottom.indices[top.indices.index(differ[0])] != var:
        return None
    return differ[0]
