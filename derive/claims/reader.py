"""Claims: a formula for dH/dW_ij or dH/db_j typed by a person, parsed by a whitelist.

Nothing the user types is ever evaluated: no ``eval``, ``compile``, ``sympify``
or ``parse_expr``.  Plain notation is read by :func:`ast.parse` (which only
builds a syntax tree) and every node is checked against an allow-list before a
SymPy object is built from the engine's own symbols (:mod:`derive.symbols`), so
``P_j`` here *is* the engine's ``P[j]`` with the engine's assumptions.  LaTeX
is tokenised by a small recursive-descent front end that writes the same plain
notation, which then goes through the same checks.

The names follow the model (:func:`vocabulary`): P, a, z, b, x, W for softmax
regression; y, sigma (or yhat), z, b, w_i, x_i for the single-output models;
lambda and epsilon with the L2 and smoothing add-ons.  User-written losses
(:mod:`derive.userloss`) use the same reader with :data:`LOSS_VOCABULARY`.

Bounds, all checked before anything large is built (see :data:`BOUNDS`):

============  ===============================================================
length        at most 1000 characters, ASCII only (a few Unicode operators
              such as the minus sign are translated)
depth         brackets and operators nested at most 24 deep
nodes         at most 400 syntax-tree nodes
numbers       literals at most 10^6 in magnitude, at most 12 decimals
constants     constant sub-expressions folded exactly, numerator and
              denominator at most 10^12, exp(c) only for c <= 27
exponents     constant, |n| <= 10, denominator <= 10
terms         the fully expanded claim has at most 120 terms (estimated)
K, d          at most 4 (each entry is also checked symbolically)
============  ===============================================================
"""

from __future__ import annotations

import ast
import math
import re
from dataclasses import dataclass, field
from fractions import Fraction

import sympy as sp

from derive.core import symbols as S
from derive.core.errors import InputError

MAX_LENGTH = 1000
MAX_DEPTH = 24
MAX_NODES = 400
MAX_LITERAL = 10**6
MAX_DECIMALS = 12
MAX_CONSTANT = 10**12
MAX_EXP_ARGUMENT = 27
MAX_EXPONENT = 10
MAX_TERMS = 120
#: largest K and d a claim is judged at (each entry is checked symbolically)
MAX_SIZE = 4

BOUNDS = {
    "length": MAX_LENGTH,
    "depth": MAX_DEPTH,
    "nodes": MAX_NODES,
    "literal": MAX_LITERAL,
    "constant": MAX_CONSTANT,
    "exponent": MAX_EXPONENT,
    "terms": MAX_TERMS,
    "classes/features": MAX_SIZE,
}

#: Unicode operators people paste, and their ASCII meaning
TRANSLATIONS = {
    "\u2212": "-", "\u00b7": "*", "\u00d7": "*", "\u22c5": "*",
    # Greek names people paste; spaced so that the LaTeX reader sees a separate factor
    "\u03c3": " sigma ", "\u03bb": " lambda ", "\u03b5": " epsilon ", "\u0177": " yhat ",
}  # fmt: skip
ALLOWED_CHARACTERS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 \t\n+-*/^()[]{},._=\\!;:")


class ClaimError(InputError):
    """A claim that cannot be read: exit 2 with a one-line message."""


class NotationError(ClaimError):
    """The plain notation cannot read the claim; the LaTeX front end may."""


# ---------------------------------------------------------------- vocabulary

FEATURE, CLASS = "feature", "class"

#: base name -> (the engine's IndexedBase, the role of each index)
QUANTITIES: dict[str, tuple[sp.IndexedBase, tuple[str, ...]]] = {
    "P": (S.P, (CLASS,)),
    "a": (S.a, (CLASS,)),
    "z": (S.z, (CLASS,)),
    "b": (S.b, (CLASS,)),
    "x": (S.x, (FEATURE,)),
    "W": (S.W, (FEATURE, CLASS)),
}
DELTA = "delta"

