"""The bounds on what people type, checked before anything large is built, and the errors that break them.

============  ===============================================================
length        at most 1000 characters for a formula, 8000 and 20 lines for a
              whole derivation; ASCII only (a few Unicode operators such as
              the minus sign are translated)
depth         brackets and operators nested at most 24 deep
nodes         at most 2000 syntax-tree nodes in a line
numbers       literals at most 10^6 in magnitude, at most 12 decimals
constants     constant sub-expressions folded exactly, numerator and
              denominator at most 10^12, exp(c) only for c <= 27
exponents     constant, |n| <= 10, denominator <= 10
terms         the fully expanded claim has at most 120 terms (estimated)
K, d          at most 4 (each entry is also checked symbolically)
============  ===============================================================

The grammar (``grammar.lark``) only builds a syntax tree; nothing the user types is ever evaluated.
"""

from __future__ import annotations

import re

from derive.core.errors import InputError
from derive.notation.annotations import blanked

MAX_LENGTH = 1000
#: a whole derivation (derive check --file): characters and lines
MAX_DERIVATION, MAX_LINES = 8000, 20
MAX_DEPTH = 24
MAX_NODES = 2000
MAX_LITERAL = 10**6
MAX_DECIMALS = 12
MAX_CONSTANT = 10**12
MAX_EXP_ARGUMENT = 27
MAX_EXPONENT = 10
MAX_TERMS = 120
#: largest K and d a claim is judged at (each entry is checked symbolically)
MAX_SIZE = 4

#: Unicode operators people paste, and their ASCII meaning
TRANSLATIONS = {
    "\u2212": "-", "\u2013": "-", "\u00b7": "*", "\u00d7": "*", "\u22c5": "*", "\ufeff": " ", "\u00a0": " ",
    "\u2202": "\\partial ",
    # Greek names people paste; spaced so that the LaTeX reader sees a separate factor
    "\u03c3": " sigma ", "\u03bb": " lambda ", "\u03b5": " epsilon ", "\u0177": " yhat ",
}  # fmt: skip
ALLOWED_CHARACTERS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 \t\r\n+-*/^()[]{},._=\\!;:&$")


class ClaimError(InputError):
    """A claim that cannot be read: exit 2 with a one-line message."""


def sizes(classes: int, features: int) -> None:
    for name, n in (("classes", classes), ("features", features)):
        if not (isinstance(n, int) and 1 <= n <= MAX_SIZE):
            raise ClaimError(f"--{name} must be a whole number in 1..{MAX_SIZE} (got {n!r})")


def screen(text: str, limit: int = MAX_LENGTH, what: str = "the claim") -> str:
    """Length, characters and bracket depth, before any parsing."""
    if not isinstance(text, str):
        raise ClaimError(f"{what} must be a string")
    if len(text) > limit:
        raise ClaimError(f"{what} has {len(text)} characters, more than the limit {limit}")
    text = "".join(TRANSLATIONS.get(c, c) for c in blanked(text))
    for position, char in enumerate(text):
        if char not in ALLOWED_CHARACTERS:
            shown = f"{char!r} (U+{ord(char):04X})" if not char.isascii() else repr(char)
            raise ClaimError(f"{where(text, position)}: character {shown} is not allowed in a formula")
    if not text.strip():
        raise ClaimError("the claim is empty")
    depth(text)
    return text


def depth(text: str) -> int:
    """The deepest bracket nesting; unbalanced or too deep brackets are refused, saying where."""
    pairs, stack, deepest = {")": "(", "]": "[", "}": "{"}, [], 0
    for position, char in enumerate(text):
        if char in "([{":
            stack.append((char, position))
            deepest = max(deepest, len(stack))
            if len(stack) > MAX_DEPTH:
                raise ClaimError(f"{where(text, position)}: brackets are nested more than {MAX_DEPTH} deep")
        elif char in pairs and (not stack or stack.pop()[0] != pairs[char]):
            raise ClaimError(f"{where(text, position)}: unbalanced {char!r}")
    if stack:
        char, position = stack[-1]
        raise ClaimError(f"{where(text, position)}: unclosed {char!r}")
    return deepest


#: where a line of a derivation ends, in LaTeX (a new line of text is only a space there) and in plain text
_LATEX_BREAK, _NEW_LINE = re.compile(r"\\\\"), re.compile(r"\n")


def where(text: str, position: int | None) -> str:
    """ "line 2, character 5" in a derivation of several lines (the character counted on its line of text),
    "character 5" in a formula of one line."""
    position = len(text) if position is None or position < 0 else min(position, len(text))
    breaks = _LATEX_BREAK if "\\\\" in text else _NEW_LINE
    before = [found.end() for found in breaks.finditer(text, 0, position)]
    start = max(before[-1] if before else 0, text.rfind("\n", 0, position) + 1)
    character = position - start + 1
    lines = breaks.search(text) is not None
    return f"line {len(before) + 1}, character {character}" if lines else f"character {character}"


def short(value) -> str:
    text = str(value)
    return text if len(text) <= 24 else text[:20] + "..."
