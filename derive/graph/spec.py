"""A model file (TOML) read into a :class:`~derive.graph.graph.Graph`, or one line saying what is wrong.

The format (the README shows a whole file)::

    name = "mlp"                  # a short name: letters, digits, '-' and '_'
    title = "..."                 # a title for documents (optional)
    [indices]    i = "d"          # each index and the size it runs to
    [inputs]     x_i = "meaning"  # one sample's inputs (generated code adds a leading batch axis)
    [parameters] V_ih = "..."     # what the loss is differentiated by, in this order
    [definitions] u_h = "sum_i(V_ih*x_i) + c_h"   # in order; each uses only names above it
    [loss]       H = "-sum_j(P_j*log(a_j))"       # one scalar
    [assumptions] labels_sum_to_one = "sum_j(P_j) = 1"
    [example]    x = [1.9, 0.4]   # numbers for the worked example (optional)

Every error names the key and the problem (:class:`SpecError`, exit 2 in the CLI): an unknown
section, an undeclared index or name, a definition that uses one below it or a cycle, an index used
where another range is declared, free indices that differ between the two sides, a loss that is not
a scalar, a parameter that the loss does not depend on.
"""

from __future__ import annotations

import builtins
import keyword
import re
import tomllib
from collections.abc import Mapping

import lark
import sympy as sp

from derive.graph.graph import DEFINITION, INPUT, LOSS, PARAMETER, Assumption, Graph, Node
from derive.graph.reader import Quantity, Reader, Scope, index_symbol, size_symbol
from derive.notation.bounds import ClaimError, screen
from derive.notation.syntax import tree

#: the largest model file, and the most names in it
MAX_FILE, MAX_NAMES = 20_000, 64
SECTIONS = ("indices", "inputs", "parameters", "definitions", "loss", "assumptions", "example")
KEYS = ("name", "title", *SECTIONS)
REQUIRED = ("name", "parameters", "loss")
_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9]*\Z")
_INDEX = re.compile(r"[a-z]\Z")
_MODEL_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,39}\Z")
_KEY = re.compile(r"(?P<name>[A-Za-z][A-Za-z0-9]*?)(?:_(?P<indices>\{[A-Za-z, ]+\}|[A-Za-z]+))?\Z")
#: names a model file cannot give its own quantities: the functions, and what generated Python code uses
RESERVED = frozenset(
    {"sum", "softmax", "logsumexp", "exp", "log", "tanh", "sigmoid", "softplus", "relu", "sqrt", "step"}
    | {"np", "DTYPE", "ARGUMENTS", "N", "delta"}
    | set(keyword.kwlist)
    | set(dir(builtins))
)


class SpecError(ClaimError):
    """A model file that does not make sense: exit 2 with a one-line message naming the key."""


def read(text: str, source: str = "the model file") -> Graph:
    """The graph of the model file ``text``; SpecError naming ``source``, the key and the problem."""
    if len(text) > MAX_FILE:
        raise SpecError(f"{source} has {len(text)} characters, more than the limit {MAX_FILE}")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise SpecError(f"{source} is not valid TOML: {err}") from None
    try:
        return _graph(data)
    except SpecError as err:
        raise SpecError(f"{source}: {err}") from None
    except ClaimError as err:
        raise SpecError(f"{source}: {err}") from None


def _graph(data: Mapping) -> Graph:
    _keys(data)
    scope = Scope(indices=_indices(_table(data, "indices")))
    nodes = {}
    for section, kind in (("inputs", INPUT), ("parameters", PARAMETER)):
        for key, meaning in _table(data, section).items():
            nodes[key] = _declare(scope, key, kind, _text(section, key, meaning))
    if not any(n.kind == INPUT for n in nodes.values()):
        raise SpecError("[inputs] declares no input: a model is a function of at least one input (x_i, y, ...)")
    definitions = _definitions(scope, _table(data, "definitions"), nodes)
    loss = _loss(scope, _table(data, "loss"))
    graph = Graph(
        name=_name(data),
        title=_text("title", "title", data.get("title", data["name"])),
        ranges=tuple((index_symbol(i), size) for i, size in scope.indices.items()),
        index_meanings=(),
        inputs=tuple(n for n in nodes.values() if n.kind == INPUT),
        parameters=tuple(n for n in nodes.values() if n.kind == PARAMETER),
        definitions=definitions,
        loss=loss,
        assumptions=_assumptions(scope, _table(data, "assumptions")),
        example=tuple(_table(data, "example").items()),
    )
    _connected(graph)
    return graph


