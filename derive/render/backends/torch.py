"""The PyTorch backend: the program's kernels printed by :class:`~derive.printing.torch.TorchArrayPrinter`.

The module it fills (``templates/torch/model_grad.py.jinja``) imports torch alone.  Its ``loss``
is a ``torch.autograd.Function`` whose forward pass runs the kernel that computes the loss and
the engine's closed-form gradients together and whose backward pass scales the saved gradients:
autograd records no graph of the loss's operations.
"""

from __future__ import annotations

from derive.codegen.program import KEYWORDS, Program
from derive.codegen.signature import Signature
from derive.core import symbols as S
from derive.render.code import def_line, kernel_context

#: the type annotations of the generated functions
TENSOR, BIAS = "torch.Tensor", "torch.Tensor | float"


def headers(sig: Signature, keyword: str | None) -> dict[str, str]:
    """The headers of the generated functions; ``keyword`` is the penalty's strength argument, if any."""
    inner = [f"{a.name}: {TENSOR}" for a in sig.arguments]
    public = [f"{a.name}: {BIAS if a.scalar else TENSOR}" for a in sig.arguments]
    public += ['reduction: str = "mean"', *([f"{keyword}: float = {keyword.upper()}"] if keyword else [])]
    strength = [f"{keyword}: float"] if keyword else []
    results = f"tuple[{', '.join([TENSOR] * len(sig.results))}]"
    return {
        "_scale": def_line("_scale", [*inner, "reduction: str"], "float"),
        "_loss": def_line("_loss", [*inner, "scale: float", *strength], TENSOR),
        "_loss_and_grad": def_line("_loss_and_grad", [*inner, "scale: float", *strength], results),
        "forward": def_line(
            "forward", ["ctx: torch.autograd.function.FunctionCtx", *inner, "scale: float", *strength], TENSOR
        ),
        "loss": def_line("loss", public, TENSOR),
        "loss_and_grad": def_line("loss_and_grad", public, results),
        "grad": def_line("grad", public, f"tuple[{', '.join([TENSOR] * len(sig.gradients))}]"),
    }


def context(prog: Program, dtype: str, constants: dict, command: str) -> dict:
    """The context of ``torch/model_grad.py.jinja``: the program's kernels printed by the PyTorch printer."""
    # imported here: SymPy's printer module imports torch (seconds) and only this backend needs it
    from derive.printing.torch import TorchArrayPrinter

    keyword = str(KEYWORDS[S.lam]) if prog.penalty is not None else None
    shared = kernel_context(prog, dtype, constants, command, TorchArrayPrinter())
    return {**shared, "headers": headers(shared["sig"], keyword)}
