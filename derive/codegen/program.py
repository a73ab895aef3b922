"""From the engine's closed form to batched NumPy code: lift, lower, stabilise, eliminate, print.

The driver is a short chain of stages, each returning a SymPy value that is kept::

    derive(...).result            -(P_j - a_j)*x_i                        the engine's closed form
      lift  (batch mean)          Sum(-scale*(P[n,j] - A[n,j])*X[n,i], (n, 1, N))
      lower (index -> array)      scale*Dot(X.T, (A - P.T).T)            scale * (X.T @ G.T), G class-major
      stabilise (named rules)     A -> exp(S)/SumOver(exp(S), 0), S = Z - MaxOver(Z, 0)
      economise (cost rules)      t1 * (s / T): per-sample factors first
      cse                         t0 = exp(S), t1 = ..., the outputs in terms of t*
      print (ArrayPrinter)        lines of NumPy code for the template

The stages live in their own modules: :mod:`derive.arrays` (the array operations
and the class-major layout), :mod:`derive.lowering` (lift and lower),
:mod:`derive.rewrites` (the stabilising and economising rules); this module runs
them, eliminates common subexpressions and fills the template.

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
from dataclasses import dataclass

import sympy as sp

from derive.codegen.arrays import BATCHED, BATCHED_SCALARS, A, Sh, Z
from derive.codegen.lowering import batch_mean, lift, lower, stored
from derive.codegen.rewrites import ECONOMISE, SHIFTED, Rewrite, bounded_exponent, contiguous, fired, stabilise
from derive.core import symbols as S
from derive.core.derivation import derive
from derive.core.models import Model, get_model
from derive.printing.numpy import ArrayPrinter
from derive.printing.text import equation

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

#: rows per block of the batch sum (the generated module's BLOCK_ROWS).  Every block costs two
#: threaded BLAS calls, and on a busy machine each call waits for OpenBLAS's worker thread:
#: with two spinning processes on the two cores, 2048-row blocks took 2.0 s against 0.29 s for
#: 32768-row blocks at 100000 x 784 x 10 float32 (hand-written NumPy: 0.23 s).  On an idle
#: machine small blocks gain nothing in float64 (its DGEMM is compute-bound here) and about 10 %
#: in float32 (2048 rows of X stay in L3 between the two products), so the blocks are large and
#: few; they still bound the (K, rows) temporaries.  See the README.
BLOCK_ROWS = 32768
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
    from derive import __name__ as package
    from derive.render.environment import render

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
    "classes run along axis 0; the logits come out of their product in that layout (W.T @ X.T is (K, N))."
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
