"""Plain notation -> SymPy: an allow-listed syntax tree, built into the engine's own symbols.

:class:`Reader` walks the tree that :func:`derive.claims.bounds.syntax_tree` made
(``ast.parse``, which executes nothing) and accepts only the node types of a
formula: numbers (folded exactly, bounded), names of the vocabulary, indexing,
+ - * / and constant powers, calls of the vocabulary's functions and sums.
Every other node is refused with a one-line :class:`~derive.claims.bounds.ClaimError`.
"""

from __future__ import annotations

import ast
import math
from dataclasses import dataclass
from fractions import Fraction

import sympy as sp

from derive.claims.bounds import (
    MAX_CONSTANT,
    MAX_DECIMALS,
    MAX_EXP_ARGUMENT,
    MAX_EXPONENT,
    MAX_LITERAL,
    MAX_SIZE,
    MAX_TERMS,
    ClaimError,
    NotationError,
    group_of,
    short,
    syntax_tree,
)
from derive.claims.vocabulary import (
    CLASS,
    CONSTANT_DOMAIN,
    DELTA,
    FEATURE,
    FREE_NAME,
    INDICES,
    MAX_SOFTMAX_ARGS,
    SOFTMAX,
    SOFTMAX_VOCABULARY,
    SUMS,
    Vocabulary,
)
from derive.core import symbols as S
from derive.core.primitives import indexed_softmax, softmax


@dataclass(frozen=True)
class Value:
    """A built sub-expression: an exact constant (Fraction) or a SymPy expression, and its expanded size."""

    value: Fraction | sp.Expr
    terms: int = 1

    @property
    def constant(self) -> bool:
        return isinstance(self.value, Fraction)

    @property
    def expr(self) -> sp.Expr:
        v = self.value
        return sp.Rational(v.numerator, v.denominator) if isinstance(v, Fraction) else v