#: index letter -> (the engine's symbol, its role)
INDICES: dict[str, tuple[sp.Symbol, str]] = {
    "i": (S.i, FEATURE),
    "l": (S.l, FEATURE),
    "j": (S.j, CLASS),
    "k": (S.k, CLASS),
    "m": (S.m, CLASS),
}
CONSTANTS: dict[str, sp.Symbol] = {"K": S.K, "d": S.d}
def _sigmoid(u: sp.Expr) -> sp.Expr:
    return 1 / (1 + sp.exp(-u))


#: function name -> (builder, the bound on a constant argument: "exp", "log", "sym" (|c| <= 27), "root" (c >= 0))
FUNCTIONS = {"exp": sp.exp, "log": sp.log, "ln": sp.log, "sigmoid": _sigmoid}
#: further functions a user-written loss may call (their derivatives print in the same terms)
LOSS_FUNCTIONS = {**FUNCTIONS, "sigma": _sigmoid, "cosh": sp.cosh, "sinh": sp.sinh, "tanh": sp.tanh, "sqrt": sp.sqrt}
CONSTANT_DOMAIN = {sp.exp: "exp", sp.log: "log", _sigmoid: "sigmoid", sp.cosh: "sym", sp.sinh: "sym", sp.sqrt: "root"}
#: softmax(u, v, w) = exp(u)/(exp(u) + exp(v) + exp(w)); softmax(z_j) = exp(z_j)/Sum_m exp(z_m)
SOFTMAX = "softmax"
MAX_SOFTMAX_ARGS = 10
#: sum_k(f) = Sum_{k=1..K} f; the index's role gives the range
SUMS = {"sum_k": "k", "sum_m": "m", "sum_l": "l"}

KNOWN = (
    "P_j, a_j, z_j, b_j (class index j, k, m or 1..K), x_i (feature index i, l or 1..d), "
    "W_ij, delta_kj, K, d, exp, log, sum_k(...), Sum(..., (k, 1, K)); also P[j], W[i, j], W_i_j"
)


@dataclass(frozen=True, eq=False)
class Vocabulary:
    """The names a formula may use, which follow the model.

    ``quantities``: base -> (IndexedBase, index roles); ``scalars``: name -> Symbol;
    ``parameters``: the names --wrt accepts -> the parameter; ``free``: a user-written
    loss, where any short name is a real scalar and any ``name_k`` an indexed quantity.
    """

    quantities: dict
    scalars: dict
    parameters: dict
    known: str
    functions: dict = field(default_factory=lambda: FUNCTIONS)
    activation: sp.Symbol | None = None
    free: bool = False

    @property
    def callable_names(self) -> str:
        return ", ".join([*self.functions, *SUMS]) + " and Sum"


SOFTMAX_VOCABULARY = Vocabulary(
    QUANTITIES, dict(CONSTANTS), {"W": S.W[S.i, S.j], "b": S.b[S.j]}, KNOWN,
)  # fmt: skip

SCALAR_KNOWN = "y, {act}, z, b, w_i and x_i (feature index i, l or 1..d), d, exp, log, sigmoid, sum_l(...), Sum(..., (l, 1, d))"


def vocabulary(model=None) -> Vocabulary:
    """The vocabulary of claims about ``model`` (a :class:`derive.models.Model`; None: softmax regression)."""
    if model is None:
        return SOFTMAX_VOCABULARY
    if model.output_index is not None:
        quantities, scalars, parameters, known, act = QUANTITIES, dict(CONSTANTS), SOFTMAX_VOCABULARY.parameters, KNOWN, None
    else:
        act = model.activation
        quantities = {"w": (S.w, (FEATURE,)), "x": (S.x, (FEATURE,))}
        scalars = {"y": S.y, "z": S.logit, "b": S.bias, "d": S.d, str(act): act}
        parameters, known = {"w": S.w[S.i], "b": S.bias}, SCALAR_KNOWN.format(act=act)
    # "lambda" is a Python keyword: the claim's lambda is read as lam (see :func:`parse`)
    extras = {"lam": S.lam} if model.penalty != 0 else {}
    extras.update({"epsilon": S.eps} if model.label_definition is not None else {})
    known += "".join(f", {n}" for n in extras).replace("lam", "lambda")
    return Vocabulary(quantities, {**scalars, **extras}, parameters, known, activation=act)


