"""``derive latex`` and ``derive markdown``: the derivation as a document, LaTeX (and its PDF) or Markdown.

Both write into the current folder unless ``-o DIR``.  The documents' context comes from
:func:`derive.app.documents.context`; :func:`seed_context` is the one of a model at its
own sample, which ``derive all`` renders into output/ (derivation.*, models/*).
"""

from __future__ import annotations

import argparse
import functools
from pathlib import Path

from derive.app import documents
from derive.app.cli.options import (
    ModelOptions,
    add_example_options,
    add_model_options,
    example_from_args,
    folder,
    model_from_args,
    positive_int,
    sample,
    worked,
)
from derive.app.cli.registry import command
from derive.app.files import write_atomic
from derive.app.graphs import builtin_file_from_args, graph_from_args, sizes_option
from derive.core.errors import InputError


def add_document_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--output", type=folder, default=Path("."), help="directory (default: the current one)")
    parser.add_argument(
        "--classes", "-K", type=positive_int(1000), metavar="K", help="write the derivation for K classes"
    )
    parser.add_argument("--features", "-d", type=positive_int(100_000), metavar="d", help="... and d features")
    add_example_options(parser)
    add_model_options(parser, files=True)
    parser.add_argument(
        "--sizes", type=sizes_option, metavar="d=4,M=5,K=3", help="a model file's example sizes (default: its own)"
    )
    parser.add_argument("--seed", type=int, default=0, help="a model file's random example numbers (default 0)")
    parser.add_argument(
        "--hessian",
        action="store_true",
        help="add the section Second derivatives (softmax, logistic, linear: from their model file, at the example)",
    )
    parser.set_defaults(lr=documents.DOCUMENT_LR)
    parser.epilog = f"The worked example's gradient-descent step uses --lr, default {documents.DOCUMENT_LR}."


def sizes_from_args(args: argparse.Namespace, model) -> tuple[int, int] | None:
    """(K, d) of --classes and --features, or None for generic sizes; (1, d) for a single-output model."""
    if model.output_index is None:
        if args.classes is not None:
            raise InputError(f"model {model.name!r} has one output: leave out --classes (--features alone sets d)")
        return None if args.features is None else (1, args.features)
    if (args.classes is None) != (args.features is None):
        raise InputError("give both --classes and --features, or neither (generic K and d)")
    return None if args.classes is None else (args.classes, args.features)


def document_from_args(args: argparse.Namespace) -> dict:
    """The context of the derivation templates for the command line's options; with --hessian the section of
    second derivatives from the model's file (derive models --show NAME), at the worked example."""
    model, constants = model_from_args(args)
    sizes = sizes_from_args(args, model)
    second = builtin_file_from_args(args, "takes its section from") if args.hessian else None
    try:
        return documents.context(model, example_from_args(args), not args.exact, sizes, constants, second)
    except ValueError as err:
        raise InputError(str(err)) from None


def _latex_args(parser: argparse.ArgumentParser) -> None:
    add_document_options(parser)
    parser.add_argument(
        "--fragment", action="store_true", help="write the body alone, for \\input into one's own document"
    )
    parser.add_argument("--pdf", action="store_true", help="also compile the document to PDF with pdflatex")


@command(
    "latex", "the derivation as a LaTeX document in ./derivation.tex (-o DIR), compiled to PDF with --pdf", _latex_args
)
def cmd_latex(args: argparse.Namespace) -> int:
    if args.pdf and args.fragment:
        raise InputError("--pdf compiles the standalone document: leave out --fragment")
    if args.pdf:
        documents.tex_compiler()
    graph = graph_from_args(args)
    stem = "derivation" if graph is None else graph.name
    name, kind = (f"{stem}-body.tex", "body.tex") if args.fragment else (f"{stem}.tex", "tex")
    if graph is None:
        source = documents.render(kind, document_from_args(args))
    else:
        source = documents.render_network(kind, network_document_from_args(graph, args))
    print(write_atomic(args.output / name, source))
    if args.pdf:
        print(write_atomic(args.output / f"{stem}.pdf", documents.compile_pdf(source)))
    return 0


def network_document_from_args(graph, args: argparse.Namespace) -> dict:
    """The context of a model file's document; the built-in models' sample options are refused."""
    if args.classes is not None or args.features is not None:
        raise InputError("--classes and --features size the built-in models; a model file's example takes --sizes")
    if any(getattr(args, name) is not None for name in ("x", "W", "b", "label", "P")):
        raise InputError("a model file's numbers come from its [example] table, --sizes and --seed")
    try:
        return documents.network_context(graph, not args.exact, args.sizes, args.seed, args.hessian)
    except ValueError as err:
        raise InputError(str(err)) from None


@command(
    "markdown",
    "the derivation as Markdown with $$ math (GitHub, Jupyter) in ./derivation.md (-o DIR)",
    add_document_options,
)
def cmd_markdown(args: argparse.Namespace) -> int:
    graph = graph_from_args(args)
    if graph is not None:
        text = documents.render_network("md", network_document_from_args(graph, args))
        print(write_atomic(args.output / f"{graph.name}.md", text))
        return 0
    if args.sizes is not None:
        raise InputError("--sizes is for model files; the built-in models take -K and -d")
    print(write_atomic(args.output / "derivation.md", documents.render("md", document_from_args(args))))
    return 0


# --- the documents of derive all: a model at its own sample ------------------------------------


@functools.cache
def seed_context(options: ModelOptions, lr: float = documents.DOCUMENT_LR) -> dict:
    """The documents' context of a model at its own sample (computed once for its .tex, .pdf and .md)."""
    model, constants = options.configure()
    return documents.context(model, worked(model, constants, sample(model), lr=lr), constants=constants)


def seed_document(kind: str, options: ModelOptions, lr: float = documents.DOCUMENT_LR) -> str:
    """What ``derive latex`` (kind "tex") or ``derive markdown`` ("md") writes with the model's options alone."""
    return documents.render(kind, seed_context(options, lr))


def seed_pdf(options: ModelOptions, lr: float = documents.DOCUMENT_LR) -> bytes:
    """What ``derive latex --pdf`` compiles with the model's options alone (InputError without TeX)."""
    return documents.compile_pdf(seed_document("tex", options, lr))


def network_document(kind: str, name: str = "mlp") -> str:
    """What ``derive latex --model NAME`` (kind "tex") or ``derive markdown --model NAME`` ("md") writes for a
    shipped model file (output/models/mlp.tex and .md)."""
    from derive.graph import library

    return documents.render_network(kind, documents.network_context(library.builtin(name)))


def hessian_document(kind: str, options: ModelOptions) -> str:
    """What ``derive latex --hessian`` or ``derive markdown --hessian`` writes with the model's options alone: the
    seed's document ending with the section of second derivatives (output/models/softmax-hessian.tex and .md)."""
    from derive.graph import library
    from derive.graph.addons import with_l2

    model, constants = options.configure()
    graph = library.builtin(options.name) if options.l2 is None else with_l2(library.builtin(options.name), options.l2)
    example = worked(model, constants, sample(model), lr=documents.DOCUMENT_LR)
    return documents.render(kind, documents.context(model, example, constants=constants, hessian_graph=graph))
