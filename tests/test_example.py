"""The worked example: the seed's numbers, finite differences, the mistakes, one descent step."""

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from derive.verify.example import worked_example


@pytest.fixture(scope="module")
def seed():
    return worked_example(lr=0.1)


def test_seed_numbers(seed):
    np.testing.assert_allclose(seed.z, [0.23, 1.15], atol=1e-12)
    np.testing.assert_allclose(seed.a, [0.284958, 0.715042], atol=5e-7)
    assert seed.loss == pytest.approx(1.255414, abs=5e-7)
    np.testing.assert_allclose(seed.grad_W, [[-1.358580, 1.358580], [-0.286017, 0.286017]], atol=5e-7)
    np.testing.assert_allclose(seed.grad_b, [-0.715042, 0.715042], atol=5e-7)


def test_gradient_agrees_with_finite_differences(seed):
    assert seed.fd_error < 1e-8
    np.testing.assert_allclose(seed.fd_W, seed.grad_W, rtol=1e-6)


def test_accepted_answer_drops_the_non_setosa_column(seed):
    np.testing.assert_allclose(seed.mistakes["accepted answer"], [[-1.358580, 0], [-0.286017, 0]], atol=5e-7)


def test_students_answer(seed):
    # -(1 - a_j) x_i (P_1 + P_2) with P = [1, 0]
    expected = -(1 - seed.a)[None, :] * seed.x[:, None]
    np.testing.assert_allclose(seed.mistakes["student's answer"], expected, atol=1e-12)
    assert not np.allclose(seed.mistakes["student's answer"], seed.grad_W)


def test_one_descent_step(seed):
    np.testing.assert_allclose(seed.W_next, seed.W - 0.1 * seed.grad_W)
    np.testing.assert_allclose(seed.W_next, [[0.235858, 0.364142], [0.128602, 0.471398]], atol=5e-7)
    np.testing.assert_allclose(seed.b_next, [0.0715042, -0.0715042], atol=5e-7)
    assert worked_example(lr=0.1 / 2).W_next[0, 0] == pytest.approx(0.1 + 0.05 * 1.358580, abs=1e-6)


def test_json_dict_keys(seed):
    assert set(seed.as_dict()) == {"z", "a", "loss", "grad_W", "grad_b", "lr", "W_next", "b_next", "assumption"}
    assert set(worked_example().as_dict()) == {"z", "a", "loss", "grad_W", "grad_b", "assumption"}
    assert seed.as_dict()["assumption"] == "labels_sum_to_one"


NOT_APPLICABLE = "labels_sum_to_one: the labels sum to 1.100000, not 1, so the gradients are the exact form (a_j Sum_k P_k - P_j) x_i"


def test_labels_that_do_not_sum_to_one_get_the_exact_gradient():
    """The assumption is dropped, not applied: never a wrong number (output as JSON says why)."""
    exact = worked_example(P=(0.5, 0.6), assume=False)
    asked = worked_example(P=(0.5, 0.6), assume=True)
    assert exact.fd_error < 1e-8 and asked.fd_error < 1e-8
    np.testing.assert_array_equal(asked.grad_W, exact.grad_W)
    assert not asked.assume and asked.dropped == ("labels_sum_to_one",)
    data = asked.as_dict()
    assert data["assumption"] is None
    assert data["assumption_not_applicable"] == NOT_APPLICABLE
    # the assumed closed form would have given (a_j - P_j) x_i: 0.2849578943 - 0.5 at W_11 times 1.9
    assert asked.grad_W[0, 0] == pytest.approx((0.2849578943 * 1.1 - 0.5) * 1.9, abs=1e-9)


@settings(max_examples=15, deadline=None)
@given(
    classes=st.integers(1, 3),
    features=st.integers(1, 3),
    seed=st.integers(0, 2**32 - 1),
)
def test_properties_at_random_samples(classes, features, seed):
    rng = np.random.default_rng(seed)
    P = rng.dirichlet(np.ones(classes))
    e = worked_example(rng.normal(size=features), rng.normal(size=(features, classes)), rng.normal(size=classes), P)
    assert e.fd_error < 1e-6
    np.testing.assert_allclose(e.grad_W.sum(axis=1), 0, atol=1e-12)  # rows over classes sum to zero
    np.testing.assert_allclose(e.grad_W, np.outer(e.x, e.grad_b), atol=1e-12)  # x (a - P)^T


def test_cli_json_for_labels_that_do_not_sum_to_one(capsys):
    from derive.app import cli

    assert cli.main(["example", "--P", "0.5 0.6", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["assumption"] is None and data["assumption_not_applicable"] == NOT_APPLICABLE
    exact = worked_example(P=(0.5, 0.6), assume=False)
    np.testing.assert_allclose(data["grad_W"], exact.grad_W, rtol=0, atol=0)
