"""The generated NumPy modules of model files (``derive code --model-file F``, ``--model mlp``).

Each module against the engine's own numbers (:func:`derive.verify.network.evaluate`, exact form) and
against central finite differences of its own loss; a Taylor test; extreme inputs stay finite; float32;
N = 1; bad shapes and dtypes refused with one ValueError; ruff; output/mlp_grad.py is current.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from derive.app.cli.code import graph_module_text
from derive.app.cli.main import main
from derive.app.code import load_module, network_module_name, network_module_source
from derive.graph import library
from derive.graph.backprop import backprop
from derive.graph.spec import read
from derive.verify import network
from tests.test_model_files import DEEP, ISSUE_EXAMPLE, POISSON

OUTPUT = Path(__file__).resolve().parent.parent / "output"
MODELS = {
    "mlp": (ISSUE_EXAMPLE, {"d": 4, "M": 5, "K": 3}),
    "deep": (DEEP, {"d": 4, "M": 5, "L": 3, "K": 3}),
    "poisson": (POISSON, {"d": 3}),
    "logistic": (library.source("logistic"), {"d": 3}),
    "softmax": (library.source("softmax"), {"d": 2, "K": 3}),
    "linear": (library.source("linear"), {"d": 3}),
}


def module_of(name: str, dtype: str = "float64"):
    text, _ = MODELS[name]
    graph = read(text)
    return load_module(network_module_source(graph, dtype), f"{name}_grad"), graph


def arrays_of(name: str, batch: int = 7, seed: int = 0, scale: float = 1.0) -> tuple[dict, list]:
    text, sizes = MODELS[name]
    graph = read(text)
    arrays = network.random_arrays(graph, sizes, batch=batch, seed=seed)
    if name == "poisson":
        arrays["y"] = np.arange(batch, dtype=float) % 4
    if name == "logistic":
        arrays["y"] = (np.arange(batch) % 2).astype(float)
    for parameter in graph.parameters:
        arrays[parameter.name] = arrays[parameter.name] * scale
    return arrays, [arrays[n.name] for n in (*graph.parameters, *graph.inputs)]


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("batch", [1, 9])
def test_the_module_computes_what_the_engine_derived(name, batch):
    module, graph = module_of(name)
    arrays, args = arrays_of(name, batch=batch, seed=batch)
    want = network.evaluate(graph, backprop(graph, assume=False), arrays)
    got = module.loss_and_grad(*args)
    assert got[0] == pytest.approx(want.loss, rel=1e-12)
    for parameter, value in zip(graph.parameters, got[1:], strict=True):
        np.testing.assert_allclose(value, want.gradients[parameter.name], rtol=1e-10, atol=1e-12)
        assert np.shape(value) == np.shape(arrays[parameter.name])
    assert all(np.array_equal(a, b) for a, b in zip(module.grad(*args), got[1:], strict=True))
    assert module.loss(*args) == got[0]


@pytest.mark.parametrize("name", sorted(MODELS))
def test_the_module_agrees_with_finite_differences_of_its_own_loss(name):
    module, graph = module_of(name)
    _, args = arrays_of(name, seed=5)
    grads = module.grad(*args)
    step = 1e-6
    for position, parameter in enumerate(graph.parameters):
        value = np.array(args[position], dtype=float)
        numeric = np.zeros_like(value)
        for entry in np.ndindex(value.shape):
            moved = [value.copy(), value.copy()]
            moved[0][entry] += step
            moved[1][entry] -= step
            up = module.loss(*args[:position], moved[0], *args[position + 1 :])
            down = module.loss(*args[:position], moved[1], *args[position + 1 :])
            numeric[entry] = (up - down) / (2 * step)
        np.testing.assert_allclose(grads[position], numeric, rtol=1e-5, atol=1e-7, err_msg=parameter.name)


def test_taylor_slope_two_for_the_mlp():
    module, graph = module_of("mlp")
    _, args = arrays_of("mlp", seed=11)
    rng = np.random.default_rng(3)
    count = len(graph.parameters)
    directions = [rng.normal(size=np.shape(a)) for a in args[:count]]
    grads = module.grad(*args)
    steps = 2.0 ** -np.arange(6, 14)
    base = module.loss(*args)
    errors = []
    for h in steps:
        moved = [a + h * v for a, v in zip(args[:count], directions, strict=True)]
        first = sum(float(np.vdot(g, v)) for g, v in zip(grads, directions, strict=True))
        errors.append(abs(module.loss(*moved, *args[count:]) - base - h * first))
    slope = np.polyfit(np.log(steps), np.log(errors), 1)[0]
    assert 1.9 < slope < 2.1


@pytest.mark.parametrize("name", ["mlp", "deep", "softmax", "logistic", "poisson"])
def test_extreme_inputs_stay_finite(name):
    module, _ = module_of(name)
    _, args = arrays_of(name, scale=300.0)
    result = module.loss_and_grad(*args)
    assert all(np.all(np.isfinite(r)) for r in result), result


def test_float32_computes_in_float32():
    module, _ = module_of("mlp", "float32")
    reference, _ = module_of("mlp")
    _, args = arrays_of("mlp")
    got, want = module.loss_and_grad(*args), reference.loss_and_grad(*args)
    assert all(g.dtype == np.float32 for g in got[1:])
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=2e-4, atol=1e-6)


def test_bad_shapes_and_dtypes_are_one_value_error():
    module, _ = module_of("mlp")
    _, args = arrays_of("mlp")
    V, c, W, b, x, P = args
    with pytest.raises(ValueError, match=r"shapes V \(4, 5\), c \(5,\), W \(5, 3\), b \(3,\), x \(7, 3\)"):
        module.loss(V, c, W, b, x[:, :3], P)
    with pytest.raises(ValueError, match="shapes"):
        module.loss(V, c, W, b, x, P[:5])
    with pytest.raises(ValueError, match="x has dtype int64"):
        module.loss(V, c, W, b, x.astype(np.int64), P)
    with pytest.raises(ValueError, match="shapes"):
        module.loss(V, c, W, b, x[:0], P[:0])


def test_a_scalar_parameter_may_be_any_real_number():
    module, _ = module_of("logistic")
    _, (w, _b, x, y) = arrays_of("logistic")
    assert module.loss_and_grad(w, 1, x, y)[2] == module.loss_and_grad(w, 1.0, x, y)[2]
    assert isinstance(module.loss_and_grad(w, 1.0, x, y)[2], float)


def test_ruff_passes_on_the_generated_modules(tmp_path):
    for name, (text, _) in MODELS.items():
        (tmp_path / f"{name}_grad.py").write_text(network_module_source(read(text)))
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--line-length", "120", "--no-cache", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout


def test_output_holds_the_current_mlp_module():
    assert (OUTPUT / "mlp_grad.py").read_text() == graph_module_text("mlp")


def test_derive_code_writes_a_model_files_module(tmp_path, capsys):
    path = tmp_path / "net.toml"
    path.write_text(DEEP)
    assert main(["code", "--model-file", str(path), "-o", str(tmp_path)]) == 0
    written = Path(capsys.readouterr().out.strip())
    assert written.name == network_module_name(read(DEEP)) == "deep_grad.py"
    assert f"derive code --model-file {path}" in written.read_text()
    assert main(["code", "--model", "mlp", "--backend", "numba", "-o", str(tmp_path)]) == 2
    assert "a model file's module is NumPy" in capsys.readouterr().err
