"""The backends of generated code: one module each, giving the context of ``templates/<backend>/model_grad.py.jinja``.

A backend is a :class:`Backend` entry of :data:`BACKENDS`: its name (also the folder of its
template), a one-line summary, and the function that turns a :class:`~derive.codegen.program.Program`
(the engine's closed forms, lowered, stabilised and economised) into the template's context, printed
by the backend's printer in :mod:`derive.printing`.  A new backend is one module here, one printer and
one template.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from derive.render.backends import jax, numba, numpy, torch


@dataclass(frozen=True)
class Backend:
    """A target of generated code: ``context(program, dtype, constants, command) -> dict`` fills its template."""

    name: str
    summary: str
    context: Callable[..., dict]


#: every backend, by the name ``derive code --backend`` takes
BACKENDS: dict[str, Backend] = {
    "numpy": Backend("numpy", "NumPy alone: blocks of rows, BLAS products (the default)", numpy.context),
    "torch": Backend("torch", "PyTorch: an autograd.Function whose backward is the derived gradient", torch.context),
    "jax": Backend("jax", "JAX: jax.custom_vjp with the derived backward, jit-compiled", jax.context),
    "numba": Backend("numba", "Numba: one fused, parallel pass over X, compiled and cached", numba.context),
}
