r"""The syntax of what people type: one lark grammar for plain notation and LaTeX, lines and sides.

:func:`tree` parses screened text (:func:`derive.notation.bounds.screen`) with the LALR parser of
``grammar.lark`` into a lark ``Tree``, which holds only tokens: nothing is evaluated.  A parse
error becomes one line saying where (line and character) and what was expected; the tree's
depth and size are bounded before anything walks it (:func:`bounded`).

>>> lines = [child for child in tree(r"dH/dW_ij = x_i \\ = x_i").children if hasattr(child, "data")]
>>> [[type(side).__name__ for side in line.children] for line in lines]
[['Tree', 'Token', 'Tree'], ['NoneType', 'Token', 'Tree']]
"""

from __future__ import annotations

from functools import cache
from importlib import resources

import lark

from derive.notation.bounds import MAX_DEPTH, MAX_NODES, ClaimError, short, where
from derive.notation.commands import refuse_unknown

#: what the tokens of the grammar are called in messages
TOKEN_WORDS = {
    "ADDOP": "+ or -", "SIGN": "a sign", "MULOP": "* or /", "SUPERSCRIPT": "^", "SUBSCRIPT": "_", "EQUALS": "=",
    "LINEBREAK": "\\\\", "NAME": "a name", "NUMBER": "a number", "COMMAND": "a LaTeX command", "FRAC": "\\frac",
    "SUM": "\\sum", "PARTIAL": "\\partial", "LPAR": "(", "RPAR": ")", "LBRACE": "{", "RBRACE": "}", "LSQB": "[",
    "RSQB": "]", "COMMA": ",", "$END": "the end", "SQRT": "\\sqrt", "STYLE": "\\hat", "NABLA": "\\nabla",
}  # fmt: skip


@cache
def parser() -> lark.Lark:
    """The LALR parser of ``grammar.lark`` (built once per process, in about 70 ms)."""
    grammar = resources.files("derive.notation").joinpath("grammar.lark").read_text(encoding="utf-8")
    return lark.Lark(grammar, parser="lalr", lexer="contextual", maybe_placeholders=True, propagate_positions=True)


def tree(text: str) -> lark.Tree:
    """The parse tree of ``text``, bounded in depth and size; ClaimError saying where it cannot be read."""
    refuse_unknown(text)
    try:
        parsed = parser().parse(text)
    except lark.exceptions.UnexpectedCharacters as err:
        raise ClaimError(
            f"{where(text, err.pos_in_stream)}: {short(text[err.pos_in_stream])!r} is not allowed here"
        ) from None
    except lark.exceptions.UnexpectedToken as err:
        if err.token.type == "$END":
            raise ClaimError(
                f"{where(text, len(text))}: the formula ends too early; expected {_expected(err.expected)}"
            ) from None
        found = repr(short(str(err.token)))
        raise ClaimError(
            f"{where(text, err.pos_in_stream)}: unexpected {found}; expected {_expected(err.expected)}"
        ) from None
    except lark.exceptions.UnexpectedEOF as err:
        raise ClaimError(f"the formula ends too early; expected {_expected(err.expected)}") from None
    return bounded(parsed)


def _expected(names) -> str:
    words = sorted({TOKEN_WORDS.get(n, n.lower()) for n in names})
    return ", ".join(words[:6]) + (" ..." if len(words) > 6 else "")


def bounded(parsed: lark.Tree) -> lark.Tree:
    """The tree itself, when each line has at most MAX_NODES nodes and MAX_DEPTH levels of brackets and
    operators.  Flat lists (the factors of a product, the terms of a sum, the lines) do not count as depth."""
    for line in parsed.children:
        if isinstance(line, lark.Tree):
            _bound(line)
    return parsed


def _bound(line: lark.Tree) -> None:
    nodes, deepest, stack = 0, 0, [(line, 0)]
    while stack:
        node, level = stack.pop()
        nodes += 1
        if nodes > MAX_NODES:
            raise ClaimError(f"a line has more than {MAX_NODES} syntax nodes")
        if isinstance(node, lark.Tree):
            step = 0 if node.data in FLAT else 1
            deepest = max(deepest, level + step)
            stack.extend((child, level + step) for child in node.children if child is not None)
    if deepest > 2 * MAX_DEPTH:
        raise ClaimError(f"the formula is nested more than {MAX_DEPTH} deep")


#: nodes that hold flat lists, or that only wrap one child: they add no depth
FLAT = frozenset({"start", "line", "product", "binary", "postfix", "arguments", "mulop", "index", "group"})