# ---------------------------------------------------------------------------- sections
def _keys(data: Mapping) -> None:
    for key in data:
        if key not in KEYS:
            raise SpecError(f"unknown key {key!r} (a model file has {', '.join(KEYS)})")
    for key in REQUIRED:
        if key not in data:
            raise SpecError(f"the key {key!r} is missing")


def _name(data: Mapping) -> str:
    name = data["name"]
    if not (isinstance(name, str) and _MODEL_NAME.match(name)):
        raise SpecError(f"name: {str(name)[:24]!r} is not a model name (letters, digits, '-', '_', at most 40)")
    return name


def _table(data: Mapping, section: str) -> Mapping:
    table = data.get(section, {})
    if not isinstance(table, Mapping):
        raise SpecError(f"[{section}] must be a table of keys (got {type(table).__name__})")
    if len(table) > MAX_NAMES:
        raise SpecError(f"[{section}] has {len(table)} keys, more than the limit {MAX_NAMES}")
    return table


def _text(section: str, key: str, value) -> str:
    if not isinstance(value, str):
        raise SpecError(f"{section}.{key}: expected a string in quotes (got {type(value).__name__})")
    return value


def _indices(table: Mapping) -> dict[str, sp.Symbol]:
    """Each index (one lower-case letter) and its size (a name that is not an index); none for a scalar model."""
    found = {}
    for index, size in table.items():
        if not _INDEX.match(index):
            raise SpecError(f"indices.{index}: an index is one lower-case letter a-z")
        size = _text("indices", index, size)
        if not _IDENTIFIER.match(size):
            raise SpecError(f"indices.{index}: the size {size[:24]!r} is not a name such as d or K")
        if size in table:
            raise SpecError(f"indices.{index}: the size {size} is also an index; sizes are names such as d, K, M")
        found[index] = size_symbol(size)
    return found


def _declare(scope: Scope, key: str, kind: str, meaning: str, expr: sp.Expr | None = None) -> Node:
    """Declare ``key`` (V_ih) in the scope and return its node."""
    name, indices = _split_key(scope, key)
    if name in scope.quantities:
        raise SpecError(f"{key}: {name} is declared twice")
    if name in RESERVED or name in {s.name for s in scope.indices.values()} or name in scope.indices:
        raise SpecError(f"{key}: {name} is reserved (a function, an index, a size or a word of Python)")
    if len(set(indices)) != len(indices):
        raise SpecError(f"{key}: an index appears twice (a diagonal is not a quantity of its own)")
    base = sp.IndexedBase(name) if indices else sp.Symbol(name, real=True)
    quantity = Quantity(name, base, tuple(scope.size(i) for i in indices))
    scope.quantities[name] = quantity
    return Node(key, quantity, indices, kind, meaning, expr)


def _split_key(scope: Scope, key: str) -> tuple[str, tuple[sp.Symbol, ...]]:
    found = _KEY.match(key)
    if found is None:
        raise SpecError(f"{key!r} is not a name with indices such as x_i, V_ih or y")
    letters = (found["indices"] or "").strip("{}").replace(",", "").replace(" ", "")
    for letter in letters:
        if letter not in scope.indices:
            raise SpecError(f"{key}: index {letter!r} is not declared in [indices]")
    return found["name"], tuple(index_symbol(letter) for letter in letters)


