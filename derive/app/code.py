"""The generated module as the front ends hand it out: its source, the command line that writes it, and importing it.

:func:`module_source` is the rendering layer's module text
(:func:`derive.render.code.module_source`) with the ``derive code`` command line
that regenerates it, which only the front end knows; :func:`load_module` runs a
generated source as a module (derive's own output, never a user's text).
"""

from __future__ import annotations

import types

from derive.codegen.program import DTYPES, module_name, program
from derive.core import symbols as S
from derive.core.models import Model, get_model
from derive.render import code

__all__ = ["command_line", "load_module", "module_name", "module_source"]


def command_line(model: Model, dtype: str, constants: dict, backend: str = "numpy") -> str:
    """The ``derive code`` command that writes the module of ``model`` in ``dtype`` for ``backend``."""
    words = ["derive code"] + ([] if backend == "numpy" else [f"--backend {backend}"])
    if model.base_name != "softmax":
        words.append(f"--model {model.base_name}")
    if model.penalty != 0:
        words.append(f"--l2 {constants[S.lam]:g}")
    if model.label_definition is not None:
        words.append(f"--smoothing {constants[S.eps]:g}")
    return " ".join([*words, f"--dtype {dtype}"])


def module_source(
    dtype: str = "float64", model: Model | str = "softmax", constants: dict | None = None, backend: str = "numpy"
) -> str:
    """The text of the generated module, as ``derive code`` writes it (ValueError for an unknown dtype or backend).

    Always the exact form: a module that assumed Sum_k P_k = 1 would be silently wrong for other labels.
    ``constants`` gives the add-ons' strengths ({lambda: 0.01}); the model's defaults otherwise.
    """
    model = get_model(model) if isinstance(model, str) else model
    constants = {**model.constants, **(constants or {})}
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, not {dtype!r}")
    command = command_line(model, dtype, constants, backend)
    return code.module_source(program(model, exact=True), dtype, constants, command, backend)


def load_module(source: str, name: str = "softmax_grad") -> types.ModuleType:
    """A module object from generated source (derive's own output, never user text)."""
    module = types.ModuleType(name)
    exec(compile(source, f"<generated {name}>", "exec"), module.__dict__)  # noqa: S102 -- our own generated code
    return module


def network_module_source(graph, dtype: str = "float64", command: str | None = None, hessian: bool = False) -> str:
    """The text of the generated module of a model file's ``graph`` (exact: no assumption is used); with
    ``hessian`` also ``hessian`` and ``hvp`` from the engine's second derivatives."""
    from derive.codegen.network import hessian_program, program
    from derive.graph.backprop import backprop
    from derive.graph.hessian import second_derivatives
    from derive.graph.tangent import tangents
    from derive.render.network_code import network_source

    bp = backprop(graph, assume=False)
    options = [f"--model {graph.name}", *([f"--dtype {dtype}"] if dtype != "float64" else [])]
    words = command or " ".join(["derive code", *options, *(["--hessian"] if hessian else [])])
    second = (
        hessian_program(graph, bp, second_derivatives(graph, assume=False), tangents(graph, assume=False))
        if hessian
        else None
    )
    return network_source(program(graph, bp), bp, dtype, words, second)


def network_module_name(graph, dtype: str = "float64") -> str:
    return f"{graph.name.replace('-', '_')}_grad{'' if dtype == 'float64' else '_' + dtype}.py"