class Reader:
    """Builds SymPy objects from an allow-listed syntax tree, checking bounds before each operation."""

    def __init__(self, classes: int, features: int, words: Vocabulary = SOFTMAX_VOCABULARY):
        self.ranges = {CLASS: classes, FEATURE: features, None: max(classes, features)}
        self.concrete = False
        self.words = words

    def read(self, text: str) -> sp.Expr:
        tree = syntax_tree(text)
        result = self.node(tree.body).expr
        if result.has(sp.zoo, sp.nan, sp.oo, -sp.oo):
            raise ClaimError("the claim is undefined (a division by zero or the log of 0)")
        return result

    def check_calls(self, tree: ast.Expression) -> None:
        """A call of something that is not a function reads as implicit multiplication: not plain."""
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or isinstance(node.func, ast.Name) and self.callable(node.func.id):
                continue
            name = node.func.id if isinstance(node.func, ast.Name) else ""
            if name not in self.words.scalars and name.partition("_")[0] not in self.words.quantities:
                raise ClaimError(f"only the functions {self.words.callable_names} can be called ({self.words.known})")
            raise NotationError("write * between factors (or use LaTeX notation): a name is used as a function")

    def node(self, node: ast.AST) -> Value:
        handler = getattr(self, f"_{type(node).__name__}", None)
        if handler is None:
            raise ClaimError(f"{_describe(node)} is not allowed in a formula")
        return handler(node)

    # -- leaves

    def _Constant(self, node: ast.Constant) -> Value:
        # the magnitude test comes first: float() of a 999-digit integer would overflow
        value = node.value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ClaimError(f"{_describe(node)} is not allowed in a formula")
        if abs(value) > MAX_LITERAL or not math.isfinite(value):
            raise ClaimError(f"the number {short(value)} is larger than the limit {MAX_LITERAL}")
        exact = Fraction(repr(value)) if isinstance(value, float) else Fraction(value)
        if exact.denominator > 10**MAX_DECIMALS:
            raise ClaimError(f"the number {short(value)} has more than {MAX_DECIMALS} decimals")
        return Value(exact)

    def _Name(self, node: ast.Name) -> Value:
        name = node.id
        if name in self.words.scalars:
            return Value(self.words.scalars[name])
        base, _, rest = name.partition("_")
        if self.words.free and not rest and FREE_NAME.fullmatch(name) and not self.callable(name):
            return Value(sp.Symbol(name, real=True))
        if not rest or "__" in name:
            raise unknown(name, self.words)
        return Value(self.quantity(name, base, rest.split("_") if "_" in rest else _split_joined(base, rest)))

    def _Subscript(self, node: ast.Subscript) -> Value:
        if not isinstance(node.value, ast.Name):
            raise ClaimError("only names can be indexed, as in P[j] or W[i, j]")
        items = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        tokens = [_index_token(item) for item in items]
        return Value(self.quantity(f"{node.value.id}[{', '.join(tokens)}]", node.value.id, tokens))

    def quantity(self, name: str, base: str, tokens: list[str]) -> sp.Expr:
        """P, [j] -> P[j]; W, [1, 2] -> W[1, 2]; delta, [k, j] -> KroneckerDelta(k, j)."""
        if base == DELTA:
            roles = (CLASS, CLASS)
        elif base in self.words.quantities:
            roles = self.words.quantities[base][1]
        elif self.words.free and FREE_NAME.fullmatch(base) and not self.callable(base) and len(tokens) <= 2:
            roles = (None,) * len(tokens)
        else:
            raise unknown(name, self.words)
        if len(tokens) != len(roles):
            raise ClaimError(f"{name}: {base} takes {len(roles)} ind{'ex' if len(roles) == 1 else 'ices'}")
        indices = [self.index(name, t, role) for t, role in zip(tokens, roles)]
        if base == DELTA:
            return sp.KroneckerDelta(*indices)
        indexed = self.words.quantities[base][0] if base in self.words.quantities else sp.IndexedBase(base)
        return indexed[tuple(indices)]

    def index(self, name: str, token: str, role: str) -> sp.Expr:
        if token in INDICES:
            symbol, kind = INDICES[token]
            if role is not None and kind != role:
                allowed = ", ".join(t for t, (_, r) in INDICES.items() if r == role)
                raise ClaimError(
                    f"{name}: the {role} index must be one of {allowed} or 1..{self.ranges[role]}, not {token}"
                )
            return symbol
        if token.isdigit() and len(token) <= 3:
            number = int(token)
            if not 1 <= number <= self.ranges[role]:
                option = {CLASS: "--classes", FEATURE: "--features"}.get(role, "the size")
                raise ClaimError(f"{name}: {role} index {number} is out of range 1..{self.ranges[role]} ({option})")
            self.concrete = True
            return sp.Integer(number)
        raise ClaimError(f"{name}: {token!r} is not an index (use i, l for features; j, k, m for classes; or numbers)")

    # -- operators

    def _UnaryOp(self, node: ast.UnaryOp) -> Value:
        operand = self.node(node.operand)
        if isinstance(node.op, ast.USub):
            return Value(-operand.value, operand.terms)
        if isinstance(node.op, ast.UAdd):
            return operand
        raise ClaimError(f"{_describe(node)} is not allowed in a formula")

    def _BinOp(self, node: ast.BinOp) -> Value:
        if group_of(node) is not None:
            return self.chain(node)
        if not isinstance(node.op, ast.Pow):
            raise ClaimError(f"{_describe(node)} is not allowed in a formula")
        return self.power(self.node(node.left), self.node(node.right))

    def chain(self, node: ast.BinOp) -> Value:
        """a + b - c (or a * b / c) as one flat chain: long sums do not count as deep nesting."""
        group, operands = group_of(node), []
        while group_of(node) == group:
            operands.append((type(node.op), node.right))
            node = node.left
        result = self.node(node)
        for op, operand in reversed(operands):
            result = combine(op, result, self.node(operand))
        return result

    def power(self, base: Value, exponent: Value) -> Value:
        if not exponent.constant:
            raise ClaimError("exponents must be constant numbers (write exp(...) for e to a power)")
        n = exponent.value
        if abs(n) > MAX_EXPONENT or n.denominator > MAX_EXPONENT:
            raise ClaimError(f"the exponent {short(n)} is outside the limit |n| <= {MAX_EXPONENT}")
        if base.constant and n.denominator == 1:
            return Value(_checked(_fraction_power(base.value, int(n))))
        if base.constant and base.value < 0:
            raise ClaimError("a fractional power of a negative number is not real")
        terms = math.comb(base.terms + math.ceil(abs(n)) - 1, math.ceil(abs(n))) if n.denominator == 1 else base.terms
        return Value(sp.Pow(base.expr, exponent.expr), _terms(terms))

    def _Call(self, node: ast.Call) -> Value:
        if isinstance(node.func, ast.Name) and node.func.id == "sigma" and self.words.activation == S.sigma:
            return self.sigma_call(node)
        if not isinstance(node.func, ast.Name) or not self.callable(node.func.id):
            raise ClaimError(f"only the functions {self.words.callable_names} can be called ({self.words.known})")
        if node.keywords:
            raise ClaimError("keyword arguments are not allowed in a formula")
        name, args = node.func.id, node.args
        if name == "Sum":
            return self.sum_with_limits(args)
        if name == SOFTMAX:
            return self.softmax([self.node(a) for a in args[: MAX_SOFTMAX_ARGS + 1]])
        if len(args) != 1:
            raise ClaimError(f"{name} takes one argument")
        if name in SUMS:
            return self.sum(SUMS[name], self.node(args[0]))
        return self.function(name, self.node(args[0]))

    def callable(self, name: str) -> bool:
        sigma = name == "sigma" and self.words.activation == S.sigma
        return (
            name in self.words.functions
            or name in SUMS
            or name == "Sum"
            or (self.words.free and name == SOFTMAX)
            or sigma
        )

    def function(self, name: str, argument: Value) -> Value:
        """exp(f), log(f), sigmoid(f) ...; a constant argument is bounded (exp) or in the domain (log)."""
        builder = self.words.functions[name]
        if argument.expr.is_number:
            number = float(argument.expr.evalf(15))  # a bounded constant: exact parts are <= 1e12
            domain = CONSTANT_DOMAIN.get(builder)
            big = {"exp": number, "sigmoid": -number, "sym": abs(number)}.get(domain, 0)
            if big > MAX_EXP_ARGUMENT:
                raise ClaimError(f"{name}({short(number)}) is larger than the limit exp({MAX_EXP_ARGUMENT})")
            if (domain == "log" and not number > 0) or (domain == "root" and number < 0):
                raise ClaimError(f"{name}({short(number)}) is not a real number")
        return Value(builder(argument.expr), 1)

    def sigma_call(self, node: ast.Call) -> Value:
        """sigma(z) is the sigmoid of z; sigma(1 - sigma) is a product, as people write it."""
        if len(node.args) != 1 or node.keywords:
            raise ClaimError("sigma(...) takes one argument")
        argument = self.node(node.args[0])
        if argument.expr.has(S.sigma):
            return combine(ast.Mult, Value(S.sigma), argument)
        return self.function("sigmoid", argument)

    def softmax(self, args: list[Value]) -> Value:
        """softmax(u, v, ...) = exp(u)/(exp(u) + exp(v) + ...); softmax(z_j) = exp(z_j)/Sum_m exp(z_m)."""
        if not 1 <= len(args) <= MAX_SOFTMAX_ARGS:
            raise ClaimError(f"softmax takes 1 to {MAX_SOFTMAX_ARGS} arguments")
        for argument in args:
            self.function("exp", argument)
        if len(args) > 1:
            return Value(softmax(*(a.expr for a in args)).rewrite(sp.exp), _terms(len(args)))
        (one,) = args
        if not (isinstance(one.expr, sp.Indexed) and len(one.expr.indices) == 1 and one.expr.indices[0].is_Symbol):
            raise ClaimError("softmax takes the listed symbols, softmax(u, v, w), or one indexed logit, softmax(z_j)")
        (q,) = one.expr.indices
        dummy = S.m if q != S.m else S.k
        upper = S.d if INDICES.get(str(q), (None, CLASS))[1] == FEATURE else S.K
        dummy = S.l if upper == S.d and q != S.l else dummy
        return Value(indexed_softmax(one.expr.base, q, dummy, upper), _terms(MAX_SIZE))

    def sum(self, letter: str, summand: Value) -> Value:
        index, role = INDICES[letter]
        upper = S.K if role == CLASS else S.d
        return Value(sp.Sum(summand.expr, (index, 1, upper)), _terms(summand.terms * MAX_SIZE))

    def sum_with_limits(self, args: list[ast.AST]) -> Value:
        """Sum(f, (k, 1, K)), as the engine prints sums."""
        shape = len(args) == 2 and isinstance(args[1], ast.Tuple) and len(args[1].elts) == 3
        if shape:
            letter, low, high = args[1].elts
            shape = isinstance(letter, ast.Name) and letter.id in ("k", "m", "l") and _is(low, 1)
            role = INDICES[letter.id][1] if shape else None
            shape = shape and isinstance(high, ast.Name) and high.id == ("K" if role == CLASS else "d")
        if not shape:
            raise ClaimError("write sums as Sum(f, (k, 1, K)), Sum(f, (l, 1, d)) or sum_k(f)")
        return self.sum(letter.id, self.node(args[0]))