#: a user-written loss: any name of letters and digits is a real scalar, name_k an indexed quantity
LOSS_VOCABULARY = Vocabulary(
    {}, dict(CONSTANTS), {}, "names of letters and digits (w, b, x1), indexed names z_k, w_i, numbers, "
    f"{', '.join(LOSS_FUNCTIONS)}, softmax(u, v, ...), softmax(z_j), sum_k(...), Sum(f, (k, 1, K))",
    LOSS_FUNCTIONS, None, True,
)  # fmt: skip
FREE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]{0,15}")


@dataclass(frozen=True)
class Claim:
    """A parsed claim: the text as typed, the SymPy expression and what it differentiates by."""

    text: str
    expr: sp.Expr
    wrt: sp.Indexed
    notation: str
    concrete: bool


# ---------------------------------------------------------------- the driver


def parse(
    text: str, wrt: str | None = None, latex: bool | None = None, classes: int = 2, features: int = 2, model=None
) -> Claim:
    """Read ``text`` (plain or LaTeX) as a claim for dH/d(wrt) at K = classes, d = features.

    ``latex=None`` detects LaTeX (a backslash or a brace, or plain notation
    failing where implicit multiplication would succeed).  Raises
    :class:`ClaimError` for anything that is not a bounded formula in the
    vocabulary of ``model`` (:func:`vocabulary`; None: softmax regression).
    """
    words = vocabulary(model)
    sizes(classes, features)
    text = screen(text)
    lhs, body = split_equation(text)
    if "lam" in words.scalars:
        body = re.sub(r"(?<![A-Za-z\\])lambda(?![A-Za-z0-9_])", "lam", body)
    if latex or (latex is None and re.search(r"[\\{}]", text)):
        notation, plain = "latex", from_latex(body)
    else:
        notation, plain = plain_or_latex(body, words)
    reader = Reader(classes, features, words)
    expr = reader.read(plain)
    parameter = parameter_of(lhs, wrt, notation, reader)
    expr = bound_indices(expr, parameter)
    return Claim(text.strip(), expr, parameter, notation, reader.concrete)


def sizes(classes: int, features: int) -> None:
    for name, n in (("classes", classes), ("features", features)):
        if not (isinstance(n, int) and 1 <= n <= MAX_SIZE):
            raise ClaimError(f"--{name} must be a whole number in 1..{MAX_SIZE} (got {n!r})")


def screen(text: str) -> str:
    """Length, characters and bracket depth, before any parsing."""
    if not isinstance(text, str):
        raise ClaimError("the claim must be a string")
    if len(text) > MAX_LENGTH:
        raise ClaimError(f"the claim has {len(text)} characters, more than the limit {MAX_LENGTH}")
    text = "".join(TRANSLATIONS.get(c, c) for c in text)
    for position, char in enumerate(text):
        if char not in ALLOWED_CHARACTERS:
            shown = f"{char!r} (U+{ord(char):04X})" if not char.isascii() else repr(char)
            raise ClaimError(f"character {shown} at position {position + 1} is not allowed in a formula")
    if not text.strip():
        raise ClaimError("the claim is empty")
    depth(text)
    return text


def depth(text: str) -> int:
    """The deepest bracket nesting; unbalanced or too deep brackets are refused."""
    pairs, stack, deepest = {")": "(", "]": "[", "}": "{"}, [], 0
    for char in text:
        if char in "([{":
            stack.append(char)
            deepest = max(deepest, len(stack))
            if len(stack) > MAX_DEPTH:
                raise ClaimError(f"brackets are nested more than {MAX_DEPTH} deep")
        elif char in pairs and (not stack or stack.pop() != pairs[char]):
            raise ClaimError(f"unbalanced {char!r}")
    if stack:
        raise ClaimError(f"unclosed {stack[-1]!r}")
    return deepest


