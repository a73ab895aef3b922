"""From the engine's closed form to batched NumPy code: lift, lower, stabilise, eliminate, print.

The driver is a short chain of stages, each returning a SymPy value that is kept::

    derive(...).result            -(P_j - a_j)*x_i                        the engine's closed form
      lift  (batch mean)          Sum(-scale*(P[n,j] - A[n,j])*X[n,i], (n, 1, N))
      lower (index -> array)      scale*Dot(X.T, (A - P.T).T)            scale * (X.T @ G.T), G class-major
      stabilise (named rules)     A -> exp(S)/SumOver(exp(S), 0), S = Z - MaxOver(Z, 0)
      economise (cost rules)      t1 * (s / T): per-sample factors first
      cse                         t0 = exp(S), t1 = ..., the outputs in terms of t*
      print (ArrayPrinter)        lines of NumPy code for the template

The stages live in their own modules: :mod:`derive.codegen.arrays` (the array
operations and the class-major layout), :mod:`derive.codegen.lowering` (lift and
lower), :mod:`derive.codegen.rewrites` (the stabilising and economising rules),
:mod:`derive.codegen.signature` (the generated functions' arguments); this module
runs them and eliminates common subexpressions.  The template is filled by the
rendering layer (:mod:`derive.render.code`).

Every model goes through the same stages.  A single-output model (logistic,
linear) has scalar per-sample quantities (y, sigma, yhat, z) lifted to vectors
y[n], A[n], Z[n]; sums of a matrix against a vector become ``X @ w`` and
``X.T @ g``.  The sigmoid rewrites (``name_sigmoid`` ... ``sigmoid_by_softplus``)
turn its loss and gradient into logaddexp forms finite at any logit, and do
nothing to a softmax, just as the softmax rewrites do nothing to a sigmoid.  A
penalty (L2) is not a per-sample loss: its term R and the engine's derivative of
it (``Derivation.penalty_result``) are lowered on their own and added once per
batch, the data term (``Derivation.data_result``) is lifted to the batch mean.
The generated functions' arguments come from ``Model.inputs``.

Labels that do not sum to one: the generated module uses the engine's *exact*
form (``derive(..., assume=False)``), a_j Sum_k P_k - P_j, right for any labels at
the price of one reduction; ``program(exact=False)`` lowers the assumed form.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp
from sympy.printing.printer import Printer

from derive.codegen.arrays import A, Sh, Z
from derive.codegen.lowering import batch_mean, lift, lower, stored
from derive.codegen.rewrites import KERNEL, SHIFTED, bounded_exponent, fired
from derive.codegen.signature import gradient_name
from derive.core import symbols as S
from derive.core.derivation import derive
from derive.core.models import Model, get_model
from derive.core.strategies import Rule
from derive.printing.numpy import ArrayPrinter
from derive.printing.text import equation

# --------------------------------------------------------------------------- the kernel


@dataclass(frozen=True)
class Kernel:
    """Straight-line array code: ``assignments`` in order, then the named ``outputs``."""

    assignments: tuple[tuple[sp.Symbol, sp.Expr], ...]
    outputs: tuple[tuple[str, sp.Expr], ...]

    def lines(self, printer: Printer | None = None) -> tuple[str, ...]:
        """The assignments printed by ``printer`` (NumPy's :class:`ArrayPrinter` by default)."""
        printer = printer or ArrayPrinter()
        return tuple(f"{name} = {printer.doprint(expr)}" for name, expr in self.assignments)

    def returns(self, printer: Printer | None = None) -> tuple[str, ...]:
        """The outputs printed by ``printer`` (NumPy's :class:`ArrayPrinter` by default)."""
        printer = printer or ArrayPrinter()
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
    #: the stabilising rewrites that changed the code (each one's justification goes into the module's docstring)
    rewrites: tuple[Rule, ...] = ()


def forward(model: Model) -> tuple[tuple[sp.Symbol, sp.Expr], tuple[sp.Symbol, sp.Expr]]:
    """Z = the lowered logits, A = the lowered activation (both from the model's definitions)."""
    logits = lower(lift(model.logit_definition)).expr
    activation = lower(lift(model.activation_definition)).expr
    return (Z, logits), (A, activation)


#: symbolic strengths of the add-ons -> the keyword argument of the generated functions that carries them
KEYWORDS = {S.lam: sp.Symbol("l2", positive=True)}


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
    exprs = [KERNEL(e.xreplace({A: activation})) for e in named.values()]
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

#: rows per block of the batch sum (the generated module's BLOCK_ROWS).  Every block costs two
#: threaded BLAS calls, and on a busy machine each call waits for OpenBLAS's worker thread:
#: with two spinning processes on the two cores, 2048-row blocks took 2.0 s against 0.29 s for
#: 32768-row blocks at 100000 x 784 x 10 float32 (hand-written NumPy: 0.23 s).  On an idle
#: machine small blocks gain nothing in float64 (its DGEMM is compute-bound here) and about 10 %
#: in float32 (2048 rows of X stay in L3 between the two products), so the blocks are large and
#: few; they still bound the (K, rows) temporaries.  See the README.
BLOCK_ROWS = 32768
DTYPES = ("float64", "float32")


def module_name(dtype: str = "float64", model: Model | str = "softmax", backend: str = "numpy") -> str:
    """softmax_grad.py for float64, softmax_grad_float32.py for float32; logistic_l2_grad.py for logistic+l2;
    softmax_grad_torch.py, softmax_grad_numba_float32.py for the other backends."""
    model = get_model(model) if isinstance(model, str) else model
    stem = f"{model.name.replace('+', '_')}_grad" + ("" if backend == "numpy" else f"_{backend}")
    return f"{stem}.py" if dtype == "float64" else f"{stem}_{dtype}.py"
