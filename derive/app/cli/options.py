"""Options several commands share, and what they mean: the model, the sample, and numbers typed by users.

``--model/--l2/--smoothing/--exact`` choose the model (:class:`ModelOptions`, which also
configures it); ``--x/--W/--b/--label/--P/--lr`` the worked example's sample (:func:`sample`,
:func:`worked`).  The functions that take these values as plain arguments are what
``derive all`` calls to build its artefacts; the ``*_from_args`` functions read them from
the parsed command line.  Number parsers turn bad text into argparse's one-line errors.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from derive.core.errors import InputError

# --- numbers typed on the command line ------------------------------------------------------


def positive_int(limit: int) -> Callable[[str], int]:
    """A parser of whole numbers 1..limit."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text[:40]!r} is not a whole number") from None
        if not 1 <= value <= limit:
            raise argparse.ArgumentTypeError(f"{value} is out of range 1..{limit}")
        return value

    return parse


def folder(text: str) -> Path:
    """An output folder: any path but the empty one (an unset shell variable must not mean the current folder)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty path (give a folder, or leave -o out)")
    return Path(text)


#: the formats a loss curve can be saved in, by the file's suffix
PLOT_FORMATS = ("png", "pdf", "svg")


def plot_path(text: str) -> Path:
    """A loss-curve file: a .png, .pdf or .svg path."""
    path = folder(text)
    if path.suffix.lower().lstrip(".") not in PLOT_FORMATS:
        raise argparse.ArgumentTypeError(f"{text[:60]!r}: the file name must end in .{', .'.join(PLOT_FORMATS)}")
    return path


def _number(text: str, name: str) -> float:
    """One finite number of bounded magnitude (derive.app.inputs.number), as an argparse error."""
    from derive.app.inputs import number

    try:
        return number(text, name)
    except InputError as err:
        raise argparse.ArgumentTypeError(str(err).removeprefix(f"--{name}: ")) from None


def learning_rate(text: str) -> float:
    """A positive learning rate."""
    value = _number(text, "lr")
    if value <= 0:
        raise argparse.ArgumentTypeError("the learning rate must be positive")
    return value


def strength(upper: float) -> Callable[[str], float]:
    """A parser of an add-on's strength in [0, upper)."""

    def parse(text: str) -> float:
        value = _number(text, "strength")
        if not 0 <= value < upper:
            raise argparse.ArgumentTypeError(f"{value:g} is out of range [0, {upper:g})")
        return value

    return parse


# --- the model ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelOptions:
    """A registered model with its add-ons, as ``--model``, ``--l2`` and ``--smoothing`` choose it."""

    name: str = "softmax"
    l2: float | None = None
    smoothing: float | None = None

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> ModelOptions:
        return cls(args.model, args.l2, args.smoothing)

    def configure(self):
        """(the model configured by derive.core.models.configure, the numeric values of its strengths).

        An add-on the model cannot take is an :class:`InputError`.
        """
        from derive.core import symbols as S
        from derive.core.models import configure

        try:
            model = configure(self.name, l2=self.l2, smoothing=self.smoothing)
        except ValueError as err:
            raise InputError(str(err)) from None
        strengths = ((S.lam, self.l2), (S.eps, self.smoothing))
        return model, {symbol: value for symbol, value in strengths if value is not None}

    def options(self) -> list[str]:
        """The command-line options that choose this model: ["--model", "logistic", "--l2", "0.01"]."""
        words = [] if self.name == "softmax" else ["--model", self.name]
        if self.l2 is not None:
            words += ["--l2", f"{self.l2:g}"]
        if self.smoothing is not None:
            words += ["--smoothing", f"{self.smoothing:g}"]
        return words


