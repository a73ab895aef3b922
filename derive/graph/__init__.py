"""Users' own models: a model file of definitions read into a graph, and the chain rule over it.

Owns: the model file (TOML, :mod:`~derive.graph.spec`), its expressions read by the grammar of
:mod:`derive.notation` into SymPy objects (:mod:`~derive.graph.reader`), the checks that a file makes
sense (:mod:`~derive.graph.checks`), the graph of definitions (:mod:`~derive.graph.graph`) and
backpropagation over it, step by step (:mod:`~derive.graph.backprop`).  Nothing here evaluates text.

May import: :mod:`derive.core`, :mod:`derive.notation`; nothing above them.
"""
