"""Users' model files at the front end: reading one from disk, and choosing a graph from the command line.

``--model-file F`` reads F (at most :data:`~derive.graph.spec.MAX_FILE` characters, UTF-8) through
:func:`derive.graph.spec.read`; ``--model NAME`` names a built-in model, which is a model file of
:mod:`derive.graph.library` when the engine has no built-in derivation of that name (``mlp``).  Every
problem is one :class:`~derive.core.errors.InputError` line.
"""

from __future__ import annotations

import argparse

from derive.core.errors import InputError
from derive.graph import library
from derive.graph.graph import Graph
from derive.graph.spec import MAX_FILE, read


def read_model_file(path: str) -> Graph:
    """The graph of the model file at ``path``; one line naming the file and the problem otherwise."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read(MAX_FILE + 1)
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"cannot read the model file {path}: {getattr(err, 'strerror', None) or err}") from None
    return read(text, path)


def file_models() -> tuple[str, ...]:
    """The built-in models that exist only as model files (the engine's own derivations cover the rest)."""
    from derive.core.models import MODELS

    return tuple(name for name in library.names() if name not in MODELS)


def graph_from_args(args: argparse.Namespace) -> Graph | None:
    """The graph that ``--model-file`` or a file-only ``--model`` names; None for the engine's built-in models."""
    path = getattr(args, "model_file", None)
    if path is not None:
        if getattr(args, "model", "softmax") != "softmax":
            raise InputError("give --model or --model-file, not both")
        _no_add_ons(args, path)
        return read_model_file(path)
    name = getattr(args, "model", None)
    if name in file_models():
        _no_add_ons(args, name)
        return library.builtin(name)
    return None


def _no_add_ons(args: argparse.Namespace, what: str) -> None:
    if getattr(args, "l2", None) is not None or getattr(args, "smoothing", None) is not None:
        raise InputError(
            f"--l2 and --smoothing are add-ons of the built-in models; write a penalty into {what}'s loss instead"
        )


def sizes_option(text: str) -> dict[str, int]:
    """``d=784,M=128,K=10`` -> {"d": 784, "M": 128, "K": 10} (argparse type: one line on bad text)."""
    sizes = {}
    for part in text.split(","):
        name, equals, value = part.partition("=")
        name, value = name.strip(), value.strip()
        if not (equals and name.isidentifier() and value.isdigit() and len(value) <= 7):
            raise argparse.ArgumentTypeError(f"expected NAME=NUMBER pairs such as d=4,M=5,K=3, got {part.strip()!r}")
        sizes[name] = int(value)
    return sizes


def shipped_graph_from_args(args: argparse.Namespace) -> Graph:
    """``--model-file``, or the shipped model file of any ``--model`` (softmax.toml for softmax), with ``--l2``
    applied to its weight matrices: what the commands built on model files alone (hessian, Newton) take."""
    path = getattr(args, "model_file", None)
    if path is not None and getattr(args, "model", "softmax") != "softmax":
        raise InputError("give --model or --model-file, not both")
    if getattr(args, "smoothing", None) is not None:
        raise InputError("--smoothing is an add-on of the built-in derivations; these commands take --l2 only")
    graph = read_model_file(path) if path is not None else library.builtin(args.model)
    if getattr(args, "l2", None) is None:
        return graph
    from derive.graph.addons import with_l2

    try:
        return with_l2(graph, args.l2)
    except ValueError as err:
        raise InputError(str(err)) from None


def builtin_file_from_args(args: argparse.Namespace, purpose: str) -> Graph:
    """The shipped model file of a built-in ``--model`` with ``--l2`` on its weight matrices
    (:func:`shipped_graph_from_args`), for ``--hessian`` of the built-in models; ``purpose`` says what the file
    gives ("writes the module of") in the one-line refusals: --smoothing, and --l2 without a weight matrix."""
    where = f"--hessian {purpose} the model file {args.model}.toml"
    if getattr(args, "smoothing", None) is not None:
        raise InputError(f"{where}, which takes --l2 but not --smoothing")
    try:
        return shipped_graph_from_args(args)
    except InputError as err:
        raise InputError(f"{where}: {err}") from None
