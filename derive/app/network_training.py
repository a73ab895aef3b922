"""Training a model file's network (``derive train --model mlp``) on iris with its generated gradient.

The model must be a classifier of the usual shape: two inputs with one index each, the features (the
one not in the label assumption, or the first) and the labels P over the classes; the prediction is
the last definition over the classes' index.  The features of the task fix d, its classes K, and the
other sizes come from ``--sizes`` (default 8 each, e.g. M = 8 hidden units).  Gradient descent with
momentum, ``loss_and_grad`` from the generated module (exactly what ``derive code --model-file``
writes), weights drawn with a fixed seed (normal, scaled 1/sqrt(fan-in); biases zero), beside
scikit-learn's ``MLPClassifier`` with the same hidden size and activation on the same split.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from derive.app.code import load_module, network_module_source
from derive.app.training import TASKS, Data, curve, figure_bytes, load, one_hot
from derive.core.errors import InputError
from derive.graph.graph import Graph, Node
from derive.verify import network

#: the size of every index that the task does not fix (hidden units), unless --sizes says
HIDDEN = 8
MOMENTUM = 0.9
#: epochs and learning rate when the command line does not say
EPOCHS, LR = 2000, 0.05
#: the activations scikit-learn's MLPClassifier knows, by the function a model file applies
SKLEARN_ACTIVATIONS = {"tanh": "tanh", "sigmoid": "logistic", "relu": "relu"}


@dataclass(frozen=True)
class NetworkResult:
    graph: Graph
    task: str
    sizes: dict[str, int]
    epochs: int
    lr: float
    momentum: float
    losses: tuple[float, ...]
    parameters: dict[str, np.ndarray]
    train_accuracy: float
    test_accuracy: float
    sklearn_accuracy: float | None
    sklearn_model: str
    data: Data

    def summary(self) -> str:
        sizes = ", ".join(f"{k} = {v}" for k, v in self.sizes.items())
        d = self.data
        sklearn = f"test {self.sklearn_accuracy:.1%}" if self.sklearn_accuracy is not None else "not comparable"
        return "\n".join(
            [
                f"model {self.graph.name}: {self.graph.title} ({sizes})",
                f"task {self.task}: {TASKS[self.task].description}",
                f"iris: {len(d.y_train)} training and {len(d.y_test)} test samples (stratified split)",
                (
                    f"gradient descent with momentum {self.momentum:g}: {self.epochs} epochs, lr {self.lr:g},"
                    " generated loss_and_grad (mean over the batch)"
                ),
                f"final training loss {self.losses[-1]:.6f}",
                f"accuracy: training {self.train_accuracy:.1%}, test {self.test_accuracy:.1%}",
                f"scikit-learn {self.sklearn_model} on the same split: {sklearn}",
            ]
        )


def roles(graph: Graph) -> tuple[Node, Node, Node]:
    """(features, labels, prediction) of a classifier's graph; InputError when the graph is not one."""
    inputs = [n for n in graph.inputs if len(n.indices) == 1]
    if len(graph.inputs) != 2 or len(inputs) != 2:
        raise InputError(
            f"derive train trains classifiers with one feature vector and one label vector as inputs;"
            f" {graph.name} has inputs {', '.join(n.key for n in graph.inputs)}"
        )
    assumed = [n for n in inputs if any(a.lhs.has(n.base) for a in graph.assumptions)]
    labels = assumed[0] if assumed else inputs[1]
    features = next(n for n in inputs if n is not labels)
    over_classes = [d for d in graph.definitions if d.indices == labels.indices]
    if not over_classes:
        raise InputError(f"{graph.name} has no definition over the classes' index {labels.indices[0]} to predict with")
    return features, labels, over_classes[-1]


def sizes_for(graph: Graph, task: str, given: dict[str, int] | None) -> dict[str, int]:
    features, labels, _ = roles(graph)
    spec = TASKS[task]
    fixed = {
        graph.size_of(features.indices[0]).name: len(spec.features),
        graph.size_of(labels.indices[0]).name: len(spec.class_names),
    }
    sizes = {s.name: HIDDEN for s in graph.sizes} | fixed
    for name, value in (given or {}).items():
        if name not in sizes:
            raise InputError(f"--sizes: {name} is not a size of {graph.name} (its sizes: {', '.join(sizes)})")
        if name in fixed and value != fixed[name]:
            raise InputError(f"--sizes: {name} is fixed by the task {task} ({fixed[name]})")
        if not 1 <= value <= 10_000:
            raise InputError(f"--sizes: {name} = {value} is outside 1..10000")
        sizes[name] = value
    return sizes


