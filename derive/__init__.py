"""derive: symbolic derivation of machine-learning gradients with SymPy.

>>> from derive import derive, text
>>> text(derive("softmax", "W").result)
'-(P_j - a_j)*x_i'

Every name is imported on first use, so that ``derive --help`` and the
command line's error messages do not wait for SymPy, and so that importing the
symbolic API does not load the renderers that the interactive one needs.
"""

from importlib import import_module

#: public name -> the module that defines it
_HOMES = {
    "Derivation": "derivation",
    "Step": "derivation",
    "derive": "derivation",
    "gradients": "derivation",
    "Example": "example",
    "worked_example": "example",
    "MODELS": "models",
    "Model": "models",
    "get_model": "models",
    "text": "textprinter",
    "CheckResult": "verdict",
    "check": "verdict",
    "model": "session",
    "Session": "session",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str):
    if name in _HOMES:
        return getattr(import_module(f".{_HOMES[name]}", __name__), name)
    raise AttributeError(f"module 'derive' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOMES))
