"""derive: symbolic derivation of machine-learning gradients with SymPy.

>>> from derive import derive, text
>>> text(derive("softmax", "W").result)
'-(P_j - a_j)*x_i'

Every name is imported on first use, so that ``derive --help`` and the
command line's error messages do not wait for SymPy, and so that importing the
symbolic API does not load the renderers that the interactive one needs.
"""

from importlib import import_module

#: the one source of the version: the distribution's metadata (pyproject.toml) reads it from here
__version__ = "0.2.0"

#: public name -> the module that defines it
_HOMES = {
    "Derivation": "core.derivation",
    "Step": "core.derivation",
    "derive": "core.derivation",
    "gradients": "core.derivation",
    "Example": "verify.example",
    "worked_example": "verify.example",
    "MODELS": "core.models",
    "Model": "core.models",
    "get_model": "core.models",
    "text": "printing.text",
    "CheckResult": "claims.verdict",
    "ClaimError": "notation.bounds",
    "InputError": "core.errors",
    "CheckView": "app.views",
    "check": "app.session",
    "model": "app.session",
    "Session": "app.session",
}

__all__ = [  # noqa: PLE0604 -- the lazily imported names, listed once in _HOMES
    "__version__",
    *sorted(_HOMES),
]


def __getattr__(name: str):
    if name in _HOMES:
        return getattr(import_module(f".{_HOMES[name]}", __name__), name)
    raise AttributeError(f"module 'derive' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOMES))