def split_equation(text: str) -> tuple[str | None, str]:
    """'lhs = rhs' -> (lhs, rhs), splitting at an '=' outside brackets (not the one of \\sum_{k=1})."""
    level, cuts = 0, []
    for position, char in enumerate(text):
        level += (char in "([{") - (char in ")]}")
        if char == "=" and level == 0:
            cuts.append(position)
    if len(cuts) > 1:
        raise ClaimError("at most one '=' (an optional left-hand side dH/dW_ij = ...)")
    if not cuts:
        return None, text
    lhs, rhs = text[: cuts[0]], text[cuts[0] + 1 :]
    if not rhs.strip():
        raise ClaimError("nothing after '='")
    return lhs.strip(), rhs


def plain_or_latex(text: str, words: Vocabulary = SOFTMAX_VOCABULARY) -> tuple[str, str]:
    """Plain notation, or LaTeX when plain fails on notation LaTeX reads (e.g. -P_j(1-a_j)x_i)."""
    plain = text.replace("^", "**")
    try:
        Reader(1, 1, words).check_calls(syntax_tree(plain))
        return "plain", plain
    except NotationError as plain_error:
        try:
            return "latex", from_latex(text)
        except ClaimError:
            raise plain_error from None


def syntax_tree(text: str) -> ast.Expression:
    """``ast.parse`` (which executes nothing) of bounded text, plus depth and node bounds."""
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as err:
        message = getattr(err, "msg", None) or str(err) or type(err).__name__
        raise NotationError(f"cannot read the formula: {message}") from None
    nodes = sum(1 for _ in ast.walk(tree))
    if nodes > MAX_NODES:
        raise ClaimError(f"the formula has {nodes} syntax nodes, more than the limit {MAX_NODES}")
    if tree_depth(tree) > MAX_DEPTH:
        raise ClaimError(f"the formula is nested more than {MAX_DEPTH} deep")
    return tree


def tree_depth(tree: ast.AST) -> int:
    """Nesting depth, counting a chain of + and - (or of * and /) as one level; iterative."""
    deepest, stack = 0, [(tree, 0, None)]
    while stack:
        node, level, parent = stack.pop()
        group = _group(node)
        level = level if group is not None and group == parent else level + 1
        deepest = max(deepest, level)
        stack.extend((child, level, group) for child in ast.iter_child_nodes(node))
    return deepest


def _group(node: ast.AST) -> str | None:
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub)):
        return "add"
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Mult, ast.Div)):
        return "mul"
    return None


