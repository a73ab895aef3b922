"""What the document says about the model before deriving: its notation, definitions, loss and assumptions.

The table of symbols with their meanings and index ranges, the activation's and logit's
definitions (and defined labels), the loss (H = L + R with a penalty), the model's assumptions,
and how the prose names the model's quantities (:func:`words`) and symbols (:func:`symbols`).
"""

from __future__ import annotations

import sympy as sp

from derive.core import symbols as S
from derive.core.derivation import Derivation
from derive.core.models import Model
from derive.core.rules import WrittenSum
from derive.printing.latex import index_range
from derive.render.document.steps import Tex


def words(model: Model) -> dict:
    """How the prose names the model's quantities (plural for a model with classes)."""
    many = model.output_index is not None
    label = {"distribution": "labels", "probability": "label", "real": "target"}[model.label_kind]
    return {
        "loss": model.loss_name,
        "label": label,
        "activation": model.activation_words + ("s" if many else ""),
        "logit": "logits" if many else "logit",
        "note": model.loss_note,
    }


def symbols(model: Model, tex: Tex) -> dict:
    """The symbols the prose mentions, printed: x_i, K, P, a (and k, j, k = j, k != j and the vectors)."""
    i = model.parameters[0].indices[0]
    out = {
        "feature": tex(S.x[i]),
        "label": tex(S.key(model.label)),
        "activation": tex(S.key(model.activation)),
        "x_vector": tex(sp.MatrixSymbol("x", 1, 1)),
        "data_term": tex(S.L),
        "penalty": tex(S.R),
    }
    k = model.output_index
    if k is None:
        return out
    j = model.logit.indices[0]
    return {
        **out,
        "classes": tex(S.K),
        "k": tex(k),
        "j": tex(j),
        "entry": tex(sp.Tuple(k, j)),
        "same": tex(sp.Eq(k, j)),
        "other": tex(sp.Ne(k, j)),
        **{f"{n}_vector": tex(sp.MatrixSymbol(n, 1, 1)) for n in ("a", "P")},
    }


def quantities(model: Model) -> list[sp.Basic]:
    """The keys of the model's quantities in the order of the notation table."""
    keys = [S.x, *(S.key(p) for p in model.parameters), S.key(model.logit), S.key(model.activation), S.key(model.label)]
    if model.label_definition is not None:
        keys += [S.eps, S.c]
    if model.penalty != 0:
        keys += [S.L, S.R, S.lam]
    return keys + [S.H]


def meaning(model: Model, key: sp.Basic) -> tuple[sp.Basic, str]:
    """(the quantity as the table writes it, what it means) for the model."""
    if key == S.key(model.label) and model.label_kind in S.LABEL_MEANINGS:
        return model.label, S.LABEL_MEANINGS[model.label_kind]
    if key == S.H:
        return S.H, f"{model.loss_name} loss" + (" plus the L2 penalty" if model.penalty != 0 else "")
    if key == S.L:
        return S.L, f"data term of the loss: the {model.loss_name}"
    return S.NOTATION[key]


def notation(model: Model, tex: Tex) -> list[dict]:
    """The table of symbols: symbol, meaning (prose), the range of each of its indices."""
    rows = []
    for key in quantities(model):
        quantity, text = meaning(model, key)
        ranges = [index_range(q, low, tex.concrete(high)) for q, (low, high) in _ranges(quantity)]
        rows.append({"symbol": tex(quantity), "meaning": text, "indices": ranges})
    return rows


def _ranges(quantity: sp.Basic):
    return [(q, S.INDEX_RANGES[q]) for q in getattr(quantity, "indices", ())]


#: the meaning of defined labels (label smoothing) in the definitions, in the notation table's index j
DEFINED_LABEL = "smoothed label of class j, for the true class c"


def definitions(model: Model, tex: Tex) -> list[dict]:
    """The activation, the logit (and defined labels), indexed as in the notation table, with their meaning."""
    rows = [
        (model.activation, model.activation_definition, None),
        (model.logit, model.logit_definition, None),
    ]
    if model.label_definition is not None:
        rows.append((model.label[model.output_index], model.label_definition, DEFINED_LABEL))
    out = []
    for lhs, rhs, text in rows:
        quantity, meant = meaning(model, S.key(lhs))
        if isinstance(lhs, sp.Indexed):
            rhs = rhs.subs(dict(zip(lhs.indices, quantity.indices)))
        out.append({"equation": tex(quantity, rhs), "meaning": text or meant})
    return out


def losses(model: Model, tex: Tex) -> list[str]:
    """H = the loss; with a penalty H = L + R, then L and R."""
    if model.penalty == 0:
        return [tex(S.H, model.loss)]
    return [tex(S.H, WrittenSum.written(S.L, S.R)), tex(S.L, model.loss), tex(S.R, model.penalty)]


def assumptions(derivation: Derivation, tex: Tex) -> list[dict]:
    """Each assumption of the model: its statement, what it means, whether the derivation uses it."""
    return [
        {
            "statement": tex(a.statement.lhs, a.statement.rhs),
            "description": a.description,
            "used": a.name in derivation.assumptions,
        }
        for a in derivation.model.assumptions
    ]
