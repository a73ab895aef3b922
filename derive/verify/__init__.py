"""Numeric verification: the one evaluator, finite differences, step soundness, the proof and the worked example.

Owns: the compiled evaluator of index expressions (:mod:`~derive.verify.evaluate`), random and
given valuations, finite differences and the check of every derivation step
(:mod:`~derive.verify.checking`, shipped so users can check their own formulas), the element-wise
proof for concrete sizes (:mod:`~derive.verify.proof`) and the worked example
(:mod:`~derive.verify.example`).

May import: :mod:`derive.core`, :mod:`derive.printing`, NumPy, SymPy, tqdm.
"""
