"""The Numba backend: the program's kernel fused into one compiled pass over X, printed by the Numba printer.

The module it fills (``templates/numba/model_grad.py.jinja``) imports NumPy and numba alone.  The
kernel's *structure* is the template's: blocks of rows in parallel (``prange``), each with its own
partial sums, and in a block, a few rows at a time, the product with the small dimension
(``X_rows W``) in register tiles, the epilogue of each row, and the transposed product
(``X_rowsᵀ G``) while the rows are in cache.  Its *math*, the epilogue, is the program's kernel
(the engine's closed forms, lowered and stabilised) in the fused form of :mod:`derive.codegen.fused`,
printed statement by statement by :class:`~derive.printing.numba.NumbaPrinter`: logistic and linear
come out of the same template and printer as softmax.  The penalty (L2) and the Python checks are
NumPy code, printed by NumPy's array printer as in the NumPy module.
"""

from __future__ import annotations

import sympy as sp

from derive.codegen.fused import fuse
from derive.codegen.program import KEYWORDS, Program
from derive.codegen.signature import Signature
from derive.core import symbols as S
from derive.printing.numba import NumbaPrinter
from derive.printing.numpy import ArrayPrinter
from derive.render.code import def_line, kernel_context

#: rows per block: the unit of work of prange, each block with its own partial sums and gradient
#: (their number, N / BLOCK_ROWS, is what the parts cost to add up at the end)
BLOCK_ROWS = 1024
#: the register tiles of the two products, (rows of X, columns of W): a model with classes keeps
#: 4 x 5 accumulators (K = 10 is two tiles; other K are padded to a multiple of 5), a model with
#: one output 8 x 1
TILES = {True: (4, 5), False: (8, 1)}

#: the type annotations of the generated functions
ARRAY = "np.ndarray"


def headers(sig: Signature, keyword: str | None) -> dict[str, str]:
    """The headers of the generated functions; ``keyword`` is the penalty's strength argument, if any."""
    typed = [f"{a.name}: {'float' if a.scalar else ARRAY}" for a in sig.arguments]
    public = [*typed, 'reduction: str = "mean"', *([f"{keyword}: float = {keyword.upper()}"] if keyword else [])]
    grads = ", ".join("float" if a.scalar else ARRAY for a in sig.parameters)
    bias, label = f"{sig.bias.name}: {'float' if sig.bias.scalar else ARRAY}", f"{sig.label.name}: {ARRAY}"
    kernel = [f"WT: {ARRAY}", bias, f"X: {ARRAY}", label]
    sums = f"tuple[{ARRAY}, {ARRAY}, {ARRAY}]"
    return {
        "_scale": def_line("_scale", [*typed, "reduction: str"], "float"),
        "_sums": def_line("_sums", [*typed, "grad: bool"], sums),
        "_kernel": def_line("_kernel", [*kernel, "grad: bool"], sums),
        "_block": def_line(
            "_block",
            [*kernel, "start: int", "stop: int", "grad: bool", f"sums: {ARRAY}", f"vectors: {ARRAY}", f"XG: {ARRAY}"],
            "None",
        ),
        "loss": def_line("loss", public, "float"),
        "loss_and_grad": def_line("loss_and_grad", public, f"tuple[float, {grads}]"),
        "grad": def_line("grad", public, f"tuple[{grads}]"),
    }


def unpacked(exprs: list[sp.Expr]) -> str:
    """How to unpack the kernel's sums for ``exprs``: the names of those they use, ``_`` for the others."""
    used = {str(e.base.label) for expr in exprs for e in expr.atoms(sp.Indexed)}
    used |= {str(e) for expr in exprs for e in expr.atoms(sp.Symbol)}
    return ", ".join(name if name in used else "_" for name in ("sums", "vectors", "XG"))


def context(prog: Program, dtype: str, constants: dict, command: str) -> dict:
    """The context of ``numba/model_grad.py.jinja``: the fused kernel's epilogue and results, printed."""
    fused = fuse(prog)
    printer = NumbaPrinter()
    keyword = str(KEYWORDS[S.lam]) if prog.penalty is not None else None
    shared = kernel_context(prog, dtype, constants, command, ArrayPrinter())
    rows, columns = TILES[fused.classes]
    return {
        **shared,
        "headers": headers(shared["sig"], keyword),
        "classes": fused.classes,
        "block_rows": BLOCK_ROWS,
        "tile_rows": rows,
        "tile_classes": columns,
        "epilogue": [printer.doprint(statement) for statement in fused.epilogue],
        "scratch": [str(symbol) for symbol in fused.scratch],
        "sums": fused.sums,
        "vectors": fused.vectors,
        "results": [printer.doprint(expr) for _, expr in fused.results],
        "unpack": {
            "loss": unpacked([fused.results[0][1]]),
            "loss_and_grad": unpacked([expr for _, expr in fused.results]),
        },
    }