# ---------------------------------------------------------------- plain notation -> SymPy


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
            raise ClaimError(f"the number {_short(value)} is larger than the limit {MAX_LITERAL}")
        exact = Fraction(repr(value)) if isinstance(value, float) else Fraction(value)
        if exact.denominator > 10**MAX_DECIMALS:
            raise ClaimError(f"the number {_short(value)} has more than {MAX_DECIMALS} decimals")
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
                raise ClaimError(f"{name}: the {role} index must be one of {allowed} or 1..{self.ranges[role]}, not {token}")
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
        if _group(node) is not None:
            return self.chain(node)
        if not isinstance(node.op, ast.Pow):
            raise ClaimError(f"{_describe(node)} is not allowed in a formula")
        return self.power(self.node(node.left), self.node(node.right))

    def chain(self, node: ast.BinOp) -> Value:
        """a + b - c (or a * b / c) as one flat chain: long sums do not count as deep nesting."""
        group, operands = _group(node), []
        while _group(node) == group:
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
            raise ClaimError(f"the exponent {_short(n)} is outside the limit |n| <= {MAX_EXPONENT}")
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
            return self.softmax([self.node(a) for a in args[:MAX_SOFTMAX_ARGS + 1]])
        if len(args) != 1:
            raise ClaimError(f"{name} takes one argument")
        if name in SUMS:
            return self.sum(SUMS[name], self.node(args[0]))
        return self.function(name, self.node(args[0]))

    def callable(self, name: str) -> bool:
        sigma = name == "sigma" and self.words.activation == S.sigma
        return name in self.words.functions or name in SUMS or name == "Sum" or (self.words.free and name == SOFTMAX) or sigma

    def function(self, name: str, argument: Value) -> Value:
        """exp(f), log(f), sigmoid(f) ...; a constant argument is bounded (exp) or in the domain (log)."""
        builder = self.words.functions[name]
        if argument.expr.is_number:
            number = float(argument.expr.evalf(15))  # a bounded constant: exact parts are <= 1e12
            domain = CONSTANT_DOMAIN.get(builder)
            big = {"exp": number, "sigmoid": -number, "sym": abs(number)}.get(domain, 0)
            if big > MAX_EXP_ARGUMENT:
                raise ClaimError(f"{name}({_short(number)}) is larger than the limit exp({MAX_EXP_ARGUMENT})")
            if (domain == "log" and not number > 0) or (domain == "root" and number < 0):
                raise ClaimError(f"{name}({_short(number)}) is not a real number")
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
            return Value(sp.exp(args[0].expr) / sp.Add(*(sp.exp(a.expr) for a in args)), _terms(len(args)))
        (one,) = args
        if not (isinstance(one.expr, sp.Indexed) and len(one.expr.indices) == 1 and one.expr.indices[0].is_Symbol):
            raise ClaimError("softmax takes the listed symbols, softmax(u, v, w), or one indexed logit, softmax(z_j)")
        (q,) = one.expr.indices
        dummy = S.m if q != S.m else S.k
        upper = S.d if INDICES.get(str(q), (None, CLASS))[1] == FEATURE else S.K
        dummy = S.l if upper == S.d and q != S.l else dummy
        total = sp.Sum(sp.exp(one.expr.base[dummy]), (dummy, 1, upper))
        return Value(sp.exp(one.expr) / total, _terms(MAX_SIZE))

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
        fold = {ast.Add: lambda p, q: p + q, ast.Sub: lambda p, q: p - q, ast.Mult: lambda p, q: p * q, ast.Div: lambda p, q: p / q}
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
    if isinstance(node, ast.BinOp):
        kind = f"the operator {type(node.op).__name__}"
    elif isinstance(node, ast.UnaryOp):
        kind = f"the operator {type(node.op).__name__}"
    elif isinstance(node, ast.Constant):
        kind = f"the constant {type(node.value).__name__} {_short(node.value)}"
    return names.get(kind, kind)


def _short(value) -> str:
    text = str(value)
    return text if len(text) <= 24 else text[:20] + "..."


def unknown(name: str, words: Vocabulary = SOFTMAX_VOCABULARY) -> ClaimError:
    return ClaimError(f"unknown name {_short(name)!r}; known: {words.known}")


def bound_indices(expr: sp.Expr, parameter: sp.Indexed) -> sp.Expr:
    """Every index must be bound by a sum, or be a free index of the parameter (i, j for W_ij)."""
    free = {s for s in expr.free_symbols if s in {sym for sym, _ in INDICES.values()}}
    extra = free - set(getattr(parameter, "indices", ()))
    if extra:
        names = ", ".join(sorted(map(str, extra)))
        allowed = " and ".join(map(str, getattr(parameter, "indices", ()))) or "no index"
        raise ClaimError(f"index {names} is not bound by a sum (a formula for dH/d{S.key(parameter)} may use only {allowed} freely)")
    return expr


# ---------------------------------------------------------------- the left-hand side


def parameter_of(lhs: str | None, wrt: str | None, notation: str, reader: Reader) -> sp.Indexed:
    """The parameter the claim differentiates by: --wrt, checked against the left-hand side if given."""
    table = reader.words.parameters
    chosen = _parameter(wrt, table) if wrt is not None else None
    if lhs is None:
        return chosen if chosen is not None else next(iter(table.values()))
    named = lhs_parameter(lhs, notation, reader)
    if chosen is not None and chosen != named:
        raise ClaimError(f"the left-hand side differentiates by {S.key(named)} but --wrt is {wrt}")
    return named


