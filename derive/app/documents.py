"""The derivation documents as the front ends make them: their context, and their PDF.

:func:`context` computes what the rendering layer takes from its caller (the derivations,
the verdicts on the model's seed claims, the two-class pair of worked examples) and builds
the templates' context with :func:`derive.render.document.document`; ``derive latex``,
``derive markdown``, ``derive all`` and ``Session.latex()`` / ``.markdown()`` all go through
it, and :func:`render` lays it out as LaTeX or Markdown.  :func:`compile_pdf` runs pdflatex in a temporary folder (this layer alone runs processes).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from derive.core.errors import InputError

#: the learning rate of the documents' gradient-descent step unless one is given
DOCUMENT_LR = 0.1

#: seconds pdflatex may take
TEX_TIMEOUT = 300

#: each kind of document: (the templates' kind, the template)
TEMPLATES = {
    "tex": ("latex", "derivation.tex.jinja"),
    "body.tex": ("latex", "body.tex.jinja"),
    "md": ("markdown", "derivation.md.jinja"),
}


def context(
    model,
    example,
    assume: bool = True,
    sizes: tuple[int, int] | None = None,
    constants: dict | None = None,
    hessian_graph=None,
):
    """The derivation templates' context for ``model`` and its worked ``example``.

    ``sizes`` (K, d) writes the derivation for concrete sizes (generic K and d when None);
    ``constants`` are the add-ons' strengths.  ``hessian_graph``, the model's file (with its --l2), adds the
    section "Second derivatives" at the worked example.  ValueError when the sizes do not fit the example.
    """
    from derive.claims.judge import judge_text
    from derive.claims.verdict import seed_checks
    from derive.core.derivation import gradients
    from derive.render.document import document
    from derive.verify.example import two_class_pair

    if sizes is not None and tuple(sizes) != (example.classes, example.features):
        raise ValueError(
            f"--classes {sizes[0]} --features {sizes[1]} do not match the worked example's sample "
            f"({example.classes} classes, {example.features} features): give --x and --W of that shape"
        )
    derivations, exact = gradients(model, assume=assume), gradients(model, assume=False)
    judged = seed_checks(model, assume)
    posted = tuple((name, judge_text(text, model, assume=assume)) for name, text in model.derivations)
    second = None
    if hessian_graph is not None:
        arrays, found = example_arrays(hessian_graph, example)
        lr = DOCUMENT_LR if example.lr is None else example.lr
        # labels that break the assumption were computed in the exact form (example.assume): so is the section
        second = second_order_section(hessian_graph, arrays, found, example.assume, lr)
    return document(derivations, example, sizes, constants, judged, two_class_pair(model), exact, posted, second)


def example_arrays(graph, example) -> tuple[dict, dict[str, int]]:
    """A built-in model's worked ``example`` as the arrays of its model file ``graph``, and their sizes.

    The library's files list the built-ins' (W, b) as their parameters and (x, P) as their inputs, in that
    order; the inputs are one sample (a batch of 1).  ValueError when the shapes do not fit the file.
    """
    import numpy as np

    from derive.verify.network import random_arrays

    names = [node.name for node in (*graph.parameters, *graph.inputs)]
    values = (example.W, example.b, np.asarray(example.x)[None], np.asarray(example.P)[None])
    arrays = {name: np.asarray(value, dtype=np.float64) for name, value in zip(names, values, strict=True)}
    sizes = {
        graph.size_of(index).name: length
        for node in graph.parameters
        for index, length in zip(node.indices, arrays[node.name].shape, strict=True)
    }
    expected = {name: value.shape for name, value in random_arrays(graph, sizes).items()}
    if {name: value.shape for name, value in arrays.items()} != expected:
        raise ValueError(f"the worked example does not fit the model file {graph.name}.toml ({expected})")
    return arrays, sizes


def render(kind: str, context: dict) -> str:
    """The document of ``kind`` (a key of :data:`TEMPLATES`: "tex", "body.tex", "md") for ``context``."""
    from derive.render.environment import render

    return render(*TEMPLATES[kind], **context)


def tex_compiler() -> str:
    """The path of pdflatex; InputError when no TeX is installed."""
    found = shutil.which("pdflatex")
    if found is None:
        raise InputError("--pdf needs TeX, and pdflatex is not on PATH (Debian: apt-get install texlive-latex-base)")
    return found


def compile_pdf(source: str) -> bytes:
    """The PDF of the standalone LaTeX ``source``, compiled by pdflatex in a temporary directory.

    One pass suffices: the document has no cross-references.  SOURCE_DATE_EPOCH
    pins the dates pdfTeX writes, so the same source gives the same PDF.
    """
    compiler = tex_compiler()
    env = {**os.environ, "SOURCE_DATE_EPOCH": "0", "FORCE_SOURCE_DATE": "1"}
    with tempfile.TemporaryDirectory(prefix="derive-tex-") as tmp:
        Path(tmp, "derivation.tex").write_text(source, encoding="utf-8")
        command = [compiler, "-interaction=nonstopmode", "-halt-on-error", "-no-shell-escape", "derivation.tex"]
        try:
            run = subprocess.run(command, cwd=tmp, env=env, capture_output=True, timeout=TEX_TIMEOUT, check=False)
        except subprocess.TimeoutExpired:
            raise InputError(f"pdflatex failed: no PDF after {TEX_TIMEOUT} s") from None
        if run.returncode != 0:
            raise InputError(f"pdflatex failed: {_first_error(run.stdout)}")
        return Path(tmp, "derivation.pdf").read_bytes()


def _first_error(output: bytes) -> str:
    """The first line of TeX's log that reports an error ("! ..."), else its last line."""
    log = output.decode("utf-8", "replace").splitlines()
    return next((line for line in log if line.startswith("!")), log[-1] if log else "no output")[:300]


