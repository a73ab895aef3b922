"""The builder: a parse tree of what people type -> SymPy objects from the engine's own symbols.

It walks the tree of :mod:`derive.notation.syntax` and accepts only what a formula may hold:
numbers (folded exactly, bounded: :mod:`derive.notation.values`), names of the vocabulary
(:mod:`derive.claims.names`, :mod:`derive.claims.vocabulary`), + - * / and constant powers,
calls of the vocabulary's functions, sums and derivatives.  Products are flat lists: a sum
sign (``\\sum_k``) or a derivative operator (``\\frac{\\partial}{\\partial W_{ij}}``) applies to
the rest of the product, a function written as a LaTeX command (``\\log``) to the next factor.
Derivatives stay unevaluated (``sp.Derivative``): the model gives them their meaning.  Every
other construct is refused with a one-line :class:`~derive.notation.bounds.ClaimError`.
"""

from __future__ import annotations

from fractions import Fraction

import lark
import sympy as sp

from derive.claims.matrices import SEED
from derive.claims.names import AppliedDifferential, Differential, Names, Operator, Vector
from derive.claims.vocabulary import INDICES, Vocabulary
from derive.core import symbols as S
from derive.notation.bounds import ClaimError, short
from derive.notation.commands import COMMAND_NAMES, FUNCTION_COMMANDS, KNOWN_COMMANDS, TIMES
from derive.notation.values import ONE, Value, combine, negative, number, power


