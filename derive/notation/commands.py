r"""The LaTeX commands a formula may use, and the refusal of every other one by name.

The grammar (``grammar.lark``) knows its own commands (``\frac``, ``\sum``, ``\partial``,
``\nabla``, ``\hat`` ..., spacing, sizing, annotations, environments); the builder gives the others
their meaning (:data:`COMMAND_NAMES`, :data:`FUNCTION_COMMANDS`, :data:`TIMES`, :data:`TRANSPOSE`).
:func:`refuse_unknown` runs before parsing, so that ``\input``, ``\write18`` or ``\def`` is refused
as what it is rather than as a syntax error somewhere after it.

>>> refuse_unknown(r"\frac{\partial H}{\partial W_{ij}} = x_i \\ = x_i")
>>> refuse_unknown(r"\input{/etc/passwd}")
Traceback (most recent call last):
...
derive.notation.bounds.ClaimError: character 1: unknown LaTeX command \input; known: \frac, \partial, \sum, \nabla, \left, \right, \cdot, \times, \exp, \log, \ln, \delta, \sigma, \hat, \mathrm, \operatorname, \mathcal, \text, \top, \lambda, \epsilon, \begin{align}, spacing
"""

from __future__ import annotations

import re

from derive.notation.bounds import ClaimError, short, where

#: LaTeX commands that name something, and the name they stand for
COMMAND_NAMES = {
    "sigma": "sigma", "lambda": "lam", "epsilon": "epsilon", "varepsilon": "epsilon", "delta": "delta",
    "exp": "exp", "log": "log", "ln": "log", "tanh": "tanh", "cosh": "cosh", "sinh": "sinh",
}  # fmt: skip
#: commands that are functions: written before their argument (\log a_j) they apply to the next factor
FUNCTION_COMMANDS = {"exp", "log", "tanh", "cosh", "sinh"}
#: commands that multiply (\cdot, \times), and exponents that mark a transpose
TIMES, TRANSPOSE = {"cdot", "times"}, {"top", "intercal"}
#: the commands of the grammar itself (its tokens FRAC, SQRT, SUM, PARTIAL, NABLA, STYLE and the ignored ones)
GRAMMAR = {
    "frac", "dfrac", "tfrac", "sqrt", "sum", "partial", "nabla",
    "hat", "mathrm", "operatorname", "mathcal", "mathbf", "boldsymbol", "bm", "mathit", "textrm",
    "quad", "qquad", "left", "right", "big", "Big", "bigg", "Bigg", "bigl", "bigr", "Bigl", "Bigr",
    "biggl", "biggr", "Biggl", "Biggr", "text", "mbox", "label", "tag", "nonumber", "notag", "displaystyle",
    "limits", "nolimits",
    "begin", "end",
}  # fmt: skip
KNOWN = frozenset(GRAMMAR | set(COMMAND_NAMES) | TIMES | TRANSPOSE)
KNOWN_COMMANDS = (
    "\\frac, \\partial, \\sum, \\nabla, \\left, \\right, \\cdot, \\times, \\exp, \\log, \\ln, \\delta, \\sigma, "
    "\\hat, \\mathrm, \\operatorname, \\mathcal, \\text, \\top, \\lambda, \\epsilon, \\begin{align}, spacing"
)
#: a line break (two backslashes) or a command: scanned left to right, so that x \\ y holds no command \y
_COMMAND = re.compile(r"\\\\|\\([A-Za-z]+)")


def refuse_unknown(text: str) -> None:
    """ClaimError naming the first command that is neither the grammar's nor the builder's."""
    for found in _COMMAND.finditer(text):
        name = found.group(1)
        if name is not None and name not in KNOWN:
            raise ClaimError(
                f"{where(text, found.start())}: unknown LaTeX command \\{short(name)}; known: {KNOWN_COMMANDS}"
            )