def combine(op: type, left: Value, right: Value) -> Value:
    """left op right: exact for constants, SymPy otherwise; sizes checked first."""
    if op is ast.Div and right.constant and right.value == 0:
        raise ClaimError("division by zero")
    if left.constant and right.constant:
        fold = {
            ast.Add: lambda p, q: p + q,
            ast.Sub: lambda p, q: p - q,
            ast.Mult: lambda p, q: p * q,
            ast.Div: lambda p, q: p / q,
        }
        return Value(_checked(fold[op](left.value, right.value)))
    if op in (ast.Add, ast.Sub):
        terms = _terms(left.terms + right.terms)
        return Value(left.expr + right.expr if op is ast.Add else left.expr - right.expr, terms)
    terms = _terms(left.terms * right.terms)
    return Value(left.expr * right.expr if op is ast.Mult else left.expr / right.expr, terms)


def _fraction_power(base: Fraction, n: int) -> Fraction:
    if base == 0 and n < 0:
        raise ClaimError("division by zero")
    bits = max(abs(base.numerator).bit_length(), base.denominator.bit_length()) * abs(n)
    if bits > MAX_CONSTANT.bit_length():
        raise ClaimError(f"a constant is larger than the limit {MAX_CONSTANT:.0e}")
    return base**n


def _checked(value: Fraction) -> Fraction:
    if abs(value.numerator) > MAX_CONSTANT or value.denominator > MAX_CONSTANT:
        raise ClaimError(f"a constant sub-expression is larger than the limit {MAX_CONSTANT:.0e}")
    return value