def initial(graph: Graph, sizes: dict[str, int], seed: int) -> dict[str, np.ndarray]:
    """Weights (two or more axes) normal with standard deviation 1/sqrt(fan-in); biases and scalars zero."""
    rng = np.random.default_rng(seed)
    found = {}
    for node in graph.parameters:
        shape = tuple(sizes[graph.size_of(i).name] for i in node.indices)
        found[node.name] = rng.normal(0.0, 1.0 / np.sqrt(shape[0]), shape) if len(shape) >= 2 else np.zeros(shape)
    return found


def train_network(
    graph: Graph,
    task: str = "species",
    epochs: int | None = None,
    lr: float | None = None,
    momentum: float = MOMENTUM,
    sizes: dict[str, int] | None = None,
    seed: int = 0,
    progress: bool = False,
) -> NetworkResult:
    """Train ``graph`` on the iris task with its generated gradient; compare with scikit-learn."""
    from tqdm import tqdm

    features, labels, prediction = roles(graph)
    sizes = sizes_for(graph, task, sizes)
    epochs, lr = epochs or EPOCHS, lr or LR
    spec = TASKS[task]
    data = load(spec)
    module = load_module(network_module_source(graph), f"{graph.name}_grad")
    params = initial(graph, sizes, seed)
    names = [p.name for p in graph.parameters]
    inputs = {features.name: data.X_train, labels.name: one_hot(data.y_train, len(spec.class_names))}
    ordered_inputs = [inputs[n.name] for n in graph.inputs]
    velocity = {n: np.zeros_like(v) for n, v in params.items()}
    losses = []
    for _ in tqdm(range(epochs), desc=f"train {graph.name}", unit="epoch", disable=not progress, leave=False):
        loss, *grads = module.loss_and_grad(*(params[n] for n in names), *ordered_inputs)
        for name, g in zip(names, grads, strict=True):
            velocity[name] = momentum * velocity[name] - lr * np.asarray(g)
            params[name] = params[name] + velocity[name]
        losses.append(loss)
    if not np.isfinite(losses[-1]):
        raise InputError(f"training diverged (loss {losses[-1]}): try a smaller --lr")
    score = _accuracy(graph, features, labels, prediction, params, len(spec.class_names))
    sklearn, described = sklearn_accuracy(graph, data, sizes, seed)
    return NetworkResult(
        graph,
        task,
        sizes,
        epochs,
        lr,
        momentum,
        tuple(losses),
        params,
        score(data.X_train, data.y_train),
        score(data.X_test, data.y_test),
        sklearn,
        described,
        data,
    )


def _accuracy(graph: Graph, features: Node, labels: Node, prediction: Node, params: dict, classes: int):
    """Share of samples whose largest prediction (the last definition over the classes) is their class."""

    def score(X: np.ndarray, y: np.ndarray) -> float:
        values, _ = network.forward(graph, {**params, features.name: X, labels.name: one_hot(y, classes)})
        return float(np.mean(np.argmax(values[prediction.name], axis=1) == y))

    return score


def sklearn_accuracy(graph: Graph, data: Data, sizes: dict[str, int], seed: int) -> tuple[float | None, str]:
    """Test accuracy of scikit-learn's MLPClassifier of the same hidden sizes and activation, when it has one."""
    from sklearn.neural_network import MLPClassifier

    activations = [type(d.expr).__name__ for d in graph.definitions if type(d.expr).__name__ in SKLEARN_ACTIVATIONS]
    hidden = [
        sizes[graph.size_of(d.indices[0]).name]
        for d in graph.definitions
        if type(d.expr).__name__ in SKLEARN_ACTIVATIONS
    ]
    if not activations or len(set(activations)) != 1:
        return None, "MLPClassifier (no single activation of its kinds in the model)"
    activation = SKLEARN_ACTIVATIONS[activations[0]]
    model = MLPClassifier(tuple(hidden), activation=activation, max_iter=3000, random_state=seed)
    model.fit(data.X_train, data.y_train)
    return float(model.score(data.X_test, data.y_test)), f"MLPClassifier(hidden {tuple(hidden)}, {activation}, adam)"


