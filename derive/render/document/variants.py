"""The sections a model's data bring: the sigmoid's derivative, the penalty, label smoothing, the 2-class softmax.

Each function returns None for a model without that feature, so every model goes through the
same driver and templates.
"""

from __future__ import annotations

import sympy as sp

from derive.core import symbols as S
from derive.core.derivation import FACTOR, LABEL, Derivation
from derive.core.models import SOFTMAX, Model
from derive.core.rules import WrittenSum
from derive.render.document.steps import Section, Tex
from derive.render.document.worked import numbers
from derive.verify.example import Example


def activation_derivative(derivation: Derivation, section: Section, tex: Tex) -> dict | None:
    """For a single output named in its own derivative (the sigmoid): sigma' = sigma (1 - sigma), and its use.

    The factor, the steps that derived it, and the product with dH/dsigma that the chain rule reduces.
    """
    model = derivation.model
    if model.output_index is not None or not model.naming:
        return None
    lhs = sp.Derivative(model.activation, model.logit)
    outer = next(s.lhs for s in derivation.steps if s.kind == FACTOR and s.lhs.variables == (model.activation,))
    block = next(b for b in section.blocks if b.lhs == tex(lhs))
    product = sp.Mul(derivation.factor(outer), derivation.factor(lhs), evaluate=False)
    return {
        "entry": tex(lhs, derivation.factor(lhs)),
        "steps": (block.lines[0].number, block.lines[-1].number),
        "product": tex(sp.Mul(outer, lhs, evaluate=False), product, sp.factor(sp.cancel(sp.Mul(*product.args)))),
    }


def penalty(derivations: tuple[Derivation, ...], sections: list[Section], tex: Tex) -> dict | None:
    """Where the L2 penalty enters: dR/dtheta (its steps), the step that adds it, the parameters it spares."""
    model = derivations[0].model
    if model.penalty == 0:
        return None
    found = [(d, s) for d, s in zip(derivations, sections) if s.block("penalty") is not None]
    derivation, section_ = found[0]
    block, total = section_.block("penalty"), section_.block("total")
    return {
        "definition": tex(S.R, model.penalty),
        "derivative": tex(sp.Derivative(S.R, derivation.wrt), derivation.penalty_result),
        "of": section_.lhs,
        "steps": (block.lines[0].number, block.lines[-1].number),
        "total_step": total.lines[0].number,
        "data": tex(sp.Derivative(S.L, derivation.wrt), derivation.data_result),
        "spared": [s.lhs for d, s in zip(derivations, sections) if s.block("penalty") is None],
    }


def smoothing(derivations: tuple[Derivation, ...], sections: list[Section], tex: Tex) -> dict | None:
    """Defined labels (label smoothing): the steps that prove they sum to one, and the unchanged closed form."""
    model = derivations[0].model
    block = sections[0].block("labels")
    if model.label_definition is None or block is None:
        return None
    k = model.output_index
    last = [s for s in derivations[0].steps if s.kind == LABEL][-1]
    return {
        "definition": tex(model.label[k], model.label_definition),
        "steps": (block.lines[0].number, block.lines[-1].number),
        "of": sections[0].lhs,
        "total": tex(last.lhs, last.rhs),
        "result": tex(derivations[0].lhs, derivations[0].result),
    }


def two_class_softmax(model: Model, pair: tuple[Example, Example] | None, tex: Tex) -> dict | None:
    """The sigmoid model is the 2-class softmax: at the seed's sample with w = W_.1 - W_.2, b = b_1 - b_2, y = P_1,
    the engine's numbers of both models (``pair``: the binary and the softmax worked examples), side by side.
    """
    if pair is None:
        return None
    binary, softmax = pair
    i, z1, z2 = S.i, S.z[1], S.z[2]
    first = SOFTMAX.activation_definition.subs({SOFTMAX.output_index: 1, S.K: 2}).doit()
    pairs = side_by_side(binary, softmax)
    largest = max(abs(u - v) for (_, u), (_, v) in pairs)
    return {
        "parameters": [
            tex(S.w[i], WrittenSum.written(S.W[i, 1], -S.W[i, 2])),
            tex(S.bias, WrittenSum.written(S.b[1], -S.b[2])),
            tex(S.y, S.P[1]),
        ],
        "numbers": [
            tex(sp.MatrixSymbol("w", 2, 1), numbers(binary.W)),
            tex(S.bias, sp.Float(float(binary.b))),
            tex(S.y, sp.Float(float(binary.P))),
        ],
        "logit": tex(S.logit, WrittenSum.written(z1, -z2)),
        "identity": tex(
            S.a[1],
            first,
            model.activation_definition.subs(S.logit, WrittenSum.written(z1, -z2)),
            sp.Function("sigma")(z1 - z2),
        ),
        "rows": [{"binary": tex(q, sp.Float(u)), "softmax": tex(r, sp.Float(v))} for (q, u), (r, v) in pairs],
        "largest": tex(sp.Float(largest, 2), decimals=None),
        "largest_value": largest,
        "agree": bool(largest < 1e-9),
    }


def side_by_side(binary: Example, softmax: Example) -> list[tuple[tuple[sp.Basic, float], tuple[sp.Basic, float]]]:
    """((the binary quantity, its value), (the softmax quantity it equals, its value)) for z, the output, H
    and each gradient entry: z = z_1 - z_2, sigma = a_1, H = H, dH/dw_i = dH/dW_i1, dH/db = dH/db_1.
    """
    z1, z2 = S.z[1], S.z[2]
    weights = [
        ((sp.Derivative(S.H, S.w[r]), binary.grad_W[r - 1]), (sp.Derivative(S.H, S.W[r, 1]), softmax.grad_W[r - 1, 0]))
        for r in range(1, binary.features + 1)
    ]
    return [
        ((S.logit, binary.z[0]), (WrittenSum.written(z1, -z2), softmax.z[0] - softmax.z[1])),
        ((S.sigma, binary.a[0]), (S.a[1], softmax.a[0])),
        ((S.H, binary.loss), (S.H, softmax.loss)),
        *weights,
        ((sp.Derivative(S.H, S.bias), float(binary.grad_b)), (sp.Derivative(S.H, S.b[1]), softmax.grad_b[0])),
    ]