def _parameter(wrt: str, table: dict) -> sp.Basic:
    if wrt not in table:
        raise ClaimError(f"--wrt must be {' or '.join(table)} for this model, not {_short(wrt)!r}")
    return table[wrt]


_PLAIN_LHS = re.compile(r"^d\s*H\s*/\s*d\s*(?P<name>.+)$")
_LATEX_LHS = re.compile(r"^(?:\\frac\s*\{\s*\\partial\s*H\s*\}\s*\{\s*\\partial\s*(?P<a>.+)\}|\\partial\s*H\s*/\s*\\partial\s*(?P<b>.+))$")


def lhs_parameter(lhs: str, notation: str, reader: Reader) -> sp.Indexed:
    """'dH/dW_ij' or '\\frac{\\partial H}{\\partial W_{i,j}}' -> W[i, j] (only W_ij and b_j)."""
    plain, latex = _PLAIN_LHS.match(lhs), _LATEX_LHS.match(lhs)
    name = plain.group("name") if plain else latex and (latex.group("a") or latex.group("b"))
    if not name:
        raise ClaimError("the left-hand side must be dH/dW_ij, dH/db_j or \\frac{\\partial H}{\\partial W_{i,j}}")
    plain = from_latex(name) if "\\" in name or "{" in name or notation == "latex" else name
    value = Reader(reader.ranges[CLASS], reader.ranges[FEATURE], reader.words).read(plain)
    for parameter in reader.words.parameters.values():
        if value == parameter:
            return parameter
    shown = " or ".join(_text(p) for p in reader.words.parameters.values())
    raise ClaimError(f"the left-hand side must differentiate by {shown}, not {_short(name.strip())}")


def _text(parameter: sp.Basic) -> str:
    if isinstance(parameter, sp.Indexed):
        return f"{parameter.base}_{''.join(map(str, parameter.indices))}"
    return str(parameter)


# ---------------------------------------------------------------- LaTeX -> plain notation

_TOKEN = re.compile(
    r"(?P<command>\\[a-zA-Z]+|\\[,;:! ])|(?P<number>\d+(?:\.\d+)?|\.\d+)|(?P<word>exp|log|ln|sigmoid|sigma|yhat|lambda|lam|epsilon)(?![a-zA-Z])"
    r"|(?P<letter>[a-zA-Z])|(?P<op>\*\*|[-+*/^_(){}\[\],=])|(?P<space>\s+)|(?P<other>.)"
)
SPACING = {"\\,", "\\;", "\\:", "\\!", "\\ ", "\\quad", "\\qquad"}
TIMES = {"*", "\\cdot", "\\times"}
LATEX_FUNCTIONS = {"\\exp": "exp", "\\log": "log", "\\ln": "log", "exp": "exp", "log": "log", "ln": "log"}
OPENERS = {"(": ")", "[": "]", "{": "}"}
#: names written as LaTeX commands or words, and their plain spelling (\hat{y} is read apart)
LATEX_NAMES = {
    "\\sigma": "sigma", "sigma": "sigma", "\\lambda": "lam", "lambda": "lam", "lam": "lam", "\\epsilon": "epsilon",
    "\\varepsilon": "epsilon", "epsilon": "epsilon", "yhat": "yhat", "sigmoid": "sigmoid",
}  # fmt: skip
COMMANDS = "\\frac, \\left, \\right, \\cdot, \\times, \\sum, \\exp, \\log, \\ln, \\delta, \\partial, \\sigma, \\hat{y}, \\lambda, \\epsilon, spacing"


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    start: int
    end: int


def tokens(text: str) -> list[Token]:
    out = []
    for match in _TOKEN.finditer(text):
        kind = match.lastgroup
        if kind == "space" or match.group() in SPACING:
            continue
        if kind == "other":
            raise ClaimError(f"character {match.group()!r} at position {match.start() + 1} is not allowed in LaTeX")
        out.append(Token(kind, match.group(), match.start(), match.end()))
    return out


