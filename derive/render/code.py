"""The generated module's text: the program's printed kernels laid out by ``numpy/model_grad.py.jinja``.

:func:`module_source` takes a :class:`derive.codegen.program.Program`'s kernels,
already printed by the array printer, and the strings the docstring needs (the
model's definitions printed by the text printer, the closed forms, the command
line that wrote the module, given by the caller); the template lays them out.
The headers of the generated functions are laid out as ``ruff format`` would.
"""

from __future__ import annotations

import sympy as sp
from sympy.printing.printer import Printer

from derive import __version__
from derive.codegen.program import DTYPES, KEYWORDS, Program
from derive.codegen.signature import Signature, signature
from derive.core import symbols as S
from derive.core.models import Model
from derive.printing.numpy import ArrayPrinter
from derive.printing.text import equation
from derive.render.environment import render

#: the line length of the generated code (the project's ruff setting)
LINE_LENGTH = 120

LABELS = "Exact for any labels: no assumption that Sum_k P_k = 1 (soft or unnormalised labels are fine)."

#: how the arrays of a model with classes are laid out, for the module's docstring
LAYOUT = (
    "Inside, arrays over the batch are class-major, (K, N), so that the reductions over the\n"
    "classes run along axis 0; the logits come out of their product in that layout (W.T @ X.T is (K, N))."
)


def module_source(prog: Program, dtype: str, constants: dict, command: str, backend: str = "numpy") -> str:
    """The generated module's text for the program ``prog`` in ``dtype`` and ``backend``.

    ``command`` is the command line that writes it; ``constants`` the add-ons' strengths ({lambda: 0.01}).
    ValueError for a dtype other than float64, float32 or an unknown backend.
    """
    from derive.render.backends import BACKENDS

    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, not {dtype!r}")
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
    return render(backend, "model_grad.py.jinja", **BACKENDS[backend].context(prog, dtype, constants, command))


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


def labels_note(model: Model, sig: Signature) -> str:
    if model.label_definition is not None:
        return (
            f"{LABELS}\nP must be the smoothed labels, (1 - epsilon) onehot + epsilon/K: with them the gradient is"
            " a_j - P_j\n(they sum to one), and the code, exact for any labels, computes just that."
        )
    if model.assumptions:
        return LABELS
    return f"Exact for any labels: the closed forms assume nothing about {sig.label.name}."


def definitions(model: Model) -> tuple[str, ...]:
    """The model's definitions, printed by the engine's text printer: logits, activation, loss, penalty."""
    lines = [equation(model.logit, model.logit_definition), equation(model.activation, model.activation_definition)]
    loss = S.L if model.penalty != 0 else S.H
    lines.append(equation(loss, model.loss))
    if model.penalty != 0:
        lines.append(equation(S.R, model.penalty))
    return tuple(lines)


def kernel_context(prog: Program, dtype: str, constants: dict, command: str, printer: Printer) -> dict:
    """What every backend's template lays out: the docstring's pieces and the kernels printed by ``printer``."""
    model = prog.model
    sig = signature(model)
    return {
        "title": model.title,
        "version": __version__,
        "command": command,
        "model": model.name,
        "closed_forms": prog.closed_forms,
        "labels": labels_note(model, sig),
        "dtype": dtype,
        "sig": sig,
        "math": definitions(model),
        "rewrites": [f"{rule.name}: {rule.justification}." for rule in prog.rewrites],
        "layout": LAYOUT if model.output_index is not None else "",
        "penalty": penalty_context(prog, sig, constants, printer),
        "forward": [f"{s} = {printer.doprint(e)}" for s, e in prog.forward],
        "loss": {"lines": prog.loss.lines(printer), "returns": prog.loss.returns(printer)},
        "loss_and_grad": {"lines": prog.loss_and_grad.lines(printer), "returns": prog.loss_and_grad.returns(printer)},
        "gradient_doc": ("Per sample" if prog.penalty is None else "Per sample, with the penalty's term once per batch")
        + ": "
        + "; ".join(prog.closed_forms)
        + ".",
    }


def penalty_context(prog: Program, sig: Signature, constants: dict, printer: Printer | None = None) -> dict | None:
    """The penalty, added once to the batch's loss and gradients, with its strength as a keyword argument
    (printed by ``printer``, NumPy's :class:`ArrayPrinter` by default)."""
    if prog.penalty is None:
        return None
    printer = printer or ArrayPrinter()
    names = ("H", *sig.gradients)
    totals = [printer.doprint(sp.Symbol(name) + expr) for name, (_, expr) in zip(names, prog.penalty.outputs)]
    keyword = KEYWORDS[S.lam]
    return {
        "keyword": str(keyword),
        "value": repr(float(constants[S.lam])),
        "lines": prog.penalty.lines(printer),
        "totals": totals,
    }
