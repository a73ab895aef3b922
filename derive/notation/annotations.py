r"""What carries no mathematics in what people type: comments, annotations, trailing punctuation.

:func:`blanked` runs before the characters are screened.  It replaces with spaces (so that error
positions still point into the text as typed): ``%`` comments; on each line of a derivation, an
annotation and everything after it -- the second alignment column ``&& ...``, or a ``\text{...}``
(``\mbox``, ``\textrm``, ``\intertext``) that is prose, together with a bracket or a ``\quad``
opened just before it; and a full stop or comma that ends a line.  A ``\text{softmax}`` that names
a function is kept, read as ``\mathrm{softmax}``; ``\frac12`` is ``\frac{1}{2}``.

>>> blanked(r"= (a_j - P_j) x_i \quad \text{since } \sum_k P_k = 1 \\ = x_i.")
'= (a_j - P_j) x_i                                      \\\\ = x_i '
>>> blanked(r"\text{softmax}(z)_j % the prediction")
'\\mathrm{softmax}(z)_j                 '
"""

from __future__ import annotations

import re

#: words that name a function when written as \text{...}
FUNCTION_WORDS = ("softmax", "sigmoid", "sigma", "tanh", "exp", "log", "ln", "logsumexp", "softplus", "relu")
_COMMENT = re.compile(r"(?<!\\)%[^\n]*")
_FUNCTION_TEXT = re.compile(r"\\(?:text|textrm|mbox)\{(" + "|".join(FUNCTION_WORDS) + r")\}")
_FRACTION_DIGITS = re.compile(r"\\([dt]?frac)(\d)(\d)")
#: where a line of a derivation ends
_LINE_END = re.compile(r"\\\\|\\end\{|$")
#: where an annotation begins: the second alignment column, or prose in text mode
_ANNOTATION = re.compile(r"&&|\\(?:text|textrm|mbox|intertext)\{")
#: what may open an annotation just before it: a bracket, sizing, spacing
_OPENER = re.compile(r"(?:\\q?quad|\\left|\\[,;:!])?\s*[(\[]?\s*(?:\\q?quad|\\[,;:!])?\s*$")
_TRAILING = re.compile(r"(?<!\\)[.,;:]\s*$")


def blanked(text: str) -> str:
    """``text`` without its comments, annotations and line-ending punctuation (blanked with spaces)."""
    text = _COMMENT.sub(lambda m: " " * len(m.group()), text)
    text = _FUNCTION_TEXT.sub(r"\\mathrm{\1}", text)
    text = _FRACTION_DIGITS.sub(r"\\\1{\2}{\3}", text)
    return _by_line(text)


def _by_line(text: str) -> str:
    pieces, start = [], 0
    while start <= len(text):
        end = _LINE_END.search(text, start)
        pieces.append(_line(text[start : end.start()]))
        if end.group() == "":
            break
        pieces.append(end.group())
        start = end.end()
    return "".join(pieces)


def _line(line: str) -> str:
    found = _ANNOTATION.search(line)
    if found is not None:
        cut = _OPENER.search(line, 0, found.start()).start()
        line = line[:cut] + " " * (len(line) - cut)
    trailing = _TRAILING.search(line)
    return line if trailing is None else line[: trailing.start()] + " " * (len(line) - trailing.start())
