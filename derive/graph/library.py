"""The model files that ship with derive (``derive/graph/models/*.toml``), read by the same loader as a user's.

``mlp`` exists only as a file.  ``softmax``, ``logistic`` and ``linear`` are the engine's built-in
models written as files: their backpropagation gives the same gradients as the built-in derivations
(the tests check it), and ``derive models --show NAME`` prints any of them as a start for one's own.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from derive.graph.graph import Graph
from derive.graph.spec import read

PACKAGE = "derive.graph.models"


@cache
def names() -> tuple[str, ...]:
    """The shipped model files' names, sorted."""
    files = resources.files(PACKAGE).iterdir()
    return tuple(sorted(f.name.removesuffix(".toml") for f in files if f.name.endswith(".toml")))


def source(name: str) -> str:
    """The text of the shipped model file ``name``; KeyError listing the known ones otherwise."""
    if name not in names():
        raise KeyError(f"unknown model file {name!r} (shipped: {', '.join(names())})")
    return resources.files(PACKAGE).joinpath(f"{name}.toml").read_text(encoding="utf-8")


@cache
def builtin(name: str) -> Graph:
    """The graph of the shipped model file ``name``."""
    return read(source(name), f"the built-in model file {name}.toml")