def _definitions(scope: Scope, table: Mapping, nodes: dict) -> tuple[Node, ...]:
    keys = list(table)
    mentions = {_split_key(scope, key)[0]: _mentions(_text("definitions", key, table[key]), key) for key in keys}
    done = []
    for key in keys:
        text = table[key]
        name = _split_key(scope, key)[0]
        _defined_before(name, mentions, set(scope.quantities), key)
        expr = Reader(scope, f"definitions.{key}").read(text)
        node = _declare(scope, key, DEFINITION, text, expr)
        _free_indices(node, scope, f"definitions.{key}")
        done.append(node)
    return tuple(done)


def _mentions(text: str, key: str) -> set[str]:
    """The names a definition's text mentions (read by the grammar, nothing built)."""
    try:
        parsed = tree(screen(text, what=f"definitions.{key}"))
    except ClaimError as err:
        raise SpecError(f"definitions.{key}: {err}") from None
    return {str(t) for t in parsed.scan_values(lambda v: isinstance(v, lark.Token) and v.type == "NAME")}


def _defined_before(name: str, mentions: dict[str, set[str]], known: set[str], key: str) -> None:
    """A definition uses only names above it: a later one is a cycle when it leads back here."""
    for later in sorted(mentions[name] & (set(mentions) - known)):
        if later == name:
            raise SpecError(f"definitions.{key}: {name} is defined in terms of itself (a cycle)")
        path = _path(later, name, mentions, [name, later])
        if path:
            raise SpecError(f"definitions.{key}: a cycle: {' -> '.join(path)}")
        raise SpecError(f"definitions.{key}: uses {later}, which is defined below it (definitions are in order)")


def _path(start: str, goal: str, mentions: dict[str, set[str]], path: list[str]) -> list[str] | None:
    for nxt in sorted(mentions.get(start, set()) & set(mentions)):
        if nxt == goal:
            return [*path, goal]
        if nxt not in path:
            found = _path(nxt, goal, mentions, [*path, nxt])
            if found:
                return found
    return None


def _free_indices(node: Node, scope: Scope, where: str) -> None:
    index_names = {index_symbol(i) for i in scope.indices}
    free = node.expr.free_symbols & index_names
    left = set(node.indices)
    extra, missing = sorted(free - left, key=str), sorted(left - free, key=str)
    if extra:
        what = "the loss must be a scalar: " if node.kind == LOSS else ""
        raise SpecError(
            f"{where}: {what}index {extra[0]} is free on the right but not on the left (sum over it: sum_{extra[0]}(...))"
        )
    if missing:
        raise SpecError(f"{where}: index {missing[0]} is on the left but not on the right")


def _loss(scope: Scope, table: Mapping) -> Node:
    if len(table) != 1:
        raise SpecError(f'[loss] has {len(table)} keys; it defines one scalar, such as H = "..."')
    ((key, text),) = table.items()
    _, indices = _split_key(scope, key)
    if indices:
        raise SpecError(f"loss.{key}: the loss must be a scalar (no indices on its name)")
    expr = Reader(scope, f"loss.{key}").read(_text("loss", key, text))
    node = _declare(scope, key, LOSS, text, expr)
    _free_indices(node, scope, f"loss.{key}")
    return node


def _assumptions(scope: Scope, table: Mapping) -> tuple[Assumption, ...]:
    found = []
    for name, text in table.items():
        text = _text("assumptions", name, text)
        if text.count("=") != 1:
            raise SpecError(f"assumptions.{name}: an assumption is one equation, left = right")
        left, right = text.split("=")
        reader = Reader(scope, f"assumptions.{name}")
        found.append(Assumption(name, reader.read(left), reader.read(right), text))
    return tuple(found)


def _connected(graph: Graph) -> None:
    """Every parameter reaches the loss; the loss uses something."""
    for parameter in graph.parameters:
        if not graph.depends(graph.loss, parameter):
            raise SpecError(f"parameters.{parameter.key}: the loss does not depend on {parameter.name}")
