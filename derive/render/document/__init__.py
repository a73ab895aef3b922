"""The derivation document: every formula of the LaTeX and Markdown derivations, printed.

:func:`document` turns the engine's derivations and a worked example into the context of the
templates ``templates/latex/*.tex.jinja`` and ``templates/markdown/*.md.jinja``.  Every formula
in it is a string printed by :mod:`derive.printing.latex` from a SymPy expression; prose
(justifications, meanings, class names) stays plain text for the templates to escape.  Nothing
here formats math by hand, renders templates, writes files, runs checks or computes examples.

Every model goes through the same function and templates: what appears is decided by the
model's data.  A model with classes (``Model.output_index``) gets the softmax Jacobian, the
question's class table and its matrix forms; a single output gets vector forms, and a sigmoid
(named in its own derivative) the section on sigma' = sigma (1 - sigma) and its equivalence with
the 2-class softmax; ``Model.mistakes``, a penalty and defined labels (label smoothing) each
bring their own section.

One module per part of the document, in the order the document reads:

- :mod:`.steps`: the derivation's steps as numbered lines in blocks (``Tex``, ``Line``, ``Block``,
  ``Section``, ``section``, ``written``);
- :mod:`.notation`: the notation table, definitions, loss, assumptions, and the prose's words;
- :mod:`.forms`: the softmax Jacobian, the matrix forms, the exact results;
- :mod:`.worked`: the worked example and its gradient-descent step;
- :mod:`.mistakes`: the common mistakes and the judged seed claims;
- :mod:`.variants`: the sections one kind of model brings (sigmoid, penalty, smoothing, 2-class softmax);
- :mod:`.context`: the driver :func:`document`, which calls the others section by section.
"""

from derive.render.document.context import document
from derive.render.document.forms import (
    array,
    columns,
    exact_results,
    gradient_symbol,
    jacobian,
    matrix_form,
    matrix_forms,
    vector,
)
from derive.render.document.mistakes import checked, checks, counterexample, missing_term, mistakes
from derive.render.document.notation import (
    DEFINED_LABEL,
    assumptions,
    definitions,
    losses,
    meaning,
    notation,
    quantities,
    symbols,
    words,
)
from derive.render.document.steps import (
    Block,
    Line,
    Section,
    Tex,
    assumption_statement,
    explained,
    lines,
    runs,
    section,
    written,
)
from derive.render.document.variants import activation_derivative, penalty, smoothing, two_class_softmax
from derive.render.document.worked import ETA, descent, fd_gap, numbers, sized, value, worked

__all__ = [
    "DEFINED_LABEL",
    "ETA",
    "Block",
    "Line",
    "Section",
    "Tex",
    "activation_derivative",
    "array",
    "assumption_statement",
    "assumptions",
    "checked",
    "checks",
    "columns",
    "counterexample",
    "definitions",
    "descent",
    "document",
    "exact_results",
    "explained",
    "fd_gap",
    "gradient_symbol",
    "jacobian",
    "lines",
    "losses",
    "matrix_form",
    "matrix_forms",
    "meaning",
    "missing_term",
    "mistakes",
    "notation",
    "numbers",
    "penalty",
    "quantities",
    "runs",
    "section",
    "sized",
    "smoothing",
    "symbols",
    "two_class_softmax",
    "value",
    "vector",
    "words",
    "worked",
    "written",
]
