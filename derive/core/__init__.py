"""The symbolic core: the seed's notation, the primitives, the rules, the models and the derivation.

Owns: the symbols every other layer uses (:mod:`~derive.core.symbols`), the primitives that know
their derivatives (:mod:`~derive.core.primitives`), the one rule type and its combinators
(:mod:`~derive.core.strategies`), the table of named rules and the orders they run in
(:mod:`~derive.core.rules`), models as data (:mod:`~derive.core.models`) and the driver that
derives a model's gradients as named steps (:mod:`~derive.core.derivation`).

May import: SymPy and the standard library only (no NumPy, no printers, no templates, no files);
every other layer imports this one.  A new rule is one entry in :data:`derive.core.rules.RULES`;
a new model one :class:`~derive.core.models.Model` entry.
"""
