"""derive: symbolic derivation of machine-learning gradients with SymPy.

>>> from derive import derive, text
>>> text(derive("softmax", "W").result)
'-(P_j - a_j)*x_i'
"""

from .derivation import Derivation, Step, derive, gradients
from .example import Example, worked_example
from .models import MODELS, Model, get_model
from .textprinter import text
from .verdict import CheckResult, check

__all__ = ["Derivation", "Example", "MODELS", "Model", "Step", "derive", "get_model", "gradients", "text", "worked_example"]
__all__ += ["CheckResult", "check"]

#: the interactive API (derive.session) loads the renderers, which the symbolic layer must not: import on first use
_INTERACTIVE = ("model", "Session")
__all__ += list(_INTERACTIVE)


def __getattr__(name: str):
    if name in _INTERACTIVE:
        from . import session

        return getattr(session, name)
    raise AttributeError(f"module 'derive' has no attribute {name!r}")
