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