def from_latex(text: str) -> str:
    """LaTeX (or plain with implicit multiplication) -> plain notation, e.g. -P_j(1-a_j)x_i -> -(P_j*(1-a_j)*x_i)."""
    return LatexReader(tokens(text)).read()


def nested(method):
    """Count the recursion of the descent: signs, powers and functions nest without brackets."""

    def guarded(self, *args):
        self.level += 1
        try:
            if self.level > 2 * MAX_DEPTH:
                raise ClaimError(f"the formula is nested more than {MAX_DEPTH} deep")
            return method(self, *args)
        finally:
            self.level -= 1

    guarded.__doc__ = method.__doc__
    return guarded


class LatexReader:
    """Recursive descent over LaTeX tokens; every method returns plain notation."""

    def __init__(self, toks: list[Token]):
        self.toks, self.pos, self.level = toks, 0, 0

    def read(self) -> str:
        if not self.toks:
            raise NotationError("the formula is empty")
        out = self.expression()
        if self.pos < len(self.toks):
            raise NotationError(f"unexpected {self.peek().text!r} at position {self.peek().start + 1}")
        return out

    def peek(self, offset: int = 0) -> Token | None:
        at = self.pos + offset
        return self.toks[at] if at < len(self.toks) else None

    def take(self, text: str | None = None) -> Token:
        token = self.peek()
        if token is None or (text is not None and token.text != text):
            where = f"{token.text!r} at position {token.start + 1}" if token else "the end"
            raise NotationError(f"expected {text or 'more'} but found {where}")
        self.pos += 1
        return token

    @nested
    def expression(self) -> str:
        parts = []
        if self.peek() and self.peek().text in "+-":
            parts.append(self.take().text)
        parts.append(self.term())
        while self.peek() and self.peek().text in ("+", "-"):
            parts += [self.take().text, self.term()]
        return "(" + " ".join(parts) + ")"

    def term(self) -> str:
        factors = [self.factor()]
        while self.peek() is not None:
            token = self.peek()
            if token.text in TIMES:
                self.take()
                factors += ["*", self.signed_factor()]
            elif token.text == "/":
                self.take()
                factors += ["/", self.signed_factor()]
            elif self.starts_factor(token):
                factors += ["*", self.factor()]
            else:
                break
        return "(" + "".join(factors) + ")"

    @nested
    def signed_factor(self) -> str:
        if self.peek() and self.peek().text == "-":
            self.take()
            return "(-" + self.signed_factor() + ")"
        return self.factor()

    def starts_factor(self, token: Token) -> bool:
        return token.kind in ("number", "letter", "word") or token.text in ("(", "[", "{", "\\left", "\\frac", "\\sum", "\\delta") or token.text in LATEX_FUNCTIONS or token.text in LATEX_NAMES or token.text == "\\hat"

    @nested
    def factor(self) -> str:
        token = self.peek()
        if token is not None and token.text == "\\sum":
            return self.sum()
        base = self.atom()
        if self.peek() is not None and self.peek().text in ("^", "**"):
            self.take()
            return f"({base})**({self.group_or_single()})"
        return base

    def atom(self) -> str:
        token = self.take()
        if token.kind == "number":
            return token.text
        if token.text in OPENERS:
            inner = self.expression()
            self.take(OPENERS[token.text])
            return inner
        if token.text == "\\left":
            opener = self.take()
            if opener.text not in ("(", "["):
                raise NotationError("\\left must be followed by ( or [")
            inner = self.expression()
            self.take("\\right")
            self.take(OPENERS[opener.text])
            return inner
        if token.text == "\\frac":
            return f"({self.group()})/({self.group()})"
        if token.text in LATEX_FUNCTIONS:
            return f"{LATEX_FUNCTIONS[token.text]}({self.argument()})"
        if token.text == "\\delta":
            return self.name("delta", token)
        if token.text in LATEX_NAMES:
            return self.named(LATEX_NAMES[token.text])
        if token.text == "\\hat":
            if self.group() != "((y))":
                raise ClaimError("\\hat is only read as \\hat{y}, the prediction")
            return "yhat"
        if token.kind == "letter":
            if token.text == "e" and self.peek() is not None and self.peek().text == "^":
                self.take()
                return f"exp({self.group_or_single()})"
            return self.name(token.text, token)
        if token.kind == "command":
            raise ClaimError(f"unknown LaTeX command {token.text}; known: {COMMANDS}")
        raise NotationError(f"unexpected {token.text!r} at position {token.start + 1}")

    def named(self, name: str) -> str:
        """sigma, lambda ...; sigma(...) and sigmoid(...) stay calls: the plain reader decides what they mean."""
        following = self.peek()
        if name in ("sigma", "sigmoid") and following is not None and following.text in ("(", "\\left"):
            return f"{name}({self.atom()})"
        return name

    def group(self) -> str:
        self.take("{")
        inner = self.expression()
        self.take("}")
        return inner

    @nested
    def group_or_single(self) -> str:
        token = self.peek()
        if token is not None and token.text == "{":
            return self.group()
        if token is not None and token.text == "-":
            self.take()
            return "-" + self.group_or_single()
        return self.atom()

    def argument(self) -> str:
        """\\exp(z_j), \\exp{z_j} or \\log a_j."""
        return self.factor()

    def name(self, base: str, token: Token) -> str:
        """P_j, W_{i,j}, W_ij, W_{12}, \\delta_{kj} -> P_j, W_i_j, W_i_j, W_1_2, delta_k_j."""
        if self.peek() is None or self.peek().text != "_":
            return base
        self.take("_")
        indices = self.braced_indices() if self.peek() and self.peek().text == "{" else self.bare_indices(base)
        if base in ("W", "delta") and len(indices) == 1 and len(indices[0]) == 2 and indices[0].isdigit():
            indices = list(indices[0])
        return "_".join([base, *indices])

    def braced_indices(self) -> list[str]:
        """{i,j} or {1,12}: comma-separated; {ij} or {kj}: one index per letter or number."""
        self.take("{")
        parts, commas = [[]], False
        while self.peek() is not None and self.peek().text != "}":
            token = self.take()
            if token.text == ",":
                parts.append([])
                commas = True
            elif token.kind in ("letter", "number"):
                parts[-1].append(token.text)
            else:
                raise NotationError(f"unexpected {token.text!r} in a subscript at position {token.start + 1}")
        self.take("}")
        indices = ["".join(p) for p in parts] if commas else parts[0]
        if not indices or not all(indices):
            raise NotationError("empty index in a subscript")
        return indices

    def bare_indices(self, base: str) -> list[str]:
        """P_j, W_ij (two adjacent characters for W and delta), W_12."""
        first = self.take()
        if first.kind not in ("letter", "number"):
            raise NotationError(f"unexpected {first.text!r} in a subscript at position {first.start + 1}")
        indices = [first.text]
        follower = self.peek()
        adjacent = follower is not None and follower.start == first.end and len(first.text) == 1
        if base in ("W", "delta") and adjacent and follower.kind in ("letter", "number") and len(follower.text) == 1:
            indices.append(self.take().text)
        return indices

    def sum(self) -> str:
        """\\sum_k f, \\sum_{k=1}^{K} f: the summand is the rest of the product."""
        self.take("\\sum")
        self.take("_")
        letter = self.sum_index()
        if self.peek() is not None and self.peek().text == "^":
            self.take()
            upper = self.group_or_single()
            expected = "d" if letter == "l" else "K"
            if upper.replace("(", "").replace(")", "").strip() != expected:
                raise ClaimError(f"the sum over {letter} runs from 1 to {expected}")
        return f"sum_{letter}({self.term()})"

    def sum_index(self) -> str:
        braced = self.peek() is not None and self.peek().text == "{"
        if braced:
            self.take("{")
        letter = self.take().text
        if letter not in ("k", "m", "l"):
            raise ClaimError(f"sums run over k or m (classes) or l (features), not {_short(letter)}")
        if braced:
            if self.peek() is not None and self.peek().text == "=":
                self.take("=")
                self.take("1")
            self.take("}")
        return letter