def network_context(
    graph, assume: bool = True, sizes: dict | None = None, seed: int = 0, hessian: bool = False
) -> dict:
    """The context of a model file's document: backpropagation and a worked example at the file's numbers; with
    ``hessian`` the section of second derivatives at the same example."""
    from derive.graph.backprop import backprop
    from derive.render.document.network import context as network_document
    from derive.verify import network

    bp = backprop(graph, assume)
    sizes = network.example_sizes(graph, sizes)
    arrays = network.example_arrays(graph, sizes, seed)
    evaluation = network.evaluate(graph, bp, arrays)
    found = network_document(graph, bp, evaluation, sizes, network.check(graph, bp, arrays))
    found["hessian"] = (
        second_order_section(graph, arrays, sizes, assume, DOCUMENT_LR, evaluation.gradients) if hessian else None
    )
    return found


def second_order_section(
    graph, arrays: dict, sizes: dict, assume: bool = True, lr: float = DOCUMENT_LR, gradients: dict | None = None
) -> dict:
    """The section "Second derivatives" of ``graph`` at ``arrays`` (one sample and the parameters, of ``sizes``):
    its Newton step beside a gradient-descent step with ``lr`` from ``gradients`` (computed when None)."""
    from derive.graph.backprop import backprop
    from derive.graph.hessian import second_derivatives
    from derive.render.document.network import second_order
    from derive.verify.network import evaluate

    if gradients is None:
        gradients = evaluate(graph, backprop(graph, assume), arrays).gradients
    return second_order(graph, second_derivatives(graph, assume), arrays, sizes, lr, gradients)


def render_network(kind: str, context: dict) -> str:
    """A model file's document: "tex" (standalone), "body.tex" (--fragment) or "md"."""
    from derive.render.environment import render as render_template

    template = {"tex": ("latex", "network.tex.jinja"), "body.tex": ("latex", "network-body.tex.jinja")}
    folder, name = template.get(kind, ("markdown", "network.md.jinja"))
    return render_template(folder, name, **context)
