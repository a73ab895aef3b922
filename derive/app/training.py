"""Training softmax regression on the real iris data with the generated gradient.

``derive train`` runs plain gradient descent, W <- W - lr dH/dW, b <- b - lr dH/db,
with ``loss_and_grad`` from the module that :mod:`derive.codegen` generates
(compiled from the generated source, exactly the text ``derive code`` writes),
and compares the test accuracy with scikit-learn's ``LogisticRegression`` on the
same split.  Iris comes from ``sklearn.datasets.load_iris``, which ships the data
(no download).  scikit-learn and matplotlib are the ``[train]`` extra, imported only
here and only when training (:func:`missing_packages` says which are absent).  Two tasks:

========  ===============================  ========================  =================
task      features                         classes                   start
========  ===============================  ========================  =================
setosa    petal length, petal width (cm)   Setosa, Non-Setosa        the seed's W, b
species   all four measurements (cm)       Setosa, Versicolor,       zeros
                                           Virginica
========  ===============================  ========================  =================
"""

from __future__ import annotations

import importlib.util
import io
import types
from dataclasses import dataclass

import numpy as np

from derive.app.code import load_module, module_source
from derive.core.models import SOFTMAX, Model

#: the packages of the [train] extra: module -> distribution
EXTRA = {"sklearn": "scikit-learn", "matplotlib": "matplotlib"}

#: how to install them
INSTALL = "pip install 'derive-gradients[train]' (or '.[train]' in a checkout)"

#: the split and everything else random is fixed, so ``derive all`` is reproducible
SPLIT_SEED = 0
TEST_FRACTION = 0.3


def missing_packages() -> list[str]:
    """The distributions of the [train] extra that cannot be imported here."""
    return [name for module, name in EXTRA.items() if importlib.util.find_spec(module) is None]


@dataclass(frozen=True)
class Task:
    name: str
    description: str
    features: tuple[int, ...]
    class_names: tuple[str, ...]
    epochs: int
    lr: float

    def labels(self, species: np.ndarray) -> np.ndarray:
        """Class index per sample: species as is, or 0 = Setosa, 1 = Non-Setosa."""
        return species if len(self.class_names) == 3 else (species != 0).astype(int)

    def start(self) -> tuple[np.ndarray, np.ndarray]:
        """Initial (W, b): the student's weights for the seed's task, zeros otherwise."""
        if self.name == "setosa":
            return np.array(SOFTMAX.example["W"], dtype=float), np.array(SOFTMAX.example["b"], dtype=float)
        return np.zeros((len(self.features), len(self.class_names))), np.zeros(len(self.class_names))


TASKS = {
    "setosa": Task(
        "setosa",
        "Setosa vs Non-Setosa on petal length and width (the seed's task)",
        (2, 3),
        ("Setosa", "Non-Setosa"),
        500,
        0.1,
    ),
    "species": Task(
        "species",
        "the three species on all four features",
        (0, 1, 2, 3),
        ("Setosa", "Versicolor", "Virginica"),
        3000,
        0.05,
    ),
}


@dataclass(frozen=True)
class Data:
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray


@dataclass(frozen=True)
class Result:
    task: Task
    epochs: int
    lr: float
    losses: tuple[float, ...]
    W: np.ndarray
    b: np.ndarray
    train_accuracy: float
    test_accuracy: float
    sklearn_accuracy: float
    data: Data

    def summary(self) -> str:
        d = self.data
        return "\n".join(
            [
                f"task {self.task.name}: {self.task.description}",
                f"iris: {len(d.y_train)} training and {len(d.y_test)} test samples (stratified split, seed {SPLIT_SEED})",
                f"gradient descent: {self.epochs} epochs, lr {self.lr:g}, generated loss_and_grad (mean over the batch)",
                f"final training loss {self.losses[-1]:.6f}",
                f"accuracy: training {self.train_accuracy:.1%}, test {self.test_accuracy:.1%}",
                f"scikit-learn LogisticRegression on the same split: test {self.sklearn_accuracy:.1%}",
            ]
        )


def load(task: Task) -> Data:
    """The iris measurements of the task's features, split into training and test sets."""
    from sklearn.datasets import load_iris
    from sklearn.model_selection import train_test_split

    iris = load_iris()
    X = np.ascontiguousarray(iris.data[:, list(task.features)], dtype=np.float64)
    y = task.labels(iris.target)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=TEST_FRACTION, stratify=y, random_state=SPLIT_SEED
    )
    return Data(X_train, y_train, X_test, y_test)


def one_hot(y: np.ndarray, classes: int) -> np.ndarray:
    return np.eye(classes)[y]


def accuracy(W: np.ndarray, b: np.ndarray, X: np.ndarray, y: np.ndarray) -> float:
    """Share of samples whose largest logit is their class."""
    return float(np.mean(np.argmax(X @ W + b, axis=1) == y))