def network_plot(result: NetworkResult, format: str = "png") -> bytes:
    """The training loss per epoch (matplotlib's Agg backend), titled with both accuracies."""
    sklearn = f"{result.sklearn_accuracy:.1%}" if result.sklearn_accuracy is not None else "n/a"
    title = (
        f"{result.graph.name} on iris, {result.task}: momentum {result.momentum:g}, lr {result.lr:g}\n"
        f"test accuracy {result.test_accuracy:.1%} (scikit-learn MLPClassifier {sklearn})"
    )
    return curve(result.losses, title, "mean training loss", format)


# ---------------------------------------------------------------------------- Newton's method
#: Newton stops when the gradient's norm falls below this, or after this many iterations
NEWTON_TOLERANCE, NEWTON_ITERATIONS = 1e-8, 50

#: solver "auto" takes the generated Hessian (a linear solve) up to this many parameters, conjugate gradient on the
#: generated hvp (no matrix) past it
DIRECT_LIMIT = 2000


@dataclass(frozen=True)
class NewtonResult:
    """Newton's method beside gradient descent on the same task from the same start."""

    graph: Graph
    task: str
    losses: tuple[float, ...]
    grad_norms: tuple[float, ...]
    gd_grad_norms: tuple[float, ...]
    train_accuracy: float
    test_accuracy: float
    solver: str = "hessian"

    @property
    def iterations(self) -> int:
        return len(self.losses) - 1

    def as_dict(self) -> dict:
        return {
            "model": self.graph.name,
            "iterations": self.iterations,
            "loss": self.losses[-1],
            "grad_norm": self.grad_norms[-1],
            "accuracy": self.test_accuracy,
            "train_accuracy": self.train_accuracy,
            "solver": self.solver,
            "losses": list(self.losses),
            "grad_norms": list(self.grad_norms),
        }


def train_newton(
    graph: Graph, task: str = "species", gd_epochs: int = 3000, lr: float = LR, solver: str = "auto"
) -> NewtonResult:
    """Damped Newton with the generated Hessian, or conjugate gradient on the generated hvp (``solver``; a
    backtracking line search; a shift where the Hessian is not positive definite), until the gradient's norm is
    below NEWTON_TOLERANCE; and gradient descent from the same start."""
    features, labels, prediction = roles(graph)
    spec = TASKS[task]
    data = load(spec)
    module = load_module(network_module_source(graph, hessian=True), f"{graph.name}_grad")
    sizes = sizes_for(graph, task, None)
    params = initial(graph, sizes, 0)  # hidden layers need a start away from the saddle at zero
    inputs = {features.name: data.X_train, labels.name: one_hot(data.y_train, len(spec.class_names))}
    ordered = [inputs[n.name] for n in graph.inputs]
    names = [p.name for p in graph.parameters]
    start = initial_like(params)  # gradient descent from the same start
    if solver == "auto":
        solver = "hessian" if sum(np.size(v) for v in params.values()) <= DIRECT_LIMIT else "cg"
    losses, norms = _newton(module, params, names, ordered, _hessian_step if solver == "hessian" else _cg_step)
    gd_norms = _gradient_descent_norms(module, start, names, ordered, gd_epochs, lr)
    score = _accuracy(graph, features, labels, prediction, params, len(spec.class_names))
    return NewtonResult(
        graph,
        task,
        tuple(losses),
        tuple(norms),
        tuple(gd_norms),
        score(data.X_train, data.y_train),
        score(data.X_test, data.y_test),
        solver,
    )


def initial_like(params: dict) -> dict:
    return {n: np.array(v, copy=True) for n, v in params.items()}


def _flat(values) -> np.ndarray:
    return np.concatenate([np.ravel(v) for v in values])


def _unflat(vector: np.ndarray, params: dict, names: list[str]) -> dict:
    out, start = {}, 0
    for name in names:
        size = np.size(params[name])
        out[name] = vector[start : start + size].reshape(np.shape(params[name]))
        start += size
    return out