class Builder(Names):
    """Builds SymPy objects from a parse tree, checking bounds before each operation."""

    def __init__(self, classes: int, features: int, words: Vocabulary):
        from derive.claims.vocabulary import CLASS, FEATURE

        self.ranges = {CLASS: classes, FEATURE: features, None: max(classes, features)}
        self.concrete = False
        self.words = words
        #: a matrix form (\nabla_W H = x(a - P)^T): names without indices are vectors and matrices
        self.matrix = False
        #: the vectors and matrices a matrix form names (the seed's one sample, or a batch's rows)
        self.layout = SEED

    # -- entry points

    def expression(self, node) -> sp.Expr:
        """A whole side of an equation as a SymPy expression; undefined values are refused."""
        result = self.value(self.build(node)).expr
        if result.has(sp.zoo, sp.nan, sp.oo, -sp.oo):
            raise ClaimError("the claim is undefined (a division by zero or the log of 0)")
        return result

    def build(self, node):
        """A Value, or a marker (Operator, Differential, Vector) that a product or a bracket resolves."""
        if isinstance(node, lark.Token):
            raise ClaimError(f"unexpected {short(str(node))!r}")
        handler = getattr(self, f"_{node.data}", None)
        if handler is None:
            raise ClaimError(f"{node.data.replace('_', ' ')} is not allowed in a formula")
        return handler(*node.children)

    def value(self, built) -> Value:
        """A built thing as a value: markers that still need something are refused, with what they need."""
        if isinstance(built, Value):
            return built
        if isinstance(built, Differential):
            raise ClaimError(f"a differential d{built.quantity} stands alone: write d(...)/d(...)")
        if isinstance(built, Vector) and self.matrix and self.layout.symbol(built.base) is not None:
            return Value(self.layout.symbol(built.base))
        if isinstance(built, Vector):
            roles = len(self.words.quantities[built.base][1]) if built.base in self.words.quantities else 2
            raise ClaimError(f"{built.base}: {built.base} takes {roles} ind{'ex' if roles == 1 else 'ices'}")
        if built.kind == "softmax_of":
            raise ClaimError("softmax(z) needs the class it gives, as in softmax(z)_j")
        what = {"call": built.argument[0] if isinstance(built.argument, tuple) else "", "function": built.argument}
        raise ClaimError(f"{what.get(built.kind) or built.kind} takes an argument")

    # -- sums and products

    def _binary(self, left, op, right) -> Value:
        terms = [(op, right)]
        while isinstance(left, lark.Tree) and left.data == "binary":
            left, op, right = left.children
            terms.append((op, right))
        result = self.value(self.build(left))
        for op, right in reversed(terms):
            result = combine(str(op), result, self.value(self.build(right)))
        return result

    def _unary(self, sign, operand):
        built = self.build(operand)
        if str(sign) == "+":
            return built
        if isinstance(built, Value):
            return negative(built)
        if isinstance(built, tuple):  # --\sum_k ...: the sign of the sign
            return (negative(built[0]), *built[1:])
        return (Value(Fraction(-1)), built)  # -\sum_k ... or -\frac{\partial}{...}: the product folds it

    def _product(self, *children) -> Value:
        items, op, written = [], "*", True
        for child in children:
            if isinstance(child, lark.Tree) and child.data == "mulop":
                op, written = "/" if str(child.children[0]) == "/" else "*", True
                continue
            if not written and self.words.free:
                raise ClaimError("write * between factors: a loss is read in plain notation (w*x, not w x)")
            written = False
            built = self.build(child)
            for n, part in enumerate(built if isinstance(built, tuple) else (built,)):
                items.append((op if n == 0 else "*", part))
            op = "*"
        return self.fold(self.quotients(items))

    def quotients(self, items: list) -> list:
        """da_k/dW_ij and d/dW_ij(...) bind before the rest of the product: dX/dY is one factor."""
        out = []
        for op, item in items:
            previous = out[-1][1] if out else None
            if op == "/" and isinstance(item, Differential) and isinstance(previous, Differential):
                out[-1] = (out[-1][0], Value(sp.Derivative(previous.quantity, item.quantity, evaluate=False)))
            elif op == "/" and isinstance(item, Differential | AppliedDifferential) and previous == Value(S.d):
                operator = Operator("derivative", item.quantity)
                out[-1] = (
                    out[-1][0],
                    operator if isinstance(item, Differential) else self.apply(operator, item.operand),
                )
            else:
                out.append((op, item))
        return out

    def fold(self, items: list):
        """Multiply left to right; an operator takes the rest of the product (a function: the next factor)."""
        result = None
        for position, (op, item) in enumerate(items):
            if isinstance(item, Operator) and item.kind in ("sum", "derivative", "nabla"):
                item = self.apply(item, self.fold(items[position + 1 :]) if position + 1 < len(items) else None)
                return item if result is None else self.times(result, op, item)
            if isinstance(item, Operator) and item.kind == "function" and position + 1 < len(items):
                following = items[position + 1][1]
                if isinstance(following, Operator) and following.kind in ("sum", "derivative", "nabla"):
                    # \log \sum_m e^{z_m}: the function takes the sum, which takes the rest of the product
                    applied = self.call(item.argument, [self.value(self.fold(items[position + 1 :]))])
                    return applied if result is None else self.times(result, op, applied)
                applied = self.call(item.argument, [self.value(following)])
                return self.fold(
                    [*([("*", result)] if result is not None else []), (op, applied), *items[position + 2 :]]
                )
            result = item if result is None else self.times(result, op, item)
        return result

    def times(self, left, op: str, right):
        if isinstance(left, Differential) and isinstance(right, Differential) and op == "/":
            return Value(sp.Derivative(left.quantity, right.quantity, evaluate=False))
        if (
            isinstance(left, Value)
            and left.expr == S.d
            and isinstance(right, Value)
            and op == "*"
            and _is_quantity(right)
        ):
            return Differential(right.expr)  # the "d a_j" of \frac{d a_j}{d z_j}
        return combine(op, self.value(left), self.value(right))

    def apply(self, operator: Operator, operand) -> Value:
        if operand is None:
            raise ClaimError(f"{operator.kind} over {short(str(operator.argument))} has nothing to apply to")
        operand = self.value(operand)
        if operator.kind == "sum":
            return self.sum(operator.argument, operand)
        return Value(sp.Derivative(operand.expr, operator.argument, evaluate=False), operand.terms)

    # -- powers

    def _power(self, base, caret, exponent):
        bracket = self._bracket_power(base, exponent)
        if bracket is not None:
            return bracket
        if _is_transpose(exponent) and self.matrix:
            return Value(sp.Transpose(self.value(self.build(base)).expr))
        if self.matrix and _is(exponent, "postfix") and _is_transpose(exponent.children[0]):
            return self._transpose_times(base, exponent)
        if _is_transpose(exponent):
            raise ClaimError(
                "a transpose (^T) belongs to the matrix form: write it with its left-hand side \\nabla_W H"
            )
        if _token_text(base) == "e" and "e" not in self.words.scalars and not self.words.free:
            return self.call("exp", [self.value(self.build(exponent))])  # e^{z_j}
        return power(self.value(self.build(base)), self.value(self.build(exponent)))

    def _transpose_times(self, base, exponent):
        """X^\top(A - P): the transpose mark takes no argument, so the bracket after it is the next factor."""
        transposed = Value(sp.Transpose(self.value(self.build(base)).expr))
        for suffix in exponent.children[1:]:
            if not _is(suffix, "applied") or len(suffix.children[0].children) != 1:
                raise ClaimError("a transpose (^T) takes no index or argument")
            bracket = lark.Tree("group", [suffix.children[0].children[0]])
            transposed = combine("*", transposed, self.value(self.build(bracket)))
        return transposed

    def _bracket_power(self, base, exponent):
        """x(a - P)^T, P_j(1 - a_j)^2: the exponent belongs to the bracket when the bracket is a factor, not a call."""
        if not (_is(base, "postfix") and len(base.children) > 1 and _is(base.children[-1], "applied")):
            return None
        head = self._postfix(*base.children[:-1])
        arguments = base.children[-1].children[0].children
        if isinstance(head, Operator | Differential) or head == Value(S.sigma) or len(arguments) != 1:
            return None
        if isinstance(head, Vector) and not self.matrix:
            return None
        group = lark.Tree("group", [arguments[0]])
        return combine("*", self.value(head), self._power(group, "^", exponent))

    # -- atoms

    def _number(self, token) -> Value:
        return number(str(token))

    def _group(self, inner):
        return self.value(self.build(inner))

    def _tuple(self, *items):
        raise ClaimError("a tuple is not allowed in a formula")

    def _name(self, token):
        return self.identifier(str(token), [])

    def _command(self, token, tokens: list[str] | None = None):
        name = str(token)[1:]
        if name in TIMES and not tokens:
            return ONE
        if name in FUNCTION_COMMANDS:
            if tokens:
                raise ClaimError(f"{token} takes no index")
            return Operator("function", COMMAND_NAMES[name])
        if name in COMMAND_NAMES:
            return self.identifier(COMMAND_NAMES[name], tokens or [], subscripted=bool(tokens))
        raise ClaimError(f"unknown LaTeX command {short(str(token))}; known: {KNOWN_COMMANDS}")

    def _styled(self, style, inner, tokens: list[str] | None = None):
        name, inner_tokens = (str(inner), []) if isinstance(inner, lark.Token) else self._styled_inner(inner)
        kind = str(style)[1:]
        name = {("hat", "y"): "yhat", ("hat", "Y"): "Yhat", ("mathcal", "L"): "H"}.get((kind, name), name)
        return self.identifier(name, [*inner_tokens, *(tokens or [])], subscripted=bool(tokens or inner_tokens))

    def _styled_inner(self, inner) -> tuple[str, list[str]]:
        name, _, subscript = inner.children
        return str(name), self.index_tokens(subscript) if subscript is not None else []

    def _fraction(self, frac, numerator, denominator):
        top = self._numerator(numerator) if numerator is not None else Operator("partial")
        bottom = self.build(denominator)
        if isinstance(top, Operator) and top.kind == "partial" and isinstance(bottom, Differential):
            return Operator("derivative", bottom.quantity)
        if isinstance(top, Differential) and isinstance(bottom, Differential):
            return Value(sp.Derivative(top.quantity, bottom.quantity, evaluate=False))
        return combine("/", self.value(top), self.value(bottom))

    def _numerator(self, node):
        """\\partial \\log a_k: the differential of a function written as a command takes the rest of the numerator."""
        if _is(node, "product") and _is(node.children[0], "differential"):
            function = node.children[0].children[1]
            built = self.build(function)
            if isinstance(built, Operator) and built.kind == "function":
                rest = lark.Tree("product", [function, *node.children[1:]])
                return Differential(self.value(self.build(rest)).expr)
        return self.build(node)

    def _root(self, sqrt, inner) -> Value:
        return self.call("sqrt", [self.value(self.build(inner))])

    def _bare_partial(self, token):
        return Operator("partial")

    def _differential(self, token, quantity):
        return Differential(self.value(self.build(quantity)).expr)

    def _nabla(self, token, subscript, bound):
        name = _token_text(bound)
        if not self.matrix or name is None or self.layout.symbol(name) is None:
            raise ClaimError(
                r"\nabla_W H is a matrix form: write it as the first line of a derivation (derive check --file)"
            )
        return Operator("derivative", self.layout.symbol(name))

    def _big_sum(self, token, subscript, limit, superscript, bound):
        if limit is None:
            raise ClaimError("a sum needs its index, as in \\sum_k or \\sum_{k=1}^{K}")
        letter = self.sum_letter(limit)
        if bound is not None:
            self.sum_bound(letter, bound)
        return Operator("sum", letter)

    def sum_letter(self, limit) -> str:
        node = limit.children[0] if isinstance(limit, lark.Tree) and limit.data == "limit" else limit
        if isinstance(node, lark.Tree) and node.data == "braced_limit":
            letter, _, start = node.children
            if start is not None and self.value(self.build(start)).value != 1:
                raise ClaimError("sums start at 1")
        else:
            letter = _token_text(node)
        letter = str(letter)
        if letter not in ("k", "m", "l"):
            raise ClaimError(f"sums run over k or m (classes) or l (features), not {short(letter)}")
        return letter

    def sum_bound(self, letter: str, bound) -> None:
        """The upper limit: K (or d for l), or the number the size is (\\sum_{k=1}^2 at K = 2)."""
        expected, role = ("d", INDICES["l"][1]) if letter == "l" else ("K", INDICES[letter][1])
        value = self.build(bound)
        if isinstance(value, Value) and value.expr == (S.d if expected == "d" else S.K):
            return
        if isinstance(value, Value) and value.constant and value.value == self.ranges[role]:
            self.concrete = True  # the writer fixed the size: judged at this size only
            return
        option = "--features" if letter == "l" else "--classes"
        raise ClaimError(
            f"the sum over {letter} runs from 1 to {expected}, or to {self.ranges[role]}, the size {expected} is here"
            f" (another size: {option})"
        )

    # -- postfix chains: names, their subscripts, brackets after them

    def _postfix(self, atom, *suffixes):
        subscripts = []
        while suffixes and _is(suffixes[0], "subscript"):
            subscripts.append(suffixes[0].children[1])
            suffixes = suffixes[1:]
        tokens = [t for sub in subscripts for t in self.index_tokens(sub)]
        built = self.head(atom, tokens) if subscripts else self.build(atom)
        for suffix in suffixes:
            built = self.suffix(built, suffix)
        return built

    def head(self, atom, tokens: list[str]):
        """A name, command or styled name with the indices of its subscripts."""
        if _is(atom, "name"):
            return self.identifier(str(atom.children[0]), tokens, subscripted=True)
        if _is(atom, "command"):
            return self._command(atom.children[0], tokens)
        if _is(atom, "styled"):
            return self._styled(*atom.children, tokens=tokens)
        raise ClaimError("only names take indices, as in P_j or W_{ij}")

    def suffix(self, built, suffix):
        if suffix.data == "applied":
            return self.applied(built, list(suffix.children[0].children))
        if suffix.data == "indexed":
            return self.indexed(built, suffix.children[0].children)
        return self.subscripted_call(built, self.index_tokens(suffix.children[1]))

    def indexed(self, built, items) -> Value:
        """P[j], W[i, j]: the plain notation's indexing."""
        if not isinstance(built, Vector):
            raise ClaimError("only names can be indexed, as in P[j] or W[i, j]")
        tokens = [self.index_token(item) for item in items]
        return Value(self.quantity(f"{built.base}[{', '.join(tokens)}]", built.base, tokens))

    def index_tokens(self, node) -> list[str]:
        """The indices a subscript holds: ij -> [ij] (split by the base), {i,j} -> [i, j], 12 -> [12]."""
        if _is(node, "index"):
            node = node.children[0]
        if _is(node, "index_list"):
            return [self.index_token(item) for item in node.children]
        return [self.index_token(node)]

    def index_token(self, node) -> str:
        while isinstance(node, lark.Tree) and node.data in ("group", "product", "postfix") and len(node.children) == 1:
            node = node.children[0]
        if isinstance(node, lark.Tree) and node.data in ("name", "number"):
            return str(node.children[0])
        raise ClaimError("indices are i, j, k, l, m or whole numbers, as in P[j] or W[1, 2]")


def _is(node, data: str) -> bool:
    return isinstance(node, lark.Tree) and node.data == data


def _is_quantity(value: Value) -> bool:
    return isinstance(value.expr, sp.Indexed | sp.Symbol) and value.expr != S.d


def _is_transpose(node) -> bool:
    text = _token_text(node)
    return text in ("T", "\\top", "\\intercal")


def _token_text(node) -> str | None:
    while isinstance(node, lark.Tree) and len(node.children) == 1:
        node = node.children[0]
    return str(node) if isinstance(node, lark.Token) else None
