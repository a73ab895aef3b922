"""The NumPy backend: the program's kernels printed by :class:`~derive.printing.numpy.ArrayPrinter`, blocks of rows.

The module it fills (``templates/numpy/model_grad.py.jinja``) imports NumPy alone.
"""

from __future__ import annotations

from derive import __version__
from derive.codegen.program import BLOCK_ROWS, KEYWORDS, Program
from derive.codegen.signature import signature
from derive.core import symbols as S
from derive.printing.numpy import ArrayPrinter
from derive.render.code import LAYOUT, definitions, headers, labels_note, penalty_context


def context(prog: Program, dtype: str, constants: dict, command: str) -> dict:
    """The context of ``numpy/model_grad.py.jinja``: the program's kernels printed by the array printer."""
    model = prog.model
    printer = ArrayPrinter()
    sig = signature(model)
    return {
        "title": model.title,
        "version": __version__,
        "command": command,
        "model": model.name,
        "closed_forms": prog.closed_forms,
        "labels": labels_note(model, sig),
        "dtype": dtype,
        "block_rows": BLOCK_ROWS,
        "sig": sig,
        "headers": headers(sig, str(KEYWORDS[S.lam]) if prog.penalty is not None else None),
        "math": definitions(model),
        "rewrites": [f"{rule.name}: {rule.justification}." for rule in prog.rewrites],
        "layout": LAYOUT if model.output_index is not None else "",
        "penalty": penalty_context(prog, sig, constants),
        "forward": [f"{s} = {printer.doprint(e)}" for s, e in prog.forward],
        "loss": {"lines": prog.loss.lines(), "returns": prog.loss.returns()},
        "loss_and_grad": {"lines": prog.loss_and_grad.lines(), "returns": prog.loss_and_grad.returns()},
        "gradient_doc": ("Per sample" if prog.penalty is None else "Per sample, with the penalty's term once per batch")
        + ": "
        + "; ".join(prog.closed_forms)
        + ".",
    }
