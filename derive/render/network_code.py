"""The generated module of a model file: the program's printed statements laid out by ``numpy/network_grad.py.jinja``.

:func:`network_source` takes a :class:`derive.codegen.network.NetworkProgram` (statements already
printed) and the strings its docstring needs (closed forms, error signals and definitions printed by
the text printer, the command line that writes it); the template only lays them out.
"""

from __future__ import annotations

from dataclasses import replace

from derive import __version__
from derive.codegen.network import NetworkProgram
from derive.graph.backprop import Backprop
from derive.printing.tensor import HELPERS
from derive.printing.text import equation
from derive.render.code import def_line
from derive.render.environment import render

DTYPES = ("float64", "float32")


def network_source(prog: NetworkProgram, bp: Backprop, dtype: str, command: str, second=None) -> str:
    """The module's text (with ``hessian`` and ``hvp`` when ``second``, a HessianProgram, is given); ValueError for a
    dtype other than float64 or float32."""
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, not {dtype!r}")
    graph = bp.graph
    names = [a.name for a in prog.arguments]
    typed = [f"{name}: np.ndarray" for name in names]
    returns = "tuple[" + ", ".join(["float", *("np.ndarray" if p.sizes else "float" for p in prog.parameters)]) + "]"
    grads = "tuple[" + ", ".join("np.ndarray" if p.sizes else "float" for p in prog.parameters) + "]"
    return render(
        "numpy",
        "network_grad.py.jinja",
        title=docstring_text(prog.title),
        version=__version__,
        command=docstring_text(command),
        model=prog.name,
        closed_forms=[equation(bp.lhs(n), r) for n, r in bp.results],
        signals=[equation(s.ref, s.value) for s in bp.signals],
        assumption=_assumption(bp),
        arguments=tuple(replace(a, meaning=docstring_text(a.meaning)) for a in prog.arguments),
        width=max(len(a.name) + len(a.shape) + 1 for a in prog.arguments),
        math=[equation(n.ref, n.expr) for n in (*graph.definitions, graph.loss)],
        dtype=dtype,
        rewrites=prog.rewrites,
        helpers=HELPERS,
        headers={
            "loss": def_line("loss", typed, "float"),
            "loss_and_grad": def_line("loss_and_grad", typed, returns),
            "grad": def_line("grad", typed, grads),
            "hessian": def_line("hessian", typed, "np.ndarray"),
            "hvp": def_line("hvp", [*typed, *(f"v_{p.name}: np.ndarray" for p in prog.parameters)], grads),
        },
        hessian=second is not None,
        blocks=second.blocks if second is not None else (),
        products=second.products if second is not None else (),
        hvp_statements=second.statements if second is not None else (),
        directions=", ".join(f"v_{p.name}" for p in prog.parameters),
        names=", ".join(names),
        loss_name=graph.loss.key,
        parameter_names=", ".join(p.name for p in prog.parameters),
        forward=prog.forward,
        for_loss=prog.for_loss,
        losses=prog.losses,
        signals_code=prog.signals,
        gradients=prog.gradients,
        parameters=prog.parameters,
    )


def docstring_text(text: str) -> str:
    """A file's prose as it may stand in the generated module's docstring: backslashes and quotes escaped, one line."""
    return " ".join(text.replace("\\", "\\\\").replace('"', '\\"').split())


def _assumption(bp: Backprop) -> str:
    assumed = [a for a in bp.graph.assumptions if a.name in bp.assumptions]
    if assumed:
        stated = "; ".join(a.text for a in assumed)
        return f"Assumes {stated} (derive code --exact for the form that does not)."
    if bp.graph.assumptions:
        return "Exact: no assumption used."
    return "No assumption needed."
