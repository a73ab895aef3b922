"""What people type, read and judged: claimed formulas, user-written losses, and the verdict on a claim.

Owns: the bounds on typed text (:mod:`~derive.notation.bounds`), the names a formula may use
(:mod:`~derive.claims.vocabulary`), the one grammar of plain notation and LaTeX
(``grammar.lark``, :mod:`~derive.notation.syntax`) and the builder of SymPy objects from its trees
(:mod:`~derive.claims.builder`, :mod:`~derive.claims.names`, :mod:`~derive.notation.values`),
a claim's parse (:mod:`~derive.claims.claim`), the symbolic normal form
(:mod:`~derive.claims.normal_form`), the numeric and symbolic comparison
(:mod:`~derive.claims.compare`), named mistakes (:mod:`~derive.claims.mistakes`),
counterexamples (:mod:`~derive.claims.counterexample`), the verdict
(:mod:`~derive.claims.verdict`) and user losses (:mod:`~derive.claims.loss`).  Nothing here
evaluates text: no ``eval``, ``exec``, ``sympify`` or ``parse_expr``.

May import: :mod:`derive.core`, :mod:`derive.notation`, :mod:`derive.printing`, :mod:`derive.verify`; not the code
generator, the renderers or the front ends.
"""

from derive.notation.bounds import ClaimError

__all__ = ["ClaimError"]
