"""From the engine's closed form to batched NumPy code: lift, lower, stabilise, eliminate, print.

The driver is a short chain of stages, each returning a SymPy value that is kept::

    derive(...).result            -(P_j - a_j)*x_i                     the engine's closed form
      lift  (batch mean)          Sum(-scale*(P[n,j] - A[n,j])*X[n,i], (n, 1, N))
      lower (index -> array)      Dot(Transposed(X), -scale*(P - A))   printed X.T @ G
      stabilise (named rules)     A -> exp(S)/RowSum(exp(S)), S = Z - RowMax(Z)
      cse                         t0 = exp(S), t1 = ..., the outputs in terms of t*
      print (ArrayPrinter)        lines of NumPy code for the template

*Lowering* reads the ``Indexed`` structure: every index has a role (the batch
index n, a feature index i/l, a class index j/k/m) and every array a layout
(rows are samples; X is (N, d), P, A, Z are (N, K), W is (d, K), b is (K,)).
A sum over an index shared by two factors is a contraction (a matrix product,
transposed as the layouts require); a sum over an index of one factor is a
reduction (row sum, column sum, total); everything else is elementwise with
NumPy broadcasting.  Nothing here knows the answer: change the closed form
and the code changes with it.

Labels that do not sum to one: :func:`kernels` uses the engine's *exact* form
(``derive(..., assume=False)``), a_j Sum_k P_k - P_j, which is right for any
labels and costs one row sum; the assumed form is available with ``exact=False``.
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
    """``A.T``."""

    nargs = 1


class RowSum(sp.Function):
    """Sum over the last axis, kept as a column (N, 1)."""

    nargs = 1


class RowMax(sp.Function):
    """Maximum over the last axis, kept as a column (N, 1)."""

    nargs = 1


class ColumnSum(sp.Function):
    """Sum over the batch axis: (N, K) -> (K,)."""

    nargs = 1


class Total(sp.Function):
    """Sum of every entry: a scalar."""

    nargs = 1


class Inner(sp.Function):
    """Sum of the entrywise product of two arrays of one shape (``np.vdot``)."""

    nargs = 2


# --------------------------------------------------------------------------- indices and layouts

#: the batch index, the batch size and the factor of the batch mean (1/N, or 1 for a sum)
n, N = sp.symbols("n N", integer=True, positive=True)
scale = sp.Symbol("scale", positive=True)

BATCH, FEATURE, CLASS = "batch", "feature", "class"
#: every index's role; the axes of an array are ordered by role as in ORDER
ROLES = {n: BATCH, S.i: FEATURE, S.l: FEATURE, S.j: CLASS, S.k: CLASS, S.m: CLASS}
ORDER = (BATCH, FEATURE, CLASS)
SIZES = {BATCH: N, FEATURE: S.d, CLASS: S.K}

#: per-sample quantities and the batched arrays whose row n they become
BATCHED = {S.x: "X", S.P: "P", S.a: "A", S.z: "Z"}
#: arrays of the generated code: batched ones, the parameters, the shifted logits
X, P, A, Z, W, b, Sh = sp.symbols("X P A Z W b S")
ARRAYS = frozenset({X, P, A, Z, W, b, Sh})


@dataclass(frozen=True)
class Lowered:
    """An array expression and the indices its axes carry, in layout order."""

    expr: sp.Expr
    indices: tuple[sp.Symbol, ...]


def layout(indices) -> tuple[sp.Symbol, ...]:
    """Indices in axis order (batch, feature, class); one index per role."""
    ordered = tuple(sorted(set(indices), key=lambda q: ORDER.index(ROLES[q])))
    if len({ROLES[q] for q in ordered}) != len(ordered):
        raise NotImplementedError(f"outer product over indices {ordered} has no array layout")
    return ordered


def broadcasts(part: tuple, whole: tuple) -> bool:
    """Whether an array with axes ``part`` broadcasts against one with axes ``whole`` in NumPy."""
    if part in ((), whole):
        return True
    if part == (n,):  # a row constant is kept as an (N, 1) column
        return whole[:1] == (n,)
    return len(part) == 1 and part[0] == whole[-1]


# --------------------------------------------------------------------------- lift


def lift(expr: sp.Expr) -> sp.Expr:
    """x_i -> X[n, i], P_j -> P[n, j], ...: a per-sample expression as row n of the batch."""
    return expr.replace(
        lambda e: isinstance(e, sp.Indexed) and e.base in BATCHED,
        lambda e: sp.IndexedBase(BATCHED[e.base])[(n, *e.indices)],
    )


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
    indices = tuple(expr.indices)
    if layout(indices) != indices:
        raise NotImplementedError(f"{expr}: indices not in layout order {ORDER}")
    return Lowered(sp.Symbol(str(expr.base.label)), indices)


def _elementwise(parts: list[Lowered], combine: Callable[..., sp.Expr]) -> Lowered:
    whole = layout(q for part in parts for q in part.indices)
    for part in parts:
        if not broadcasts(part.indices, whole):
            raise NotImplementedError(f"axes {part.indices} do not broadcast against {whole}")
    return Lowered(combine(*(part.expr for part in parts)), whole)


def _add(expr: sp.Add) -> Lowered:
    return _elementwise([lower(t) for t in expr.args], sp.Add)


def _mul(expr: sp.Mul) -> Lowered:
    return _elementwise([lower(f) for f in expr.args], sp.Mul)


def _function(expr: sp.Function) -> Lowered:
    return _elementwise([lower(arg) for arg in expr.args], expr.func)


def _pow(expr: sp.Pow) -> Lowered:
    base, exponent = lower(expr.base), lower(expr.exp)
    return _elementwise([base, exponent], sp.Pow)


def _sum(expr: sp.Sum) -> Lowered:
    """Sum over q: a contraction of two factor groups sharing q, or a reduction of one."""
    (q, low, high), *rest = expr.limits
    if rest or low != 1 or high != SIZES[ROLES[q]]:
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


def contract(q: sp.Symbol, groups: dict[tuple, list[sp.Expr]], constants: list[sp.Expr]) -> Lowered:
    """Sum_q L[.., q, ..] R[.., q, ..] -> a matrix product; constants scale the later operand."""
    (left_axes, left), (right_axes, right) = sorted(groups.items(), key=lambda g: _role_order(set(g[0]) - {q}))
    if len(left_axes) != 2 or len(right_axes) != 2:
        raise NotImplementedError(f"contraction over {q} of axes {left_axes} and {right_axes}")
    left_expr = sp.Mul(*left)
    right_expr = scaled(constants, right)
    result = layout((set(left_axes) | set(right_axes)) - {q})
    left_expr = left_expr if left_axes[1] == q else Transposed(left_expr)
    right_expr = right_expr if right_axes[0] == q else Transposed(right_expr)
    if result[0] not in left_axes:
        raise NotImplementedError(f"contraction over {q} gives axes {result}")
    return Lowered(Dot(left_expr, right_expr), result)


def scaled(constants: list[sp.Expr], factors: list[sp.Expr]) -> sp.Expr:
    """The product, with a numeric sign taken into the factors first: -scale*(P - A) -> scale*(A - P)."""
    numbers = [c for c in constants if c.is_number]
    return sp.Mul(*(c for c in constants if not c.is_number), sp.Mul(*numbers, *factors))


def _role_order(indices: set) -> tuple[int, ...]:
    return tuple(sorted(ORDER.index(ROLES[r]) for r in indices))


def reduce(q: sp.Symbol, axes: tuple, factors: list[sp.Expr], constants: list[sp.Expr]) -> Lowered:
    """Sum over the axis of q of the product of ``factors``; constants stay outside a total."""
    rest = tuple(r for r in axes if r != q)
    if not rest:
        return _total(factors)
    body = scaled(constants, factors)
    if axes == (n, *rest):
        return Lowered(ColumnSum(body), rest)
    if axes == (n, q):
        return Lowered(RowSum(body), (n,))
    raise NotImplementedError(f"sum over {q} of axes {axes}")


def _total(factors: list[sp.Expr]) -> Lowered:
    """Sum of every entry: of a row sum, of an entrywise product of two arrays (vdot), or plain."""
    body = sp.Mul(*factors)
    if isinstance(body, RowSum):
        body = body.args[0]
    if isinstance(body, sp.Mul) and len(body.args) == 2 and not any(f.is_number for f in body.args):
        return Lowered(Inner(*body.args), ())
    return Lowered(Total(body), ())


LOWERINGS: tuple[tuple[type, Callable[..., Lowered]], ...] = (
    (sp.Indexed, _indexed),
    (sp.Sum, _sum),
    (sp.Add, _add),
    (sp.Mul, _mul),
    (sp.Pow, _pow),
    (sp.Function, _function),
)


# --------------------------------------------------------------------------- stabilise


@dataclass(frozen=True)
class Rewrite:
    """A named rewrite of an array expression; its docstring-like ``says`` is the identity it uses."""

    name: str
    says: str
    apply: Callable[[sp.Expr], sp.Expr]

    def __call__(self, expr: sp.Expr) -> sp.Expr:
        return self.apply(expr)


def row_constant(expr: sp.Expr) -> bool:
    """Whether ``expr`` is constant along a row: no array outside a row reduction."""
    hidden = expr.xreplace({r: sp.Dummy() for r in expr.atoms(RowSum, RowMax)})
    return not (hidden.free_symbols & ARRAYS)


def _factor_row_constants(expr: sp.Expr) -> sp.Expr:
    def out(row_sum: RowSum) -> sp.Expr:
        inside, constant = sp.Mul.make_args(row_sum.args[0]), []
        constant = [f for f in inside if row_constant(f)]
        return sp.Mul(*constant) * RowSum(sp.Mul(*(f for f in inside if f not in constant)))

    return expr.replace(lambda e: isinstance(e, RowSum) and e.args[0].is_Mul, out)


#: the rules, in order, that turn the naive softmax into the max-shifted, log-sum-exp form
STABILISE: tuple[Rewrite, ...] = (
    Rewrite(
        "shift_by_row_max",
        "exp(Z) = exp(M) exp(S) with M = RowMax(Z), S = Z - M <= 0, so exp(S) cannot overflow",
        lambda e: e.xreplace({sp.exp(Z): sp.exp(RowMax(Z)) * sp.exp(Sh)}),
    ),
    Rewrite(
        "row_constant_out_of_row_sum",
        "RowSum(c F) = c RowSum(F) for c constant along the row; exp(M) then cancels in a_j",
        _factor_row_constants,
    ),
    Rewrite(
        "log_of_quotient",
        "log(exp(S)/T) = S - log T: the log-softmax never takes the log of an underflowed a_j",
        lambda e: sp.expand_log(e, force=True),
    ),
)

#: the definition of the shifted logits that the rules above introduce
SHIFTED = (Sh, Z - RowMax(Z))


def stabilise(expr: sp.Expr, rules: tuple[Rewrite, ...] = STABILISE) -> sp.Expr:
    for rule in rules:
        expr = rule(expr)
    return expr


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


def forward(model: Model) -> tuple[tuple[sp.Symbol, sp.Expr], tuple[sp.Symbol, sp.Expr]]:
    """Z = the lowered logits, A = the lowered activation (both from the model's definitions)."""
    logits = lower(lift(model.logit_definition)).expr
    activation = lower(lift(model.activation_definition)).expr
    return (Z, logits), (A, activation)


def outputs(model: Model, exact: bool) -> dict[str, sp.Expr]:
    """Loss and gradients as batch means of the model's loss and the engine's closed forms, lowered."""
    loss = lower(batch_mean(model.loss)).expr
    grads = {f"d{p.base}": lower(batch_mean(derive(model, p, assume=not exact).result)).expr for p in model.parameters}
    return {"loss": loss, **grads}


def kernel(named: dict[str, sp.Expr], activation: sp.Expr) -> Kernel:
    """Substitute the activation, stabilise, and eliminate common subexpressions."""
    exprs = [stabilise(e.xreplace({A: activation})) for e in named.values()]
    if any(Z in e.free_symbols for e in exprs):
        raise NotImplementedError("the logits survive outside the shifted form")
    replacements, reduced = sp.cse(exprs, symbols=sp.numbered_symbols("t"), order="none")
    return Kernel(tuple(replacements), tuple(zip(named, reduced)))


def program(model: Model | str = "softmax", exact: bool = True) -> Program:
    """Every piece of the generated module for ``model``."""
    model = get_model(model) if isinstance(model, str) else model
    logits, (_, activation) = forward(model)
    named = outputs(model, exact)
    derivations = [derive(model, p, assume=not exact) for p in model.parameters]
    return Program(
        model=model,
        exact=exact,
        closed_forms=tuple(equation(d.lhs, d.result) for d in derivations),
        forward=(logits, SHIFTED),
        loss=kernel({"loss": named["loss"]}, activation),
        loss_and_grad=kernel(named, activation),
    )


# --------------------------------------------------------------------------- the module

#: rows per block of the batch sum (see benchmarks/bench_gradient.py for the measurements)
BLOCK_ROWS = 1024
DTYPES = ("float64", "float32")


def module_name(dtype: str) -> str:
    """softmax_grad.py for float64, softmax_grad_float32.py for float32."""
    return "softmax_grad.py" if dtype == "float64" else f"softmax_grad_{dtype}.py"


def module_source(dtype: str = "float64") -> str:
    """The generated module's text: the program's printed kernels laid out by the template.

    Always the exact form: a module that assumed Sum_k P_k = 1 would be silently wrong for other labels.
    """
    from . import __name__ as package
    from .rendering import render

    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, not {dtype!r}")
    prog = program(exact=True)
    printer = ArrayPrinter()
    return render(
        "numpy",
        "softmax_grad.py.jinja",
        title=prog.model.title,
        version=_version(package),
        command=f"derive code --dtype {dtype}",
        model=prog.model.name,
        closed_forms=prog.closed_forms,
        labels=LABELS,
        dtype=dtype,
        block_rows=BLOCK_ROWS,
        forward=[f"{s} = {printer.doprint(e)}" for s, e in prog.forward],
        loss={"lines": prog.loss.lines(), "returns": prog.loss.returns()},
        loss_and_grad={"lines": prog.loss_and_grad.lines(), "returns": prog.loss_and_grad.returns()},
        gradient_doc="Per sample: " + "; ".join(prog.closed_forms) + ".",
    )


LABELS = "Exact for any labels: no assumption that Sum_k P_k = 1 (soft or unnormalised labels are fine)."


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
