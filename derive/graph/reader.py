"""A model file's expressions read into SymPy objects: the notation's syntax tree, the file's own names.

The text goes through the same screen, grammar and bounds as a claim (:mod:`derive.notation`);
:class:`Reader` then walks the tree and builds SymPy objects itself, from a :class:`Scope` that the
file declares: its indices (each with the size it runs to), its quantities (each with its indices)
and nothing else.  A name the scope does not know, an index used at a place whose range differs, an
unknown function: one :class:`~derive.notation.bounds.ClaimError` naming it.

=====================  ==================================================================
written                read as
=====================  ==================================================================
``V_ih``, ``V_{i,h}``  the quantity V at indices i, h (``V_ih`` splits into declared letters)
``sum_i(f)``           Sum(f, (i, 1, d)) for an index i declared to run to d
``softmax(z)_j``       exp(z_j)/Sum_m exp(z_m), over z's one index
``logsumexp(z)``       log Sum_m exp(z_m), over z's one index
``exp log tanh ...``   the functions of :data:`FUNCTIONS`
``0.05``, ``x**2``     exact numbers; constant exponents (the notation's bounds)
=====================  ==================================================================
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import lark
import sympy as sp

from derive.core.primitives import relu, sigmoid, softplus
from derive.notation import values as V
from derive.notation.bounds import ClaimError, screen
from derive.notation.syntax import tree

#: the functions a model file may apply, by name
FUNCTIONS: dict[str, Callable[[sp.Expr], sp.Expr]] = {
    "exp": sp.exp,
    "log": sp.log,
    "tanh": sp.tanh,
    "sigmoid": sigmoid,
    "softplus": softplus,
    "relu": relu,
    "sqrt": sp.sqrt,
}
#: functions over a whole indexed quantity (its one index)
OVER_INDEX = ("softmax", "logsumexp")
SUM = "sum"


def index_symbol(name: str) -> sp.Symbol:
    """An index: an integer from 1 up (the engine's own indices i, j, k ... are these same symbols)."""
    return sp.Symbol(name, integer=True, positive=True)


def size_symbol(name: str) -> sp.Symbol:
    """A size an index runs to: a positive integer (d, K, M ...)."""
    return sp.Symbol(name, integer=True, positive=True)


@dataclass(frozen=True)
class Quantity:
    """A declared name: its SymPy base (IndexedBase, or Symbol for a scalar) and its indices' ranges."""

    name: str
    base: sp.Basic
    ranges: tuple[sp.Symbol, ...]

    def at(self, *indices: sp.Expr) -> sp.Expr:
        return self.base[indices] if self.ranges else self.base


@dataclass
class Scope:
    """What an expression may name: indices (name -> size) and quantities (name -> Quantity)."""

    indices: dict[str, sp.Symbol] = field(default_factory=dict)
    quantities: dict[str, Quantity] = field(default_factory=dict)

    def size(self, index: sp.Symbol) -> sp.Symbol:
        return self.indices[index.name]


class Reader:
    """Build the SymPy expression of one model-file expression; ``where`` names it in every error."""

    def __init__(self, scope: Scope, where: str):
        self.scope, self.where = scope, where

    def read(self, text: str) -> sp.Expr:
        screened = screen(text, what=self.where)
        try:
            line = _only_line(tree(screened))
        except ClaimError as err:
            raise ClaimError(f"{self.where}: {err}") from None
        return self.expr(line).expr

    def fail(self, message: str):
        raise ClaimError(f"{self.where}: {message}")

    # ------------------------------------------------------------------ the tree
    def expr(self, node) -> V.Value:
        handler = getattr(self, f"_{node.data}", None) if isinstance(node, lark.Tree) else None
        if handler is None:
            self.fail(f"{_shown(node)} is not part of a model's notation")
        return handler(node)

    def _binary(self, node) -> V.Value:
        left, op, right = node.children
        return V.combine(str(op), self.expr(left), self.expr(right))

    def _unary(self, node) -> V.Value:
        sign, operand = node.children
        value = self.expr(operand)
        return V.negative(value) if str(sign) == "-" else value

    def _product(self, node) -> V.Value:
        value, op = None, "*"
        for child in node.children:
            if isinstance(child, lark.Tree) and child.data == "mulop":
                op = "/" if str(child.children[0]) == "/" else "*"
                continue
            factor = self.expr(child)
            value = factor if value is None else V.combine(op, value, factor)
            op = "*"
        return value

    def _power(self, node) -> V.Value:
        base, _, exponent = node.children
        return V.power(self.expr(base), self.expr(exponent))

    def _group(self, node) -> V.Value:
        return self.expr(node.children[0])

    def _number(self, node) -> V.Value:
        return V.number(str(node.children[0]))

    def _name(self, node) -> V.Value:
        return self._postfix(lark.Tree("postfix", [node]))

    def _postfix(self, node) -> V.Value:
        head, *suffixes = node.children
        if not (isinstance(head, lark.Tree) and head.data == "name"):
            if suffixes:
                self.fail(f"{_shown(head)} cannot take a subscript or arguments")
            return self.expr(head)
        name = str(head.children[0])
        if name == SUM:
            return self._sum(suffixes)
        if name in OVER_INDEX:
            return self._over_index(name, suffixes)
        if name in FUNCTIONS:
            return self._function(name, suffixes)
        return V.Value(self._quantity(name, suffixes))

    # ------------------------------------------------------------------ names
    def _quantity(self, name: str, suffixes: list) -> sp.Expr:
        quantity = self.scope.quantities.get(name)
        if quantity is None:
            self.fail(f"{name!r} is not declared (inputs, parameters and definitions above it may be used)")
        indices = self._subscript(suffixes, name) if suffixes else ()
        if len(indices) != len(quantity.ranges):
            self.fail(f"{name} takes {len(quantity.ranges)} indices, written with {len(indices)}")
        if len(set(indices)) != len(indices):
            self.fail(f"{name} with an index twice (a diagonal) is not supported: use two indices")
        for position, (index, size) in enumerate(zip(indices, quantity.ranges, strict=True)):
            if self.scope.size(index) != size:
                self.fail(
                    f"index {index} of {name} (place {position + 1}) runs to {self.scope.size(index)},"
                    f" but {name}'s runs to {size}"
                )
        return quantity.at(*indices)

    def _subscript(self, suffixes: list, name: str) -> tuple[sp.Symbol, ...]:
        if len(suffixes) != 1 or suffixes[0].data != "subscript":
            self.fail(f"{name} is not a function: write it as {name} or {name}_<indices>")
        return self._indices(suffixes[0].children[-1])

    def _indices(self, node) -> tuple[sp.Symbol, ...]:
        if node.data == "index_list":
            return tuple(i for child in node.children for i in self._indices(lark.Tree("index", [child])))
        inner = node.children[0]
        if isinstance(inner, lark.Tree) and inner.data == "group":
            inner = inner.children[0]
        if isinstance(inner, lark.Tree) and inner.data == "product" and len(inner.children) == 1:
            inner = inner.children[0]
        if isinstance(inner, lark.Tree) and inner.data == "postfix" and len(inner.children) == 1:
            inner = inner.children[0]
        if not (isinstance(inner, lark.Tree) and inner.data == "name"):
            self.fail(f"{_shown(inner)} is not an index: indices are declared letters such as i, j")
        return self._letters(str(inner.children[0]))

    def _letters(self, text: str) -> tuple[sp.Symbol, ...]:
        if text in self.scope.indices:
            return (index_symbol(text),)
        found = []
        for letter in text:
            if letter not in self.scope.indices:
                self.fail(f"index {letter!r} is not declared in [indices]")
            found.append(index_symbol(letter))
        return tuple(found)

    # ------------------------------------------------------------------ operators
    def _sum(self, suffixes: list) -> V.Value:
        if len(suffixes) != 2 or suffixes[0].data != "subscript" or suffixes[1].data != "applied":
            self.fail("a sum is written sum_i(...), over one declared index")
        (index,) = self._bound(suffixes[0])
        body = self._argument(suffixes[1], "sum")
        if index not in body.expr.free_symbols:
            self.fail(f"sum_{index}(...) of an expression without {index}: a sum runs over an index its terms have")
        return V.Value(sp.Sum(body.expr, (index, 1, self.scope.size(index))), body.terms)

    def _bound(self, subscript) -> tuple[sp.Symbol]:
        indices = self._indices(subscript.children[-1])
        if len(indices) != 1:
            self.fail("a sum runs over one index: write sum_i(sum_j(...)) for two")
        return indices

    def _function(self, name: str, suffixes: list) -> V.Value:
        if len(suffixes) != 1 or suffixes[0].data != "applied":
            self.fail(f"{name} is a function: write {name}(...)")
        argument = self._argument(suffixes[0], name)
        return V.Value(FUNCTIONS[name](argument.expr), argument.terms)

    def _argument(self, applied, name: str) -> V.Value:
        arguments = applied.children[0].children
        if len(arguments) != 1:
            self.fail(f"{name} takes one argument, given {len(arguments)}")
        return self.expr(arguments[0])

    def _over_index(self, name: str, suffixes: list) -> V.Value:
        """softmax(z)_j and logsumexp(z): over the one index of the quantity z, written bare."""
        if not suffixes or suffixes[0].data != "applied":
            self.fail(f"{name} is applied to a quantity: {name}(z)" + ("_j" if name == "softmax" else ""))
        quantity = self._bare_quantity(suffixes[0], name)
        size = quantity.ranges[0]
        dummy = index_symbol(next(c for c in "mnpqrstuvwabcdefgk" if c not in self.scope.indices))
        total = sp.Sum(sp.exp(quantity.at(dummy)), (dummy, 1, size))
        if name == "logsumexp":
            if len(suffixes) != 1:
                self.fail("logsumexp(z) is a number: it takes no subscript")
            return V.Value(sp.log(total))
        if len(suffixes) != 2 or suffixes[1].data != "subscript":
            self.fail(f"softmax({quantity.name}) is indexed: write softmax({quantity.name})_j")
        (index,) = self._bound(suffixes[1])
        if self.scope.size(index) != size:
            self.fail(f"index {index} runs to {self.scope.size(index)}, but {quantity.name}'s runs to {size}")
        return V.Value(sp.exp(quantity.at(index)) / total)

    def _bare_quantity(self, applied, name: str) -> Quantity:
        arguments = applied.children[0].children
        node = arguments[0] if len(arguments) == 1 else None
        while isinstance(node, lark.Tree) and node.data in ("product", "postfix", "group") and len(node.children) == 1:
            node = node.children[0]
        quantity = self.scope.quantities.get(str(node.children[0])) if _is_name(node) else None
        if quantity is None or len(quantity.ranges) != 1:
            self.fail(f"{name} is taken over a declared quantity with one index, written bare: {name}(z)")
        return quantity


def _only_line(parsed: lark.Tree):
    lines = [c for c in parsed.children if isinstance(c, lark.Tree) and c.data == "line"]
    if len(lines) != 1:
        raise ClaimError("one expression, on one line")
    sides = [c for c in lines[0].children if isinstance(c, lark.Tree)]
    if len(sides) != 1 or len(lines[0].children) != 1:
        raise ClaimError("one expression without '=' (the name it defines is the key)")
    return sides[0]


def _is_name(node) -> bool:
    return isinstance(node, lark.Tree) and node.data == "name"


def _shown(node) -> str:
    if isinstance(node, lark.Token):
        return repr(str(node))
    tokens = [str(t) for t in node.scan_values(lambda v: isinstance(v, lark.Token))] if node is not None else []
    return repr(" ".join(tokens)[:24]) if tokens else "this"
