"""LaTeX -> plain notation: a small tokeniser and a recursive descent that writes what the plain reader reads.

``-P_j(1-a_j)x_i`` becomes ``(-(P_j*((1-a_j))*x_i))``; ``\\frac{a}{b}``, ``\\left(\\right)``,
``\\cdot``, ``\\sum_{k=1}^{K}`` (the sum covers the rest of the product), ``e^{z_j}``,
``\\delta_{kj}``, ``\\sigma``, ``\\hat{y}``, ``\\lambda``, ``\\epsilon``.  The output goes
through the same checks as typed plain notation (:mod:`derive.claims.plain`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from derive.claims.bounds import MAX_DEPTH, ClaimError, NotationError, short

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
        return (
            token.kind in ("number", "letter", "word")
            or token.text in ("(", "[", "{", "\\left", "\\frac", "\\sum", "\\delta")
            or token.text in LATEX_FUNCTIONS
            or token.text in LATEX_NAMES
            or token.text == "\\hat"
        )

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
            raise ClaimError(f"sums run over k or m (classes) or l (features), not {short(letter)}")
        if braced:
            if self.peek() is not None and self.peek().text == "=":
                self.take("=")
                self.take("1")
            self.take("}")
        return letter
