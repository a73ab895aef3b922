"""The printers: one per target, each a SymPy printer subclass dispatching on ``_print_<Class>``.

Owns: plain text in the seed's notation (:mod:`~derive.printing.text`), LaTeX
(:mod:`~derive.printing.latex`) and NumPy, PyTorch and JAX code for the array expressions the code
generator lowers to (:mod:`~derive.printing.numpy`, :mod:`~derive.printing.torch`,
:mod:`~derive.printing.jax`).  Printed strings are never edited afterwards.

May import: :mod:`derive.core` and SymPy.  A new target is one printer class here (and one
template in :mod:`derive.render`).
"""