def descend(module: types.ModuleType, data: Data, task: Task, epochs: int, lr: float, progress: bool) -> tuple:
    """Plain gradient descent of softmax regression from the task's start; the loss before each step."""
    W, b = task.start()
    P = one_hot(data.y_train, len(task.class_names))
    return gradient_descent(module, (W, b), (data.X_train, P), epochs, lr, task.name, progress)


def gradient_descent(
    module: types.ModuleType, parameters: tuple, inputs: tuple, epochs: int, lr: float, name: str, progress: bool
) -> tuple:
    """theta <- theta - lr * dH/dtheta with the module's ``loss_and_grad``: (the parameters..., the losses)."""
    from tqdm import tqdm

    losses = []
    for _ in tqdm(range(epochs), desc=f"train {name}", unit="epoch", disable=not progress, leave=False):
        H, *grads = module.loss_and_grad(*parameters, *inputs)
        parameters = tuple(p - lr * g for p, g in zip(parameters, grads))
        losses.append(H)
    return (*parameters, tuple(losses))


def sklearn_accuracy(data: Data) -> float:
    """Test accuracy of scikit-learn's (L2-regularised) LogisticRegression on the same split."""
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(max_iter=1000).fit(data.X_train, data.y_train)
    return float(model.score(data.X_test, data.y_test))


def train(
    task: str = "species",
    epochs: int | None = None,
    lr: float | None = None,
    progress: bool = False,
    model: Model | None = None,
    constants: dict | None = None,
) -> Result:
    """Train on iris with the generated gradient and compare with scikit-learn.

    ``model`` is softmax regression (default, with any add-ons) or binary logistic
    regression, which takes the seed's task as Setosa (y = 1) against the rest,
    starting from w = W_.1 - W_.2, b = b_1 - b_2: the same classifier as the
    2-class softmax.  ``constants`` gives the add-ons' strengths.
    """
    spec = TASKS[task]
    model = model or SOFTMAX
    if model.output_index is None and (model.label_kind != "probability" or task != "setosa"):
        raise ValueError(
            f"derive train trains classifiers: model {model.name!r} needs --model softmax, or logistic with --task setosa"
        )
    epochs, lr = epochs or spec.epochs, lr or spec.lr
    data = load(spec)
    module = load_module(module_source("float64", model, constants), "model_grad")
    binary = model.output_index is None
    W, b, losses = (descend_binary if binary else descend)(module, data, spec, epochs, lr, progress)
    score = binary_accuracy if binary else accuracy
    return Result(
        task=spec,
        epochs=epochs,
        lr=lr,
        losses=losses,
        W=W,
        b=b,
        train_accuracy=score(W, b, data.X_train, data.y_train),
        test_accuracy=score(W, b, data.X_test, data.y_test),
        sklearn_accuracy=sklearn_accuracy(data),
        data=data,
    )


def descend_binary(module: types.ModuleType, data: Data, task: Task, epochs: int, lr: float, progress: bool) -> tuple:
    """Gradient descent for the logistic model: y = 1 for Setosa (class 0), from the seed's start."""
    W, b = task.start()
    w, bias = W[:, 0] - W[:, 1], float(b[0] - b[1])
    y = (data.y_train == 0).astype(float)
    return gradient_descent(module, (w, bias), (data.X_train, y), epochs, lr, task.name, progress)


def binary_accuracy(w: np.ndarray, b: float, X: np.ndarray, y: np.ndarray) -> float:
    """Share of samples classified right: Setosa (class 0) exactly when sigma(z) > 1/2, i.e. z > 0."""
    return float(np.mean((X @ w + b > 0) == (y == 0)))


def loss_plot(result: Result, format: str = "png") -> bytes:
    """The training loss per epoch as a PNG (or "pdf", "svg": matplotlib's Agg backend, no display needed)."""
    title = (
        f"iris, {result.task.name}: gradient descent, lr {result.lr:g}\n"
        f"test accuracy {result.test_accuracy:.1%} (scikit-learn {result.sklearn_accuracy:.1%})"
    )
    return curve(result.losses, title, "mean cross-entropy H (training set)", format)


def curve(losses, title: str, ylabel: str, format: str = "png") -> bytes:
    """A loss curve per epoch, log scale, as the bytes of a PNG, PDF or SVG with no date or software stamped in."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6, 4), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.plot(np.arange(1, len(losses) + 1), losses, color="tab:blue")
    axes.set_xlabel("epoch")
    axes.set_ylabel(ylabel)
    axes.set_yscale("log")
    axes.set_title(title, fontsize=10)
    axes.grid(True, alpha=0.3)
    return figure_bytes(figure, format)


def figure_bytes(figure, format: str = "png") -> bytes:
    """A laid-out figure as PNG, PDF or SVG bytes with no date or software stamped in (the same bytes every run)."""
    figure.tight_layout()
    buffer = io.BytesIO()
    metadata = {"Software": None} if format == "png" else {"Creator": None} if format == "pdf" else {"Date": None}
    figure.savefig(buffer, format=format, metadata=metadata)
    return buffer.getvalue()
