"""The element-wise proof for concrete K and d."""

import re

import pytest
import sympy as sp

from derive.verify import proof as elementwise
from derive.verify.proof import ProofError, prove


@pytest.mark.parametrize("assume", [True, False])
@pytest.mark.parametrize("classes, features", [(1, 1), (2, 2), (1, 3), (3, 1), (2, 7), (4, 3)])
def test_every_entry_is_proven(classes, features, assume):
    proof = prove("softmax", classes, features, assume)
    assert proof.entries == classes * features + classes
    assert proof.logit_identities == classes
    assert proof.spot_checked == min(elementwise.SPOT_CHECKS, proof.entries)
    assert proof.max_numeric_error < 1e-12


@pytest.mark.slow
def test_mnist_sized_proof():
    proof = prove("softmax", 10, 784)
    assert proof.entries == 7850
    assert re.fullmatch(
        r"proved 7850 entries \(K = 10, d = 784, with Sum_k P_k = 1\): 10 logit identities symbolically,"
        r" every dz_j/dtheta exactly \(\d+ re-derived by sympy.diff\), max numeric deviation [0-9.e+-]+, [0-9.]+ s",
        proof.summary(),
    ), proof.summary()


def test_a_wrong_class_part_is_refused(monkeypatch):
    real = elementwise._separate

    def wrong(derivation):
        class_part, feature_part, penalty = real(derivation)
        return class_part + sp.Integer(1) / 100, feature_part, penalty

    monkeypatch.setattr(elementwise, "_separate", wrong)
    with pytest.raises(ProofError, match="differs from the closed form"):
        prove("softmax", 2, 2)


def test_a_wrong_feature_part_is_refused(monkeypatch):
    real = elementwise._separate

    def wrong(derivation):
        class_part, feature_part, penalty = real(derivation)
        return class_part, feature_part * 2, penalty

    monkeypatch.setattr(elementwise, "_separate", wrong)
    with pytest.raises(ProofError, match="the closed form needs"):
        prove("softmax", 2, 3)


def test_a_wrong_penalty_part_is_refused(monkeypatch):
    from derive.core import symbols as S
    from derive.core.models import SOFTMAX, with_l2

    real = elementwise._separate

    def wrong(derivation):
        class_part, feature_part, penalty = real(derivation)
        return class_part, feature_part, penalty + S.lam * S.x[S.i]

    monkeypatch.setattr(elementwise, "_separate", wrong)
    with pytest.raises(ProofError, match="dR/d"):
        prove(with_l2(SOFTMAX), 2, 2)


def test_without_the_assumption_the_normalised_closed_form_fails(monkeypatch):
    """Proving the assumed closed form without the assumption must fail: the proof is not vacuous."""
    from derive.core import derivation

    real = derivation.derive

    def assumed(model, wrt, assume):
        return real(model, wrt, True)

    monkeypatch.setattr(elementwise, "derive", assumed)
    with pytest.raises(ProofError):
        prove("softmax", 3, 2, assume=False)


@pytest.mark.parametrize("classes, features", [(0, 2), (2, 0), (1000, 1000)])
def test_sizes_are_bounded(classes, features):
    with pytest.raises(ValueError):
        prove("softmax", classes, features)
