"""Second derivatives (``derive hessian``): the engine's closed forms, exact strings and numbers.

The index forms of the built-in models as exact strings; every model's Hessian against central finite
differences of its derived gradient and (softmax) against HIPS autograd's ``hessian`` of an independently
written loss; symmetry; positive semi-definiteness where the theory says so (softmax, logistic, linear), the
softmax's null directions (the same vector added to every class), the command line.
"""

from __future__ import annotations

import numpy as np
import pytest

from derive.app.cli.main import main
from derive.graph import library
from derive.graph.backprop import backprop
from derive.graph.hessian import second_derivatives
from derive.graph.spec import read
from derive.printing.text import text
from derive.verify import network
from tests.test_model_files import DEEP, POISSON


def lines(graph) -> list[str]:
    return [f"{s.name} = {text(s.value)}" for s in second_derivatives(graph)]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "softmax",
            [
                "d2H/dW_ij/dW_lk = (delta_jk - a_k)*a_j*x_i*x_l",
                "d2H/dW_ij/db_k = (delta_jk - a_k)*a_j*x_i",
                "d2H/db_j/db_k = (delta_jk - a_k)*a_j",
            ],
        ),
        (
            "logistic",
            [
                "d2H/dw_i/dw_l = sigma*(1 - sigma)*x_i*x_l",
                "d2H/dw_i/db = sigma*(1 - sigma)*x_i",
                "d2H/db/db = sigma*(1 - sigma)",
            ],
        ),
        ("linear", ["d2H/dw_i/dw_l = x_i*x_l", "d2H/dw_i/db = x_i", "d2H/db/db = 1"]),
    ],
)
def test_the_index_forms_of_the_built_in_models(name, expected):
    assert lines(library.builtin(name)) == expected


def test_the_perceptrons_blocks_keep_its_error_signals_and_the_tanh_derivative():
    """The second walk goes through the error signals as definitions: delta_k (the output signal) and the hidden
    layer's 1 - g_h^2 stay named; the polynomial is factored with each sum held as one quantity."""
    found = dict(line.split(" = ", 1) for line in lines(library.builtin("mlp")))
    assert (
        found["d2H/dV_ih/dW_mk"]
        == "(1 - g_h**2)*(delta_k*delta_hm + a_k*g_m*W_hk - a_k*g_m*Sum(a_n*W_hn, (n, 1, K)))*x_i"
    )
    assert found["d2H/dV_ih/db_k"] == "(1 - g_h**2)*(W_hk - Sum(a_m*W_hm, (m, 1, K)))*a_k*x_i"
    assert found["d2H/dW_hj/dW_mk"] == "(delta_jk - a_k)*a_j*g_h*g_m"
    import sympy as sp

    (block,) = [s for s in second_derivatives(library.builtin("mlp")) if s.name == "d2H/dV_ih/dV_lm"]
    assert block.steps[-1].rule == "factor_polynomial"
    signals = [[q for q in e.atoms(sp.Indexed) if q.base.name == "delta"] for e in (block.value, block.expanded)]
    assert signals[0] and not signals[1]  # named in the printed form, written out for numbers and code


def test_the_softmax_jacobian_is_a_named_step():
    (first, *_) = second_derivatives(library.builtin("softmax"))
    rules = [s.rule for s in first.steps]
    assert "name_a" in rules and "collapse_delta" in rules and "chain_rule" in rules


CASES = [
    ("softmax", library.source("softmax"), {"d": 2, "K": 3}),
    ("logistic", library.source("logistic"), {"d": 3}),
    ("linear", library.source("linear"), {"d": 2}),
    ("mlp", library.source("mlp"), {"d": 2, "M": 2, "K": 2}),
    ("deep", DEEP, {"d": 2, "M": 2, "L": 2, "K": 2}),
    ("poisson", POISSON, {"d": 2}),
]


