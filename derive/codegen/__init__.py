"""Code generation: the engine's closed forms lowered to whole-array expressions, stabilised and economised.

Owns: the array operations and the class-major layout (:mod:`~derive.codegen.arrays`), lifting a
per-sample closed form to the batch and lowering index expressions to arrays
(:mod:`~derive.codegen.lowering`), the stabilising and economising rewrites as rules
(:mod:`~derive.codegen.rewrites`), the generated functions' arguments
(:mod:`~derive.codegen.signature`) and the driver that makes a :class:`~derive.codegen.program.Program`
of kernels (:mod:`~derive.codegen.program`).

May import: :mod:`derive.core`, :mod:`derive.printing`, :mod:`derive.verify`; not the claims,
the renderers (the module's text is laid out by :mod:`derive.render.code`) or the front ends.
"""