def _terms(n: int) -> int:
    if n > MAX_TERMS:
        raise ClaimError(f"the claim would expand to more than {MAX_TERMS} terms")
    return n


def _is(node: ast.AST, number: int) -> bool:
    return isinstance(node, ast.Constant) and type(node.value) is int and node.value == number


def _split_joined(base: str, rest: str) -> list[str]:
    """W_ij -> [i, j]; W_12 -> [1, 2]; P_12 -> [12] (one index)."""
    arity = 2 if base in ("W", DELTA) else 1
    return list(rest) if arity == 2 and len(rest) == 2 else [rest]


def _index_token(node: ast.AST) -> str:
    if isinstance(node, ast.Name) and node.id in INDICES:
        return node.id
    if isinstance(node, ast.Constant) and type(node.value) is int and 0 <= node.value < 1000:
        return str(node.value)
    raise ClaimError("indices are i, j, k, l, m or whole numbers, as in P[j] or W[1, 2]")


def _describe(node: ast.AST) -> str:
    names = {
        "Attribute": "attribute access (a.b)",
        "Lambda": "a lambda",
        "Compare": "a comparison",
        "BoolOp": "and/or",
        "Tuple": "a tuple",
        "List": "a list",
        "Starred": "*args",
    }
    kind = type(node).__name__
    if isinstance(node, (ast.BinOp, ast.UnaryOp)):
        kind = f"the operator {type(node.op).__name__}"
    elif isinstance(node, ast.Constant):
        kind = f"the constant {type(node.value).__name__} {short(node.value)}"
    return names.get(kind, kind)


def unknown(name: str, words: Vocabulary = SOFTMAX_VOCABULARY) -> ClaimError:
    return ClaimError(f"unknown name {short(name)!r}; known: {words.known}")