@pytest.mark.parametrize(("name", "text_", "sizes"), CASES, ids=[c[0] for c in CASES])
def test_the_hessian_agrees_with_finite_differences_of_the_gradient(name, text_, sizes):
    graph = read(text_)
    arrays = network.random_arrays(graph, sizes, batch=3, seed=4)
    if name == "poisson":
        arrays["y"] = np.array([0.0, 2.0, 5.0])
    derived = network.hessian_matrix(graph, second_derivatives(graph), arrays)
    numeric = network.hessian_by_differences(graph, backprop(graph), arrays)
    np.testing.assert_allclose(derived, numeric, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(derived, derived.T, atol=1e-12)


def test_the_softmax_hessian_agrees_with_autograd():
    autograd = pytest.importorskip("autograd", reason="HIPS autograd (the test extra) is not installed")
    anp = pytest.importorskip("autograd.numpy")
    graph = library.builtin("softmax")
    arrays = network.random_arrays(graph, {"d": 3, "K": 2}, batch=4, seed=2)
    X, P = arrays["x"], arrays["P"]

    def loss(theta):
        W, b = theta[:6].reshape(3, 2), theta[6:]
        z = anp.dot(X, W) + b
        return -anp.mean(anp.sum(P * (z - anp.log(anp.sum(anp.exp(z), axis=1, keepdims=True))), axis=1))

    theta = np.concatenate([arrays["W"].ravel(), arrays["b"]])
    want = autograd.hessian(loss)(theta)
    np.testing.assert_allclose(network.hessian_matrix(graph, second_derivatives(graph), arrays), want, atol=1e-12)


@pytest.mark.parametrize(
    ("name", "sizes"), [("softmax", {"d": 2, "K": 3}), ("logistic", {"d": 3}), ("linear", {"d": 2})]
)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_convex_models_have_positive_semi_definite_hessians(name, sizes, seed):
    graph = library.builtin(name)
    arrays = network.random_arrays(graph, sizes, batch=5, seed=seed)
    eigenvalues = np.linalg.eigvalsh(network.hessian_matrix(graph, second_derivatives(graph), arrays))
    assert eigenvalues.min() > -1e-12


def test_adding_the_same_vector_to_every_class_is_a_null_direction_of_softmax():
    """(diag(a) - a a^T) 1 = 0: W_ij += u_i and b_j += c for every class j changes nothing."""
    graph = library.builtin("softmax")
    arrays = network.random_arrays(graph, {"d": 2, "K": 3}, batch=4, seed=7)
    hessian = network.hessian_matrix(graph, second_derivatives(graph), arrays)
    u, c = np.array([0.3, -1.2]), 0.8
    direction = np.concatenate([np.repeat(u, 3), np.full(3, c)])
    assert np.abs(hessian @ direction).max() < 1e-12
    assert np.sum(np.abs(np.linalg.eigvalsh(hessian)) < 1e-12) == 3  # d + 1 such directions


def test_derive_hessian_prints_the_index_form_and_checks_it(capsys):
    assert main(["hessian", "--check", "--sizes", "d=2,K=3"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[:3] == [
        "d2H/dW_ij/dW_lk = (delta_jk - a_k)*a_j*x_i*x_l",
        "d2H/dW_ij/db_k = (delta_jk - a_k)*a_j*x_i",
        "d2H/db_j/db_k = (delta_jk - a_k)*a_j",
    ]
    assert out[3] == "assuming sum_j(P_j) = 1; --exact drops the assumption"
    assert out[4].startswith("checked at a random point (d = 2, K = 3, 3 samples): 9x9 Hessian")
    assert main(["hessian", "--model", "logistic", "--steps"]) == 0
    assert "[chain_rule]" in capsys.readouterr().out


def test_derive_hessian_for_a_model_file_and_bad_sizes(tmp_path, capsys):
    path = tmp_path / "poisson.toml"
    path.write_text(POISSON)
    assert main(["hessian", "--model-file", str(path)]) == 0
    assert capsys.readouterr().out.splitlines()[0] == "d2H/dw_i/dw_l = mu*x_i*x_l"
    assert main(["hessian", "--check", "--sizes", "d=9,K=2"]) == 2
    captured = capsys.readouterr()
    assert "--sizes d=9: each size of --check is 1..6" in captured.err and captured.out == ""  # before any output
    assert main(["hessian", "--check", "--sizes", "d=2,Q=3"]) == 2
    assert "softmax has no size Q (its sizes: d, K)" in capsys.readouterr().err
    assert main(["hessian", "--sizes", "d=2"]) == 2
    assert "--sizes sizes the random point of --check: add --check" in capsys.readouterr().err


SOFTMAX_FACTS = ["kronecker_form", "covariance", "gram", "convex", "null_direction"]
SOFTMAX_BIAS_FACTS = ["matrix_form", "covariance", "convex", "null_direction"]


def test_the_convexity_argument_for_softmax_holds_fact_by_fact():
    from derive.verify.convexity import claims

    graph = library.builtin("softmax")
    found = claims(graph, second_derivatives(graph), {"d": 2, "K": 3})
    assert [c.holds for c in found] == [True] * 10
    assert [c.fact.name for c in found[:-1]] == SOFTMAX_FACTS + SOFTMAX_BIAS_FACTS
    assert found[0].text == "nabla^2_W H = (diag(a) - a*a^T) (x) x*x^T"
    assert found[1].text == "diag(a) - a*a^T >= 0 (positive semi-definite)"
    assert found[4].text == "(diag(a) - a*a^T)*1 = 0"
    assert found[-1].text == "the whole Hessian is positive semi-definite at the points"


def test_the_rows_of_the_softmax_factor_sum_to_zero_by_the_rules():
    """A 1 = 0 is derived: the named rules reduce Sum_k a_j (delta_jk - a_k), and Sum_k a_k = 1 is read off the
    softmax's definition (a quotient by its own sum), not assumed."""
    from derive.graph.structure import structures

    graph = library.builtin("softmax")
    (weights, _) = structures(graph, second_derivatives(graph))
    covariance = weights.facts[1]
    assert [s.rule for s in covariance.steps][-2:] == ["factor", "normalised_a"]
    assert text(covariance.steps[-2].rhs) == "(1 - Sum(a_k, (k, 1, K)))*a_j"
    assert covariance.steps[-1].rhs == 0 and weights.null_axis == 1


def test_a_definition_that_is_not_its_own_normalisation_gives_no_rule():
    from derive.graph.structure import normalisations

    assert [r.name for r in normalisations(library.builtin("softmax"))] == ["normalised_a"]
    assert normalisations(library.builtin("logistic")) == ()
    assert normalisations(read(POISSON)) == ()


def test_logistic_regression_is_a_scalar_times_a_gram_matrix():
    from derive.verify.convexity import claims

    graph = library.builtin("logistic")
    found = claims(graph, second_derivatives(graph), {"d": 3})
    assert [(c.fact.name if c.fact else None, c.holds) for c in found] == [
        ("matrix_form", True),
        ("semidefinite", True),
        ("convex", True),
        (None, True),
    ]
    assert found[0].text == "nabla^2_w H = (sigma*(1 - sigma))*x*x^T"


def test_the_l2_term_moves_the_null_direction_to_lambda_and_makes_the_block_definite():
    from derive.graph.addons import with_l2
    from derive.verify.convexity import claims

    graph = with_l2(library.builtin("softmax"), 0.1)
    found = claims(graph, second_derivatives(graph), {"d": 2, "K": 3})
    assert all(c.holds for c in found)
    named = {c.fact.name: c for c in found[:6]}
    assert named["kronecker_form"].text == "nabla^2_W H - (1/10)*I = (diag(a) - a*a^T) (x) x*x^T"
    assert named["l2"].text == "nabla^2_W H > 0 (positive definite)"
    assert named["null_direction"].detail.startswith("largest entry of H v - 0.1 v")


def test_the_mlp_hessian_is_indefinite_and_says_so():
    from derive.verify.convexity import claims

    graph = library.builtin("mlp")
    last = claims(graph, second_derivatives(graph), {"d": 2, "M": 2, "K": 2}, points=2)[-1]
    assert last.text == "the Hessian is indefinite" and float(last.detail.split()[2]) < 0


def test_a_wrong_structure_fails():
    """A block whose class factor is not PSD (the sign flipped) is reported as failing, not as holding."""
    from derive.graph.hessian import SecondDerivative
    from derive.verify.convexity import claims

    graph = library.builtin("softmax")
    first, *rest = second_derivatives(graph)
    flipped = SecondDerivative(first.first, first.second, -first.value, first.steps)
    found = {c.fact.name: c for c in claims(graph, (flipped, *rest), {"d": 2, "K": 3}, points=1)[:5]}
    assert not found["semidefinite"].holds and not found["convex"].holds  # no covariance: the sign is wrong
    assert found["kronecker_form"].holds  # read off correctly: the matrix form of the flipped block


def test_a_wrong_matrix_form_fails():
    """The matrix form is checked against its index form and against the Hessian's own block."""
    import dataclasses

    import sympy as sp

    from derive.graph.structure import structures
    from derive.verify.convexity import CHECKS, _point

    graph = library.builtin("softmax")
    seconds = second_derivatives(graph)
    structure = structures(graph, seconds)[0]
    fact = structure.facts[0]
    K, d = (graph.size_of(i) for i in reversed(graph.node("W").indices))
    a, x = sp.MatrixSymbol("a", K, 1), sp.MatrixSymbol("x", d, 1)
    assert fact.rhs == sp.KroneckerProduct(sp.DiagMatrix(a) - a * a.T, x * x.T)
    at = [_point(graph, seconds, {"d": 2, "K": 3}, 0)]
    assert CHECKS["kronecker_form"](graph, structure, fact, at, {"d": 2, "K": 3})[0]
    wrong = dataclasses.replace(structure, outer=sp.DiagMatrix(a))
    assert not CHECKS["kronecker_form"](graph, wrong, fact, at, {"d": 2, "K": 3})[0]


STRUCTURE_FILES = {
    # classes first (W_ji): the covariance is the first factor, the null direction runs along the first index
    "transposed": library.source("softmax").replace("W_ij", "W_ji"),
    # the loss's own penalty on W is an L2 term; a multi-output squared error's identity blocks are not
    "penalty written": library.source("softmax").replace(
        'H = "-sum_j(P_j*log(a_j))"', 'H = "-sum_j(P_j*log(a_j)) + sum_i(sum_j(W_ij**2))/20"'
    ),
    "squared error": """name = "sq"
title = "multi-output squared error"
[indices]
i = "d"
j = "K"
[inputs]
x_i = "feature"
y_j = "target"
[parameters]
W_ij = "weight"
b_j = "bias"
[definitions]
z_j = "sum_i(W_ij*x_i) + b_j"
[loss]
H = "sum_j((z_j - y_j)**2)/2"
""",
    # the negated cross-entropy: the same form with the sign flipped is no covariance, and fails by numbers
    "negated": library.source("softmax").replace('H = "-sum_j(P_j*log(a_j))"', 'H = "sum_j(P_j*log(a_j))"'),
}


@pytest.mark.parametrize(
    ("name", "facts", "fails"),
    [
        ("transposed", ["kronecker_form", "gram", "covariance", "convex", "null_direction"], []),
        ("penalty written", ["kronecker_form", "covariance", "gram", "convex", "null_direction", "l2"], []),
        ("squared error", ["kronecker_form", "semidefinite", "gram", "convex"], []),
        ("negated", ["kronecker_form", "semidefinite", "gram", "convex", "null_direction"], ["semidefinite", "convex"]),
    ],
)
def test_the_structure_of_other_files(name, facts, fails):
    from derive.graph.structure import structures
    from derive.verify.convexity import claims

    graph = read(STRUCTURE_FILES[name])
    seconds = second_derivatives(graph)
    weights = structures(graph, seconds)[0]
    assert [f.name for f in weights.facts] == facts
    assert weights.null_axis == (0 if name == "transposed" else None if name == "squared error" else 1)
    sizes = {s.name: 2 if s.name == "d" else 3 for s in graph.sizes}
    found = [c for c in claims(graph, seconds, sizes, points=1) if c.fact is not None][: len(facts)]
    assert [c.fact.name for c in found if not c.holds] == fails


def test_derive_hessian_steps_show_the_structure(capsys):
    assert main(["hessian", "--steps"]) == 0
    out = capsys.readouterr().out
    assert " 1. [kronecker_form] nabla^2_W H = (diag(a) - a*a^T) (x) x*x^T\n" in out
    assert "[normalised_a] Sum((delta_jk - a_k)*a_j, (k, 1, K)) = 0\n" in out
    assert " 5. [null_direction] (diag(a) - a*a^T)*1 = 0\n      so adding u*1^T to W changes nothing, for any u" in out


# --------------------------------------------------------------------------- tangents (forward mode) for hvp
def test_the_tangents_of_softmax_regression():
    import sympy as sp

    from derive.graph.tangent import tangents

    graph = library.builtin("softmax")
    moves = tangents(graph)
    x, P, v_W, v_b = (sp.IndexedBase(n) for n in ("x", "P", "v_W", "v_b"))
    d_z, d_a, d_delta = (t.ref.base for t in moves.definitions)
    i, j = graph.node("W").indices
    k, l = (graph.node("x").indices[0].func(n, **graph.node("x").indices[0].assumptions0) for n in "kl")
    K, d = graph.size_of(j), graph.size_of(i)
    a = graph.node("a").base
    assert [t.value for t in moves.definitions] == [
        v_b[j] + sp.Sum(v_W[k, j] * x[k], (k, 1, d)),
        (d_z[j] - sp.Sum(a[l] * d_z[l], (l, 1, K))) * a[j],
        d_a[j] * sp.Sum(P[k], (k, 1, K)),
    ]
    assert [v for _, v in moves.products] == [d_delta[j] * x[i], d_delta[j]]


def test_the_tangents_of_the_perceptron_name_both_signals_apart():
    from derive.graph.tangent import tangents

    moves = tangents(library.builtin("mlp"))
    names = [t.ref.base for t in moves.definitions if "delta" in str(t.ref)]
    assert len(names) == 2 and names[0] != names[1]
    assert not any(t.value.has(sp_delta()) for t in moves.definitions)


def sp_delta():
    import sympy as sp

    return sp.KroneckerDelta


def test_the_generated_hvp_reads_the_samples_twice():
    """x W and x v_W in one product (np.split of x [W | v_W]), then x^T d_delta: two passes over x."""
    from derive.app.code import network_module_source

    source = network_module_source(library.builtin("softmax"), hessian=True)
    hvp = source.split("def hvp(")[1]
    assert "prod_x_W, prod_x_v_W = np.split((np.concatenate([W, v_W], axis=1).T @ x.T).T, 2, axis=1)" in hvp
    assert hvp.count("x.T") + hvp.count("@ x)") == 2


# --------------------------------------------------------------------------- generated hessian and hvp
@pytest.mark.parametrize(("name", "text_", "sizes"), CASES, ids=[c[0] for c in CASES])
def test_the_generated_hessian_and_hvp(name, text_, sizes):
    from derive.app.code import load_module, network_module_source

    graph = read(text_)
    module = load_module(network_module_source(graph, hessian=True), f"{name}_grad")
    arrays = network.random_arrays(graph, sizes, batch=3, seed=5)
    if name == "poisson":
        arrays["y"] = np.array([1.0, 0.0, 4.0])
    args = [arrays[n.name] for n in (*graph.parameters, *graph.inputs)]
    matrix = module.hessian(*args)
    numeric = network.hessian_by_differences(graph, backprop(graph, assume=False), arrays)
    np.testing.assert_allclose(matrix, numeric, rtol=1e-5, atol=1e-7)
    rng = np.random.default_rng(6)
    directions = [rng.normal(size=np.shape(arrays[p.name])) for p in graph.parameters]
    products = module.hvp(*args, *directions)
    flat = np.concatenate([np.ravel(p) for p in products])
    np.testing.assert_allclose(flat, matrix @ np.concatenate([np.ravel(v) for v in directions]), rtol=1e-10, atol=1e-12)
    assert [np.shape(p) for p in products] == [np.shape(arrays[p.name]) for p in graph.parameters]


AWKWARD = {
    # an input named v (the directions are v_W, v_b) and a penalty on W: products named apart from directions
    "input named v": (
        library.source("softmax")
        .replace("x_i", "v_i")
        .replace("W_ij*x_i", "W_ij*v_i")
        .replace('H = "-sum_j(P_j*log(a_j))"', 'H = "-sum_j(P_j*log(a_j)) + sum_i(sum_j(W_ij**2))/20"'),
        {"d": 2, "K": 3},
    ),
    # one square matrix multiplied from both sides: two groups of products, named apart
    "square W both ways": (
        """name = "sqm"
title = "a square matrix used both ways"
[indices]
i = "d"
h = "d"
[inputs]
x_i = "feature"
y = "target"
[parameters]
W_ih = "square"
[definitions]
z_h = "sum_i(W_ih*x_i)"
r_i = "sum_h(W_ih*x_h)"
s = "sum_h(tanh(z_h)) + sum_i(tanh(r_i))"
[loss]
H = "(s - y)**2/2"
""",
        {"d": 3},
    ),
    # tanh of a sum without a name for the sum, twice: the blocks name s_g back and hessian() needs no signal
    "two tanh layers": (
        """name = "cl"
title = "two tanh layers"
[indices]
i = "d"
h = "M"
g = "L"
j = "K"
[inputs]
x_i = "feature"
P_j = "label"
[parameters]
V_ih = "first"
U_hg = "second"
W_gj = "output"
[definitions]
u_h = "tanh(sum_i(V_ih*x_i))"
s_g = "tanh(sum_h(U_hg*u_h))"
z_j = "sum_g(W_gj*s_g)"
a_j = "softmax(z)_j"
[loss]
H = "-sum_j(P_j*log(a_j))"
""",
        {"d": 2, "M": 2, "L": 2, "K": 2},
    ),
}


@pytest.mark.parametrize("name", list(AWKWARD))
def test_the_generated_hvp_on_awkward_files(name):
    """hvp against hessian @ v and hessian against central differences of the module's own grad."""
    from derive.app.code import load_module, network_module_source

    text_, sizes = AWKWARD[name]
    graph = read(text_)
    module = load_module(network_module_source(graph, hessian=True), "awkward_grad")
    arrays = network.random_arrays(graph, sizes, batch=4, seed=3)
    args = [arrays[n.name] for n in (*graph.parameters, *graph.inputs)]
    count = len(graph.parameters)
    directions = [np.random.default_rng(0).normal(size=np.shape(a)) for a in args[:count]]
    flat = np.concatenate([np.ravel(v) for v in directions])
    products = np.concatenate([np.ravel(p) for p in module.hvp(*args, *directions)])
    np.testing.assert_allclose(products, module.hessian(*args) @ flat, rtol=1e-10, atol=1e-12)
    step = 1e-6
    moved = [[a + sign * step * v for a, v in zip(args[:count], directions, strict=True)] for sign in (1, -1)]
    grads = [np.concatenate([np.ravel(g) for g in module.grad(*m, *args[count:])]) for m in moved]
    np.testing.assert_allclose(products, (grads[0] - grads[1]) / (2 * step), rtol=1e-5, atol=1e-7)


def test_the_generated_hessian_is_finite_at_extreme_logits_and_checks_directions():
    from derive.app.code import load_module, network_module_source

    module = load_module(network_module_source(library.builtin("softmax"), hessian=True), "softmax_grad")
    rng = np.random.default_rng(0)
    W, b, x, P = rng.normal(size=(4, 3)), np.zeros(3), rng.normal(size=(20, 4)) * 1e3, np.eye(3)[rng.integers(0, 3, 20)]
    assert np.all(np.isfinite(module.hessian(W, b, x, P)))
    assert all(np.all(np.isfinite(p)) for p in module.hvp(W, b, x, P, np.ones((4, 3)), np.ones(3)))
    with pytest.raises(ValueError, match=r"v_W has shape \(3, 3\), W \(4, 3\)"):
        module.hvp(W, b, x, P, np.zeros((3, 3)), np.zeros(3))


def test_derive_code_hessian_for_the_perceptron(tmp_path):
    assert main(["code", "--model", "mlp", "--hessian", "-o", str(tmp_path)]) == 0
    assert "def hvp(" in (tmp_path / "mlp_grad.py").read_text()


def test_the_l2_add_on_for_a_graph():
    from derive.graph.addons import with_l2

    graph = with_l2(library.builtin("softmax"), 0.1)
    assert lines(graph)[0] == "d2H/dW_ij/dW_lk = (delta_jk - a_k)*a_j*x_i*x_l + delta_il*delta_jk/10"
    assert [f"{text(r)}" for _, r in backprop(graph).results] == ["W_ij/10 + x_i*delta_j", "delta_j"]
    arrays = network.random_arrays(graph, {"d": 2, "K": 3}, batch=4, seed=3)
    eigenvalues = np.linalg.eigvalsh(network.hessian_matrix(graph, second_derivatives(graph), arrays))
    assert eigenvalues[:2].min() > 0 or np.sum(eigenvalues > 1e-3) >= 6  # the W block is now positive definite
    with pytest.raises(ValueError, match="no weight matrix"):
        with_l2(library.builtin("logistic"), 0.1)


@pytest.mark.parametrize("solver", ["hessian", "cg"])
def test_newton_on_iris_reaches_a_tiny_gradient_in_few_iterations(solver):
    """With the generated Hessian (8 iterations) or conjugate gradient on the generated hvp (12)."""
    pytest.importorskip("sklearn", reason="scikit-learn (the train extra) is not installed")
    from derive.app.network_training import train_newton
    from derive.graph.addons import with_l2

    result = train_newton(with_l2(library.builtin("softmax"), 0.01), "species", gd_epochs=300, solver=solver)
    assert result.iterations <= 20 and result.grad_norms[-1] < 1e-8 and result.as_dict()["solver"] == solver
    assert result.gd_grad_norms[-1] > 1e-4 and result.test_accuracy >= 0.95
    assert set(result.as_dict()) >= {"iterations", "loss", "grad_norm", "accuracy"}


def test_derive_train_method_newton(tmp_path, capsys):
    import json

    pytest.importorskip("sklearn", reason="scikit-learn (the train extra) is not installed")
    plot = tmp_path / "n.png"
    argv = ["train", "--method", "newton", "--l2", "0.01", "--epochs", "100", "--format", "json", "--plot", str(plot)]
    assert main(argv) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["iterations"] <= 20 and data["grad_norm"] < 1e-8 and plot.read_bytes()[:4] == b"\x89PNG"
    assert data["solver"] == "hessian"  # auto: 15 parameters
    assert main([*argv, "--solver", "cg"]) == 0
    assert json.loads(capsys.readouterr().out)["solver"] == "cg"
    assert main(["train", "--method", "lbfgs"]) == 2
    assert "--method lbfgs trains over a dataset" in capsys.readouterr().err


def test_derive_hessian_l2(capsys):
    assert main(["hessian", "--l2", "0.1"]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first == "d2H/dW_ij/dW_lk = (delta_jk - a_k)*a_j*x_i*x_l + delta_il*delta_jk/10"
    assert main(["hessian", "--model", "logistic", "--l2", "0.1"]) == 2
    assert "no weight matrix" in capsys.readouterr().err


# --------------------------------------------------------------------------- derive check --hessian
@pytest.mark.parametrize(
    ("argv", "code", "shown"),
    [
        (["x_i*x_l*a_j*(1 - a_j)"], 1, "verdict: incorrect"),
        (["x_i*x_l*a_j*(1 - a_j)"], 1, "e.g. sample 1, entry W_11, W_12"),
        (["x_i*x_l*a_j*(delta_jk - a_k)"], 0, "verdict: correct"),
        (["--wrt", "W,b", "x_i*a_j*(delta_jk - a_k)"], 0, "claim: d2H/dW_ij/db_k = (delta_jk - a_k)*a_j*x_i"),
        (["--wrt", "b", "a_j*(delta_jk - a_j*a_k)"], 1, "verdict: incorrect"),
        (["--model", "logistic", "--wrt", "w", "sigma*(1 - sigma)*x_i*x_l"], 0, "verdict: correct"),
    ],
)
def test_derive_check_hessian(argv, code, shown, capsys):
    assert main(["check", "--hessian", *argv]) == code
    assert shown in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--wrt", "V", "x_i"], "--wrt names one parameter or a pair of softmax's: W,W, W,b, b,b"),
        (["x_i*x_q"], "index 'q' is not declared"),
        (["x_i*a_m"], "index 'm' is not declared"),
        (["--wrt", "b,W", "x_l*a_j"], "--wrt b,W: name the pair in the file's order, --wrt W,b"),
    ],
)
def test_derive_check_hessian_refuses_with_one_line(argv, message, capsys):
    assert main(["check", "--hessian", *argv]) == 2
    assert message in capsys.readouterr().err


# --------------------------------------------------------------------------- documents
def test_documents_with_the_second_derivatives(tmp_path, capsys):
    import shutil

    path = tmp_path / "softmax.toml"
    path.write_text(library.source("softmax"))
    options = ["--pdf"] if shutil.which("pdflatex") else []
    assert main(["latex", "--model-file", str(path), "--hessian", "-o", str(tmp_path), *options]) == 0
    assert main(["markdown", "--model-file", str(path), "--hessian", "-o", str(tmp_path)]) == 0
    md = (tmp_path / "softmax.md").read_text()
    assert (
        r"\frac{\partial^2 H}{\partial W_{ij} \, \partial W_{lk}} = \left(\delta_{jk} - a_{k}\right) a_{j} x_{i} x_{l}"
        in md
    )
    assert "At the example, the 6×6 Hessian in W_ij, b_j (flattened in C order)" in md
    assert (
        r"5. $\left(\operatorname{diag}\left(\mathbf{a}\right) - \mathbf{a} \mathbf{a}^{T}\right) \mathbf{1}"
        r" = \mathbf{0}$ (holds: largest entry of H v" in md
    )
    assert r"so adding $\mathbf{u} \mathbf{1}^{T}$ to $W$ changes nothing, for any $\mathbf{u}$" in md
    # the seed's sample: one sample, so the Hessian has rank one; its one non-zero eigenvalue
    assert "1.944" in md.split("with eigenvalues")[1].split(".")[0] + md.split("with eigenvalues")[1][:200]
    assert r"\theta_{\text{Newton}}" in md and r"\section{Second derivatives}" in (tmp_path / "softmax.tex").read_text()
    if options:
        assert (tmp_path / "softmax.pdf").read_bytes()[:5] == b"%PDF-"


def test_the_exact_check_draws_labels_that_do_not_sum_to_one(capsys):
    """--exact --check evaluates the Sum_k P_k factor where it is not 1 (and every fact still holds)."""
    arrays = network.random_arrays(library.builtin("softmax"), {"d": 2, "K": 3}, batch=3, seed=1, exact=True)
    assert np.all((arrays["P"] >= 0) & (arrays["P"] <= 1)) and not np.allclose(arrays["P"].sum(axis=1), 1)
    assert main(["hessian", "--exact", "--check", "--sizes", "d=2,K=3"]) == 0
    exact = capsys.readouterr().out
    assert main(["hessian", "--check", "--sizes", "d=2,K=3"]) == 0
    assumed = capsys.readouterr().out
    eigenvalues = [next(line for line in out.splitlines() if line.startswith("checked")) for out in (exact, assumed)]
    assert eigenvalues[0] != eigenvalues[1] and "FAILS" not in exact


def test_the_factored_forms_keep_a_ridge_apart_and_write_one_minus_first():
    from derive.graph.addons import with_l2
    from tests.test_model_files import MULTILABEL

    assert lines(with_l2(library.builtin("softmax"), 0.1))[0] == (
        "d2H/dW_ij/dW_lk = (delta_jk - a_k)*a_j*x_i*x_l + delta_il*delta_jk/10"
    )
    assert lines(read(MULTILABEL))[2] == "d2H/db_j/db_k = (1 - s_j)*s_j*delta_jk"