def add_model_options(parser: argparse.ArgumentParser, files: bool = False) -> None:
    """--model, --l2, --smoothing, --exact; with ``files``, also --model-file and the file-only models (mlp)."""
    from derive.app.graphs import file_models
    from derive.core.models import MODELS

    group = parser.add_argument_group("the model")
    names = sorted(MODELS) + (list(file_models()) if files else [])
    group.add_argument(
        "--model", choices=names, default="softmax", help="which model (default softmax; see derive models)"
    )
    if files:
        group.add_argument(
            "--model-file",
            metavar="FILE",
            help="your own model: a TOML file of definitions (see derive models --show mlp)",
        )
    group.add_argument(
        "--l2", type=strength(1e6), metavar="LAMBDA", help="add the L2 penalty (lambda/2) Sum W^2 to the loss"
    )
    group.add_argument(
        "--smoothing", type=strength(1.0), metavar="EPS", help="label smoothing: P = (1 - eps) onehot + eps/K"
    )
    group.add_argument("--exact", action="store_true", help="do not assume Sum_k P_k = 1 (exact form for any labels)")


def model_from_args(args: argparse.Namespace):
    """The configured model and the numeric values of its strengths, from --model, --l2 and --smoothing."""
    return ModelOptions.from_args(args).configure()


# --- the worked example's sample --------------------------------------------------------------


def add_example_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("the sample (default: the model's example, the seed's iris Setosa sample)")
    group.add_argument("--x", metavar='"1.9 0.4"', help="features x_i, i = 1..d")
    group.add_argument(
        "--W",
        metavar='"0.1 0.5; 0.1 0.5"',
        help="weights: rows = features i, columns = classes j (one row w_i for logistic and linear)",
    )
    group.add_argument("--b", metavar='"0 0"', help="biases b_j (default zeros; one number for logistic and linear)")
    group.add_argument("--label", type=int, metavar="J", help="true class, 1-based (one-hot labels)")
    group.add_argument(
        "--P", metavar='"0.9 0.1"', help="soft labels P_j instead of --label (the target y for logistic and linear)"
    )
    group.add_argument("--lr", type=learning_rate, metavar="ETA", help="also show one gradient-descent step")


def sample(
    model,
    x: str | None = None,
    W: str | None = None,
    b: str | None = None,
    label: int | None = None,
    P: str | None = None,
):
    """(x, W, b, P) from the text of --x, --W, --b, --label and --P, each the model's own example's unless given."""
    from derive.app import inputs
    from derive.verify.example import MAX_CLASSES, MAX_FEATURES

    if model.output_index is None:
        if label is not None:
            raise InputError(f"model {model.name!r} has no classes: give its target with --P")
        return inputs.scalar_sample(x, W, b, P, model.example, MAX_FEATURES, model.label_kind)
    values = inputs.sample(x, W, b, label, P, model.example, MAX_CLASSES, MAX_FEATURES)
    if model.label_definition is not None and P is not None:
        raise InputError("with --smoothing the labels are defined by --label (the true class), not --P")
    return values


def worked(model, constants: dict, values: tuple, lr: float | None = None, assume: bool = True):
    """The worked example of ``model`` at the sample ``values`` (x, W, b, P).

    A model that defines its labels (label smoothing) takes the true class from P's largest entry.
    """
    import numpy as np

    from derive.core import symbols as S
    from derive.verify import checking
    from derive.verify.example import worked_example

    x, W, b, P = values
    if model.label_definition is not None:
        smoothed = checking.defined_labels(model, W.shape[1], constants[S.eps], int(np.argmax(P)) + 1)
        P = np.array([smoothed[model.label[k]] for k in range(1, W.shape[1] + 1)])
    return worked_example(x, W, b, P, lr=lr, model=model, assume=assume, constants=constants)


def example_from_args(args: argparse.Namespace):
    """The worked example of the command line's model, sample, --lr and --exact."""
    model, constants = model_from_args(args)
    values = sample(model, args.x, args.W, args.b, args.label, args.P)
    return worked(model, constants, values, lr=args.lr, assume=not args.exact)
