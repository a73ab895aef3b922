"""What people type, read into a syntax tree: the one grammar of plain notation and LaTeX, and its bounds.

Owns: the grammar (``grammar.lark``) and its parser (:mod:`~derive.notation.syntax`), the bounds on
typed text and the error that breaks them (:mod:`~derive.notation.bounds`), the LaTeX commands a
formula may use (:mod:`~derive.notation.commands`), the annotations that carry no mathematics
(:mod:`~derive.notation.annotations`) and exact numbers (:mod:`~derive.notation.values`).  Claims
(:mod:`derive.claims`) and model files (:mod:`derive.graph`) are read by this same parser, under the
same bounds.  Nothing here evaluates text: no ``eval``, ``exec``, ``sympify`` or ``parse_expr``.

May import: :mod:`derive.core` (its errors); nothing above it.
"""

from derive.notation.bounds import ClaimError

__all__ = ["ClaimError"]
