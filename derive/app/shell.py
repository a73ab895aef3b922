"""``derive shell``: an IPython session with a model and its derivations loaded, like ``isympy``.

:func:`namespace` is what the session starts with, :func:`banner` says so;
:func:`start` runs IPython with SymPy's pretty printing on.

>>> from derive.app.session import model
>>> print(", ".join(quantities(model("logistic", l2=0.01))))
w, b, x, z, sigma, y, H, i, d, lambda_
>>> list(names(model("softmax")))
['dW', 'db']
"""

from __future__ import annotations

import keyword

import sympy as sp

from derive.app.session import Session
from derive.core import symbols as S
from derive.core.errors import InputError

#: what IPython runs before the first prompt: pretty printing, as isympy has it
STARTUP = ("from sympy import init_printing", "init_printing(use_unicode=True)")


def quantities(session: Session) -> dict[str, sp.Basic]:
    """The model's symbols by name: its parameters, x, logit, activation, label, H, indices, sizes, strengths.

    For softmax regression these are the seed's W, b, x, z, a, P, H, i, j, k, K and d.
    """
    model = session.model
    own = [*model.parameters, S.x[S.i], model.logit, model.activation, model.label, S.H]
    indexed = [q for q in own if isinstance(q, sp.Indexed)]
    indices = dict.fromkeys(q for e in indexed for q in e.indices)
    if model.output_index is not None:
        indices[model.output_index] = None
    sizes = [S.K, S.d] if model.output_index is not None else [S.d]
    quantities = [*map(S.key, own), *sorted(indices, key=str), *sizes, *model.constants]
    # lambda is a Python keyword: the L2 strength is lambda_ in the shell
    return {str(q) + "_" * keyword.iskeyword(str(q)): q for q in quantities}


def names(session: Session) -> dict[str, str]:
    """The preloaded derivations' names: dW, db (dw, db for single-output models)."""
    return {f"d{S.key(p)}": str(S.key(p)) for p in session.model.parameters}


def namespace(session: Session) -> dict:
    """Everything the shell preloads: the session, its symbols, one derivation per parameter, the example."""
    derivations = {name: session.derivation(wrt) for name, wrt in names(session).items()}
    return {"sp": sp, "model": session, **quantities(session), **derivations, "example": session.example(lr=0.1)}


def banner(session: Session) -> str:
    """What is loaded, one line per kind of name."""
    model = session.model
    derivations = ", ".join(f"{n} = model.derivation({wrt!r})" for n, wrt in names(session).items())
    jacobian = "model.jacobian(K), " if model.output_index is not None else ""
    return "\n".join(
        [
            f"derive shell: {model.title} ({model.name})",
            f"  model      {model.summary}",
            f"  symbols    {', '.join(quantities(session))}",
            f"  derived    {derivations}  (.steps, .result)",
            "  example    model.example(lr=0.1), the model's sample; model.example(x=..., W=..., b=..., P=..., lr=...)",
            f"  also       model.gradients(), model.steps, {jacobian}model.latex(), model.markdown(), sp = sympy",
            "",
        ]
    )


def network_namespace(session) -> dict:
    """A model file's shell: the session, every quantity by name, the indices and sizes, each result."""
    graph = session.graph
    quantities = {n.name: n.base for n in graph.nodes}
    indices = {i.name: i for i, _ in graph.ranges} | {s.name: s for s in graph.sizes}
    results = {f"d{p.name}": session.result(p.name) for p in graph.parameters}
    return {"sp": sp, "model": session, **quantities, **indices, **results, "example": session.example()}


def network_banner(session) -> str:
    graph = session.graph
    results = ", ".join(f"d{p.name} = model.result({p.name!r})" for p in graph.parameters)
    return "\n".join(
        [
            f"derive shell: {graph.title} ({graph.name}, a model file)",
            f"  symbols    {', '.join(n.name for n in graph.nodes)}",
            f"  indices    {', '.join(i.name for i, _ in graph.ranges)}; sizes {', '.join(s.name for s in graph.sizes)}",
            f"  derived    {results}",
            "  example    model.example(sizes=..., seed=...), every quantity's numbers and the finite-difference check",
            "  also       model.gradients, model.steps, model.expanded(name), model.code(), model.train(), sp = sympy",
            "",
        ]
    )


def start(session: Session) -> int:
    """Run IPython with the namespace until the user leaves; InputError when IPython is missing."""
    try:
        from IPython import start_ipython
        from IPython.terminal.interactiveshell import TerminalInteractiveShell
        from traitlets.config import Config
    except ImportError:
        raise InputError(
            "derive shell needs IPython: pip install 'derive-gradients[shell]' (or '.[shell]' in a checkout)"
        ) from None
    network = not isinstance(session, Session)
    names = network_namespace(session) if network else namespace(session)
    config = Config()
    config.TerminalInteractiveShell.banner1 = network_banner(session) if network else banner(session)
    config.InteractiveShellApp.exec_lines = list(STARTUP)
    config.HistoryManager.hist_file = ":memory:"  # a session leaves no history file behind
    config.TerminalInteractiveShell.confirm_exit = False
    if "enable_tip" in TerminalInteractiveShell.class_trait_names():  # IPython 9 adds a random tip to the banner
        config.TerminalInteractiveShell.enable_tip = False
    start_ipython(argv=[], user_ns=names, config=config)
    return 0
