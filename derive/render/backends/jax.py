"""The JAX backend: the program's kernels printed by :class:`~derive.printing.jax.JaxArrayPrinter`.

The module it fills (``templates/jax/model_grad.py.jinja``) imports JAX alone; its kernels are the
program's in the sample-major layout (:func:`~derive.codegen.layouts.sample_major`), which XLA prefers.  Its ``loss`` is
a ``jax.custom_vjp`` whose forward rule runs the kernel that computes the loss and the engine's
closed-form gradients together and whose backward rule scales the saved gradients; its public
functions are jit-compiled (the checks of shapes and dtypes run once per shape, when JAX traces).
"""

from __future__ import annotations

from derive.codegen.layouts import sample_major
from derive.codegen.program import KEYWORDS, Program
from derive.codegen.signature import Signature
from derive.core import symbols as S
from derive.printing.jax import JaxArrayPrinter
from derive.render.code import def_line, kernel_context

#: how the arrays of a model with classes are laid out, for the module's docstring
SAMPLE_MAJOR = (
    "Inside, arrays over the batch are sample-major, (N, K), the layout XLA's products and fusions prefer\n"
    "(derive.codegen.layouts rebuilds the class-major kernels so); the class reductions run along axis 1."
)

#: the type annotations of the generated functions
ARRAY, BIAS = "jax.Array", "jax.Array | float"


def headers(sig: Signature, keyword: str | None) -> dict[str, str]:
    """The headers of the generated functions; ``keyword`` is the penalty's strength argument, if any."""
    inner = [f"{a.name}: {ARRAY}" for a in sig.arguments]
    public = [f"{a.name}: {BIAS if a.scalar else ARRAY}" for a in sig.arguments]
    public += ['reduction: str = "mean"', *([f"{keyword}: float = {keyword.upper()}"] if keyword else [])]
    strength = [f"{keyword}: jax.Array | float"] if keyword else []
    grads = f"tuple[{', '.join([ARRAY] * len(sig.gradients))}]"
    return {
        "_scale": def_line("_scale", [*inner, "reduction: str"], "float"),
        "_loss": def_line("_loss", [*inner, "scale: float", *strength], ARRAY),
        "_loss_and_grad": def_line("_loss_and_grad", [*inner, "scale: float", *strength], f"tuple[{ARRAY}, {grads}]"),
        "_differentiable": def_line("_differentiable", [*inner, "scale: float", *strength], ARRAY),
        "_forward": def_line("_forward", [*inner, "scale: float", *strength], f"tuple[{ARRAY}, {grads}]"),
        "_backward": def_line(
            "_backward", ["scale: float", f"grads: {grads}", f"g: {ARRAY}"], "tuple[jax.Array | None, ...]"
        ),
        "loss": def_line("loss", public, ARRAY),
        "loss_and_grad": def_line("loss_and_grad", public, f"tuple[{ARRAY}, {grads}]"),
        "grad": def_line("grad", public, grads),
    }


def context(prog: Program, dtype: str, constants: dict, command: str) -> dict:
    """The context of ``jax/model_grad.py.jinja``: the program's kernels printed by the JAX printer."""
    keyword = str(KEYWORDS[S.lam]) if prog.penalty is not None else None
    shared = kernel_context(sample_major(prog), dtype, constants, command, JaxArrayPrinter())
    layout = SAMPLE_MAJOR if prog.model.output_index is not None else ""
    return {**shared, "headers": headers(shared["sig"], keyword), "layout": layout}
