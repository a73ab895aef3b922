"""Names in a formula: what ``P_j``, ``Q_j(x)``, ``\\hat{y}_j``, ``dH``, ``exp(...)`` or ``\\sigma(z)_j`` mean.

:class:`Names` is the builder's half that resolves a name with its subscripts (an alias, a
differential, the loss, a scalar, a quantity with indices of the right roles, a function, a sum)
and what a bracket after it means: a call of a function, the ``(x)`` many people write after a
quantity (dropped), or a product (``P_j(1 - a_j)``).
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from derive.claims.vocabulary import (
    CLASS,
    CONSTANT_DOMAIN,
    DELTA,
    FEATURE,
    FREE_NAME,
    INDICES,
    LOSSES,
    MAX_SOFTMAX_ARGS,
    SOFTMAX,
    SUMS,
)
from derive.core import symbols as S
from derive.core.primitives import indexed_softmax, softmax
from derive.notation.bounds import MAX_EXP_ARGUMENT, MAX_SIZE, ClaimError, short
from derive.notation.values import Value, combine, count


@dataclass(frozen=True)
class Operator:
    """A prefix operator of a product: a sum sign, d/d(variable), a function written as a command, a call to come."""

    kind: str  # "sum", "derivative", "partial", "function", "call", "softmax"
    argument: object = None


@dataclass(frozen=True)
class Differential:
    """``\\partial H``, ``dH``, ``d a_j``: half of a derivative written as a quotient."""

    quantity: sp.Expr


@dataclass(frozen=True)
class AppliedDifferential:
    """``dW_ij(f)``: the denominator of the plain ``d/dW_ij(f)``, with the operand it applies to."""

    quantity: sp.Expr
    operand: object


@dataclass(frozen=True)
class Vector:
    """A quantity named without its indices (x, a, P, W): a vector or matrix, or a function to apply (Q(x_j))."""

    base: str


class Names:
    """Resolving names and brackets after them; mixed into :class:`derive.claims.builder.Builder`."""

    # -- a name with its subscripts

    def identifier(self, typed: str, tokens: list[str], subscripted: bool = False):
        """The meaning of a name and the indices of its subscripts."""
        name = self.words.meaning("lam" if typed == "lambda" else typed)
        if len(name) > 1 and name[0] == "d" and name not in self.words.scalars and self._differentiable(name[1:]):
            return Differential(self.value(self.identifier(name[1:], tokens, subscripted)).expr)
        if name in LOSSES and not tokens and not self.words.free:
            return Value(S.H)
        if name == "sigma" and self.words.activation == S.sigma and not tokens:
            return Value(S.sigma)  # the logistic model's output; sigma(...) is read by :meth:`applied`
        if name in self.words.functions or name in SUMS or name in ("Sum", SOFTMAX, "sigma", "sum"):
            return self._callable(typed, name, tokens)
        if name in self.words.scalars and not tokens:
            return Value(self.words.scalars[name])
        if name == DELTA or name in self.words.quantities:
            if not tokens:
                return Vector(name)
            return Value(self.quantity(_shown(typed, tokens), name, self._split(name, tokens)))
        if self.words.free and FREE_NAME.fullmatch(name):
            if not tokens:
                return Value(sp.Symbol(name, real=True))
            return Value(self.quantity(_shown(typed, tokens), name, tokens))
        raise self.unknown(_shown(typed, tokens))

    def _differentiable(self, rest: str) -> bool:
        rest = self.words.aliases.get(rest, rest)
        return rest in LOSSES or rest in self.words.quantities or rest in self.words.scalars

    def _split(self, base: str, tokens: list[str]) -> list[str]:
        """W_ij -> [i, j]; W_12 -> [1, 2]; P_12 -> [12] (one index); W_{1,12} as typed."""
        arity = 2 if base in ("W", DELTA) else 1
        if arity == 2 and len(tokens) == 1 and len(tokens[0]) == 2:
            return list(tokens[0])
        return tokens

    def _callable(self, typed: str, name: str, tokens: list[str]):
        if name in ("sum", "Sum") or name in SUMS:
            letter = SUMS.get(name) or (tokens[0] if name == "sum" and len(tokens) == 1 else None)
            if name == "sum" and letter not in ("k", "m", "l"):
                raise ClaimError(f"sums run over k or m (classes) or l (features), not {short(''.join(tokens))}")
            return Operator("call", ("Sum", None) if name == "Sum" else ("sum", letter))
        if tokens:
            raise ClaimError(f"{typed} takes no index")
        if name == "sigma" and self.words.activation == S.sigma:
            return Operator("call", ("sigma", None))
        if name in (SOFTMAX, "sigma") and ("a" in self.words.quantities or self.words.free):
            return Operator("softmax", None)
        if name == "sigma":
            raise self.unknown(typed)
        return Operator("function", name)

    def quantity(self, name: str, base: str, tokens: list[str]) -> sp.Expr:
        """P, [j] -> P[j]; W, [1, 2] -> W[1, 2]; delta, [k, j] -> KroneckerDelta(k, j)."""
        if base == DELTA:
            roles = (CLASS, CLASS)
        elif base in self.words.quantities:
            roles = self.words.quantities[base][1]
        elif self.words.free and len(tokens) <= 2:
            roles = (None,) * len(tokens)
        else:
            raise self.unknown(name)
        if len(tokens) != len(roles):
            raise ClaimError(f"{name}: {base} takes {len(roles)} ind{'ex' if len(roles) == 1 else 'ices'}")
        indices = [self.index(name, t, role) for t, role in zip(tokens, roles)]
        if base == DELTA:
            return sp.KroneckerDelta(*indices)
        indexed = self.words.quantities[base][0] if base in self.words.quantities else sp.IndexedBase(base)
        return indexed[tuple(indices)]

    def index(self, name: str, token: str, role: str | None) -> sp.Expr:
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

    def unknown(self, name: str) -> ClaimError:
        return ClaimError(f"unknown name {short(name)!r}; known: {self.words.known}")

    # -- a bracket after something

    def applied(self, built, arguments: list):
        """f(args): a call; P_j(x): the quantity (the "(x)" dropped); Q(x_j): the prediction a_j; else a product."""
        if isinstance(built, Operator) and built.kind in ("function", "call", "softmax"):
            return self.call_operator(built, arguments)
        if isinstance(built, Differential) and len(arguments) == 1:
            return AppliedDifferential(built.quantity, self.value(self.build(arguments[0])))
        if isinstance(built, Operator) and built.kind == "derivative" and len(arguments) == 1:
            operand = self.value(self.build(arguments[0]))
            return Value(sp.Derivative(operand.expr, built.argument, evaluate=False), operand.terms)
        if built == Value(S.sigma) and self.words.activation == S.sigma:
            return self.sigma_call(arguments)
        if self.words.free:
            raise ClaimError(f"only the functions {self.words.callable_names} can be called ({self.words.known})")
        if len(arguments) == 1 and self._is_bare_x(arguments[0]):
            return built  # P_j(x), Q_j(x), a_j(x): "of the sample x"
        if isinstance(built, Vector) and len(arguments) == 1 and not self.matrix:
            return self._of_sample(built, arguments[0])
        if built == Value(S.H) and len(arguments) == 2:
            return built  # H(P, Q)
        if len(arguments) != 1:
            raise ClaimError("a tuple is not allowed in a formula")
        return combine("*", self.value(built), self.value(self.build(arguments[0])))

    def _is_bare_x(self, node) -> bool:
        leaf = _leaf(node)
        return leaf is not None and leaf.data == "name" and str(leaf.children[0]) == "x"

    def _of_sample(self, vector: Vector, argument) -> Value:
        """Q(x_j), P(x_j): the prediction (the label) for class j, as the question's table writes a_j = Q(x_j);
        the subscript of x is read as a class index."""
        token = _subscript_of_x(argument)
        if token is not None and vector.base in ("a", "P"):
            return Value(self.quantity(f"{vector.base}(x_{token})", vector.base, [token]))
        raise ClaimError(f"{vector.base} takes its indices, as in {vector.base}_j")

    def subscripted_call(self, built, tokens: list[str]):
        """softmax(z)_j, \\sigma(z)_j: the j-th output of the softmax of the logits."""
        if isinstance(built, Operator) and built.kind == "softmax_of" and len(tokens) == 1:
            return Value(self.quantity(f"a_{tokens[0]}", "a", tokens))
        raise ClaimError("only names take indices, as in P_j or W_{ij}")

    def call_operator(self, operator: Operator, arguments: list):
        if operator.kind == "softmax":
            return self._softmax(arguments)
        name, letter = operator.argument if operator.kind == "call" else (operator.argument, None)
        if name == "Sum":
            return self.sum_with_limits(arguments)
        if name == "sigma":
            return self.sigma_call(arguments)
        if len(arguments) != 1:
            raise ClaimError(f"{name} takes one argument")
        argument = self.value(self.build(arguments[0]))
        return self.sum(letter, argument) if name == "sum" else self.call(name, [argument])

    def call(self, name: str, arguments: list[Value]) -> Value:
        """exp(f), log(f), sigmoid(f) ...; a constant argument is bounded (exp) or in the domain (log)."""
        if name not in self.words.functions:
            raise ClaimError(f"only the functions {self.words.callable_names} can be called ({self.words.known})")
        builder = self.words.functions[name]
        (argument,) = arguments
        if argument.expr.is_number:
            number = float(argument.expr.evalf(15))  # a bounded constant: exact parts are <= 1e12
            domain = CONSTANT_DOMAIN.get(builder)
            big = {"exp": number, "sigmoid": -number, "sym": abs(number)}.get(domain, 0)
            if big > MAX_EXP_ARGUMENT:
                raise ClaimError(f"{name}({short(number)}) is larger than the limit exp({MAX_EXP_ARGUMENT})")
            if (domain == "log" and not number > 0) or (domain == "root" and number < 0):
                raise ClaimError(f"{name}({short(number)}) is not a real number")
        return Value(builder(argument.expr), 1)

    def sigma_call(self, arguments: list) -> Value:
        """sigma(z) is the sigmoid of z; sigma(1 - sigma) is a product, as people write it."""
        if len(arguments) != 1:
            raise ClaimError("sigma(...) takes one argument")
        argument = self.value(self.build(arguments[0]))
        if argument.expr.has(S.sigma):
            return combine("*", Value(S.sigma), argument)
        return self.call("sigmoid", [argument])

    def _softmax(self, arguments: list):
        """softmax(u, v, ...) (a user loss); softmax(z_j) = a_j; softmax(z) waits for its subscript: softmax(z)_j."""
        values = [self.build(a) for a in arguments[: MAX_SOFTMAX_ARGS + 1]]
        if len(values) == 1 and isinstance(values[0], Vector) and values[0].base == "z":
            return Operator("softmax_of", "z")
        values = [self.value(v) for v in values]
        if not self.words.free and len(values) == 1 and values[0].expr in {S.z[q] for q in (S.j, S.k, S.m)}:
            return Value(S.a[values[0].expr.indices[0]])
        if not self.words.free:
            raise ClaimError("softmax takes the logits: softmax(z)_j or softmax(z_j)")
        return self.free_softmax(values)

    def free_softmax(self, args: list[Value]) -> Value:
        """softmax(u, v, ...) = exp(u)/(exp(u) + exp(v) + ...); softmax(z_j) = exp(z_j)/Sum_m exp(z_m)."""
        if not 1 <= len(args) <= MAX_SOFTMAX_ARGS:
            raise ClaimError(f"softmax takes 1 to {MAX_SOFTMAX_ARGS} arguments")
        for argument in args:
            self.call("exp", [argument])
        if len(args) > 1:
            return Value(softmax(*(a.expr for a in args)).rewrite(sp.exp), count(len(args)))
        (one,) = args
        if not (isinstance(one.expr, sp.Indexed) and len(one.expr.indices) == 1 and one.expr.indices[0].is_Symbol):
            raise ClaimError("softmax takes the listed symbols, softmax(u, v, w), or one indexed logit, softmax(z_j)")
        (q,) = one.expr.indices
        dummy = S.m if q != S.m else S.k
        upper = S.d if INDICES.get(str(q), (None, CLASS))[1] == FEATURE else S.K
        dummy = S.l if upper == S.d and q != S.l else dummy
        return Value(indexed_softmax(one.expr.base, q, dummy, upper), count(MAX_SIZE))

    def sum(self, letter: str, summand: Value) -> Value:
        index, role = INDICES[letter]
        upper = S.K if role == CLASS else S.d
        return Value(sp.Sum(summand.expr, (index, 1, upper)), count(summand.terms * MAX_SIZE))

    def sum_with_limits(self, arguments: list) -> Value:
        """Sum(f, (k, 1, K)), as the engine prints sums."""
        limits = arguments[1] if len(arguments) == 2 else None
        parts = _tuple_items(limits) if limits is not None else None
        if parts is None or len(parts) != 3:
            raise ClaimError("write sums as Sum(f, (k, 1, K)), Sum(f, (l, 1, d)) or sum_k(f)")
        letter, low, high = (_leaf_text(p) for p in parts)
        role = INDICES[letter][1] if letter in ("k", "m", "l") else None
        if role is None or low != "1" or high != ("K" if role == CLASS else "d"):
            raise ClaimError("write sums as Sum(f, (k, 1, K)), Sum(f, (l, 1, d)) or sum_k(f)")
        return self.sum(letter, self.value(self.build(arguments[0])))


def _shown(typed: str, tokens: list[str]) -> str:
    return f"{typed}_{'_'.join(tokens)}" if tokens else typed


def _leaf(node):
    """The single name or number a node wraps (through groups and one-factor products), or None."""
    while hasattr(node, "data") and node.data in ("product", "postfix", "group", "index") and len(node.children) == 1:
        node = node.children[0]
    return node if hasattr(node, "data") and node.data in ("name", "number") else None


def _subscript_of_x(node) -> str | None:
    """The index of a bare x_j (one name or number as subscript), or None for anything else."""
    while hasattr(node, "data") and node.data in ("product", "group") and len(node.children) == 1:
        node = node.children[0]
    if not (hasattr(node, "data") and node.data == "postfix" and len(node.children) == 2):
        return None
    head, suffix = node.children
    if _leaf_text(head) != "x" or getattr(suffix, "data", None) != "subscript":
        return None
    return _leaf_text(suffix.children[1])


def _leaf_text(node) -> str | None:
    leaf = _leaf(node)
    return str(leaf.children[0]) if leaf is not None else None


def _tuple_items(node):
    while hasattr(node, "data") and node.data in ("product", "postfix") and len(node.children) == 1:
        node = node.children[0]
    return node.children if hasattr(node, "data") and node.data == "tuple" else None