def _newton(module, params: dict, names: list[str], inputs: list, solve) -> tuple[list[float], list[float]]:
    """Newton steps in place on ``params`` (each from ``solve``): the losses and gradient norms before each step
    and at the end."""
    losses, norms = [], []
    for _ in range(NEWTON_ITERATIONS + 1):
        loss, *grads = module.loss_and_grad(*(params[n] for n in names), *inputs)
        gradient = _flat(grads)
        losses.append(loss)
        norms.append(float(np.linalg.norm(gradient)))
        if norms[-1] < NEWTON_TOLERANCE or len(losses) > NEWTON_ITERATIONS:
            break
        step = solve(module, params, names, inputs, gradient)
        params.update(_line_search(module, params, names, inputs, loss, gradient, step))
    return losses, norms


def _hessian_step(module, params: dict, names: list[str], inputs: list, gradient) -> np.ndarray:
    """H p = -g with the generated Hessian, shifted to be positive definite where it is not."""
    hessian = module.hessian(*(params[n] for n in names), *inputs)
    shift = max(0.0, 1e-10 - float(np.linalg.eigvalsh(hessian).min()))
    return np.linalg.lstsq(hessian + shift * np.eye(len(gradient)), -gradient, rcond=None)[0]


def _cg_step(module, params: dict, names: list[str], inputs: list, gradient) -> np.ndarray:
    """H p = -g by conjugate gradient on the generated hvp (no matrix), stopped at a relative residual of
    min(0.5, sqrt|g|) |g| (inexact Newton) or at a direction of non-positive curvature (then the steepest
    descent step when it is the first)."""
    current = [params[n] for n in names]

    def product(vector: np.ndarray) -> np.ndarray:
        return _flat(module.hvp(*current, *inputs, *_unflat(vector, params, names).values()))

    size = float(np.linalg.norm(gradient))
    tolerance = min(0.5, np.sqrt(size)) * size
    step, residual = np.zeros_like(gradient), -gradient
    direction = residual.copy()
    for _ in range(len(gradient)):
        curved = product(direction)
        curvature = float(direction @ curved)
        if curvature <= 0:
            return step if step.any() else -gradient
        alpha = float(residual @ residual) / curvature
        step = step + alpha * direction
        new = residual - alpha * curved
        if np.linalg.norm(new) < tolerance:
            return step
        direction = new + float(new @ new) / float(residual @ residual) * direction
        residual = new
    return step


def _line_search(module, params: dict, names: list[str], inputs: list, loss: float, gradient, step) -> dict:
    """The largest of 1, 1/2, 1/4 ... along ``step`` that lowers the loss enough (Armijo), as new parameters."""
    start = _flat([params[n] for n in names])
    t = 1.0
    for _ in range(40):
        trial = _unflat(start + t * step, params, names)
        if module.loss(*(trial[n] for n in names), *inputs) <= loss + 1e-4 * t * float(gradient @ step):
            return trial
        t /= 2
    return _unflat(start, params, names)


def _gradient_descent_norms(module, params: dict, names: list[str], inputs: list, epochs: int, lr: float) -> list:
    norms = []
    for _ in range(epochs):
        _, *grads = module.loss_and_grad(*(params[n] for n in names), *inputs)
        norms.append(float(np.linalg.norm(_flat(grads))))
        for name, g in zip(names, grads, strict=True):
            params[name] = params[name] - lr * np.asarray(g)
    return norms


def newton_plot(result: NewtonResult, format: str = "png") -> bytes:
    """The gradient's norm per iteration: Newton's few steps beside gradient descent's thousands (log-log)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6, 4), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.plot(np.arange(1, len(result.grad_norms) + 1), result.grad_norms, "o-", label="Newton (generated Hessian)")
    axes.plot(np.arange(1, len(result.gd_grad_norms) + 1), result.gd_grad_norms, label="gradient descent")
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("iteration")
    axes.set_ylabel("norm of the gradient")
    axes.set_title(f"{result.graph.name} on iris, {result.task}: Newton in {result.iterations} iterations", fontsize=10)
    axes.legend()
    axes.grid(True, alpha=0.3)
    return figure_bytes(figure, format)
