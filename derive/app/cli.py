"""The command line: ``derive <command>``.  The only module that writes files.

Each command is a function registered in :data:`COMMANDS` by :func:`command`,
with a function that adds its arguments; ``main`` dispatches.  User errors
(:class:`~derive.errors.InputError`) become one line on stderr and exit 2.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from derive.app.files import write_atomic
from derive.core.errors import InputError

#: where ``derive all`` writes unless -o says otherwise: ./output, under the current folder
OUTPUT = Path("output")


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


COMMANDS: dict[str, Command] = {}


def command(name: str, help: str, configure: Callable[[argparse.ArgumentParser], None] = lambda p: None):
    """Register the decorated ``run(args) -> exit code`` as ``derive <name>``."""

    def register(run: Callable[[argparse.Namespace], int]):
        COMMANDS[name] = Command(name, help, configure, run)
        return run

    return register


def positive_int(limit: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text[:40]!r} is not a whole number") from None
        if not 1 <= value <= limit:
            raise argparse.ArgumentTypeError(f"{value} is out of range 1..{limit}")
        return value

    return parse


def learning_rate(text: str) -> float:
    from derive.app.inputs import number

    try:
        value = number(text, "lr")
    except InputError as err:
        raise argparse.ArgumentTypeError(str(err).removeprefix("--lr: ")) from None
    if value <= 0:
        raise argparse.ArgumentTypeError("the learning rate must be positive")
    return value


def strength(upper: float) -> Callable[[str], float]:
    def parse(text: str) -> float:
        from derive.app.inputs import number

        try:
            value = number(text, "strength")
        except InputError as err:
            raise argparse.ArgumentTypeError(str(err).removeprefix("--strength: ")) from None
        if not 0 <= value < upper:
            raise argparse.ArgumentTypeError(f"{value:g} is out of range [0, {upper:g})")
        return value

    return parse


def add_model_options(parser: argparse.ArgumentParser) -> None:
    from derive.core.models import MODELS

    group = parser.add_argument_group("the model")
    group.add_argument("--model", choices=sorted(MODELS), default="softmax", help="which model (default softmax; see derive models)")
    group.add_argument("--l2", type=strength(1e6), metavar="LAMBDA", help="add the L2 penalty (lambda/2) Sum W^2 to the loss")
    group.add_argument("--smoothing", type=strength(1.0), metavar="EPS", help="label smoothing: P = (1 - eps) onehot + eps/K")
    group.add_argument("--exact", action="store_true", help="do not assume Sum_k P_k = 1 (exact form for any labels)")


def model_from_args(args: argparse.Namespace):
    """The configured model and the numeric values of its strengths."""
    from derive.core import symbols as S
    from derive.core.models import configure

    try:
        model = configure(args.model, l2=args.l2, smoothing=args.smoothing)
    except ValueError as err:
        raise InputError(str(err)) from None
    constants = {S.lam: args.l2} if args.l2 is not None else {}
    if args.smoothing is not None:
        constants[S.eps] = args.smoothing
    return model, constants


def add_example_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("the sample (default: the model's example, the seed's iris Setosa sample)")
    group.add_argument("--x", metavar='"1.9 0.4"', help="features x_i, i = 1..d")
    group.add_argument("--W", metavar='"0.1 0.5; 0.1 0.5"', help="weights: rows = features i, columns = classes j (one row w_i for logistic and linear)")
    group.add_argument("--b", metavar='"0 0"', help="biases b_j (default zeros; one number for logistic and linear)")
    group.add_argument("--label", type=int, metavar="J", help="true class, 1-based (one-hot labels)")
    group.add_argument("--P", metavar='"0.9 0.1"', help="soft labels P_j instead of --label (the target y for logistic and linear)")
    group.add_argument("--lr", type=learning_rate, metavar="ETA", help="also show one gradient-descent step")


def example_from_args(args: argparse.Namespace):
    from derive.app import inputs
    from derive.verify import checking
    from derive.verify.example import MAX_CLASSES, MAX_FEATURES, worked_example

    model, constants = model_from_args(args)
    if model.output_index is None:
        if args.label is not None:
            raise InputError(f"model {model.name!r} has no classes: give its target with --P")
        x, W, b, P = inputs.scalar_sample(args.x, args.W, args.b, args.P, model.example, MAX_FEATURES)
    else:
        x, W, b, P = inputs.sample(args.x, args.W, args.b, args.label, args.P, model.example, MAX_CLASSES, MAX_FEATURES)
    if model.label_definition is not None:
        if args.P is not None:
            raise InputError("with --smoothing the labels are defined by --label (the true class), not --P")
        smoothed = checking.defined_labels(model, W.shape[1], args.smoothing, int(np.argmax(P)) + 1)
        P = np.array([smoothed[model.label[k]] for k in range(1, W.shape[1] + 1)])
    return worked_example(x, W, b, P, lr=args.lr, model=model, assume=not args.exact, constants=constants)


def _example_args(parser: argparse.ArgumentParser) -> None:
    add_example_options(parser)
    add_model_options(parser)
    parser.add_argument("--format", choices=("text", "json"), default="text", help="output format (default text)")


@command("example", "the worked example: z, a, H, gradients, mistakes, one descent step", _example_args)
def cmd_example(args: argparse.Namespace) -> int:
    from derive.core.derivation import gradients
    from derive.render.report import example_report

    example = example_from_args(args)
    if args.format == "json":
        print(json.dumps(example.as_dict()))
    else:
        model, _ = model_from_args(args)
        print(example_report(example, gradients(model, assume=example.assume)), end="")
    return 0


def _gradient_args(parser: argparse.ArgumentParser) -> None:
    add_model_options(parser)
    parser.add_argument("--steps", action="store_true", help="print every step of the derivation")
    parser.add_argument("--classes", "-K", type=positive_int(1000), metavar="K", help="prove every entry for K classes")
    parser.add_argument("--features", "-d", type=positive_int(100_000), metavar="d", help="... and d features")
    _loss_args(parser)


@command("gradient", "the closed forms of the loss's derivatives, derived by the engine", _gradient_args)
def cmd_gradient(args: argparse.Namespace) -> int:
    from derive.core.derivation import gradients
    from derive.printing.text import equation
    from derive.render.report import assumption_line, steps_report

    if args.expr is not None or args.wrt is not None:
        return _user_gradient(args)
    model, _ = model_from_args(args)
    derivations = gradients(model, assume=not args.exact)
    for derivation in derivations:
        if args.steps:
            print(steps_report(derivation))
        print(equation(derivation.lhs, derivation.result))
    print(assumption_line(derivations[0]))
    if (args.classes is None) != (args.features is None):
        raise InputError("give both --classes and --features for the element-wise proof")
    if args.classes is not None:
        from derive.verify.proof import prove

        try:
            proof = prove(model, args.classes, args.features, assume=not args.exact, progress=sys.stderr.isatty())
        except ValueError as err:
            raise InputError(str(err)) from None
        print(proof.summary())
    return 0


@command("models", "list the models, one line each")
def cmd_models(args: argparse.Namespace) -> int:
    from derive.core.models import MODELS

    width = max(map(len, MODELS))
    for name, model in MODELS.items():
        print(f"{name.ljust(width)}  {model.title}: {model.summary}")
    print("add-ons for every command: --l2 LAMBDA (L2 penalty), --smoothing EPS (softmax label smoothing)")
    return 0


def _check_args(parser: argparse.ArgumentParser) -> None:
    from derive.claims.bounds import MAX_SIZE

    parser.add_argument("claim", metavar="CLAIM", help='the claimed dH/dW_ij, e.g. "-P_j*(1-a_j)*x_i" or LaTeX; "-(y - sigma)*x_i" for --model logistic')
    parser.add_argument("--wrt", choices=("W", "w", "b"), help="the parameter: W (dH/dW_ij, default) or b (dH/db_j); w (dH/dw_i) or b for logistic and linear")
    parser.add_argument("--latex", action="store_true", help="read the claim as LaTeX (detected when it has \\ or {})")
    parser.add_argument("--classes", type=positive_int(MAX_SIZE), default=2, metavar="K", help="K for concrete indices (default 2)")
    parser.add_argument("--features", type=positive_int(MAX_SIZE), default=2, metavar="d", help="d (default 2)")
    parser.add_argument("--format", choices=("text", "json"), default="text", help="output format (default text)")
    add_model_options(parser)
    parse = parser.parse_known_args
    parser.parse_known_args = lambda args=None, namespace=None: parse(_claim_as_typed(args), namespace)


def _claim_as_typed(args: list[str] | None) -> list[str] | None:
    """Let a claim that starts with a minus sign through argparse: "-P_j*x_i" -> " -P_j*x_i".

    argparse takes any argument that starts with "-" for an option; a leading
    space makes it a positional, and the claim parser ignores the space.  Only
    arguments shaped like options (-h, --format, --format=json) stay options.
    """
    import re

    if args is None:
        return None
    out, rest = [], list(args)
    while rest:
        arg = rest.pop(0)
        if arg == "--":
            return out + [arg] + rest
        option = re.fullmatch(r"--?[A-Za-z][A-Za-z0-9-]*(=.*)?", arg, re.DOTALL)
        out.append(" " + arg if arg.startswith("-") and not option else arg)
    return out


@command("check", "judge a hand derivation of dH/dW_ij or dH/db_j (dH/dw_i, dH/db for logistic and linear)", _check_args)
def cmd_check(args: argparse.Namespace) -> int:
    """Exit 0 correct, 1 incorrect, 2 bad input, 3 correct only under Sum_k P_k = 1 (switched off by --exact)."""
    from derive.claims.verdict import check
    from derive.render.check import report

    model, constants = model_from_args(args)
    result = check(
        args.claim, wrt=args.wrt, assume=not args.exact, latex=True if args.latex else None,
        classes=args.classes, features=args.features, model=model, constants=constants,
    )  # fmt: skip
    print(json.dumps(result.as_dict()) if args.format == "json" else report(result), end="\n" if args.format == "json" else "")
    return result.exit_code


def _loss_args(parser: argparse.ArgumentParser) -> None:
    """derive gradient --expr "LOSS" --wrt w,b: a user-written loss instead of a model."""
    group = parser.add_argument_group("your own loss (instead of --model)")
    group.add_argument("--expr", metavar="LOSS", help='a loss such as "log(cosh(w*x + b - y))" (functions exp, log, sigmoid, softmax, cosh, ...)')
    group.add_argument("--wrt", metavar="w,b", help="the parameters to differentiate by, comma-separated (w, b, w_i ...)")
    parse = parser.parse_known_args
    parser.parse_known_args = lambda args=None, namespace=None: parse(_claim_as_typed(args), namespace)


def _user_gradient(args: argparse.Namespace) -> int:
    """The derivatives of a user-written loss, with their steps and a finite-difference check."""
    from derive.claims.loss import gradients, numeric_check
    from derive.printing.text import equation, text
    from derive.render.report import steps_report

    if args.expr is None or args.wrt is None:
        raise InputError("give the loss with --expr and the parameters with --wrt, e.g. --expr \"(w*x + b - y)^2/2\" --wrt w,b")
    if args.model != "softmax" or args.l2 is not None or args.smoothing is not None or args.classes or args.features:
        raise InputError("--expr is a loss of its own: leave out --model, --l2, --smoothing, --classes and --features")
    results = gradients(args.expr, args.wrt)
    print(f"loss: L = {text(results[0].loss.expr)}")
    worst = 0.0
    for result in results:
        if args.steps:
            print(steps_report(result))
        print(equation(result.lhs, result.result))
        worst = max(worst, numeric_check(result))
    print(f"checked: central finite differences at 3 random points, largest relative error {worst:.1e}")
    return 0


#: artefacts that ``derive all`` writes into output/: file name -> function returning its content
ARTEFACTS: dict[str, Callable[[], str | bytes]] = {}


def artefact(name: str):
    def register(make: Callable[[], str | bytes]):
        ARTEFACTS[name] = make
        return make

    return register


@artefact("gradient.txt")
def _gradient_text() -> str:
    from derive.core.derivation import gradients
    from derive.render.report import assumption_line, steps_report

    parts = []
    for assume in (True, False):
        derivations = gradients(assume=assume)
        parts += [steps_report(d) for d in derivations] + [assumption_line(derivations[0]) + "\n"]
    return "\n".join(parts)


@artefact("example.txt")
def _example_text() -> str:
    from derive.core.derivation import gradients
    from derive.render.report import example_report
    from derive.verify.example import worked_example

    return example_report(worked_example(lr=0.1), gradients())


@artefact("example.json")
def _example_json() -> str:
    from derive.verify.example import worked_example

    return json.dumps(worked_example(lr=0.1).as_dict(), indent=2) + "\n"


@artefact("check.txt")
def _check_text() -> str:
    from derive.claims.verdict import check
    from derive.core.models import SOFTMAX
    from derive.render.check import report

    parts = [f'$ derive check "{claim}"    # the {name}\n{report(check(claim))}' for name, claim in SOFTMAX.claims]
    return "\n".join(parts)


def _all_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--output", type=Path, default=OUTPUT, help=f"directory (default {OUTPUT})")


@command("all", "regenerate every artefact in output/ (the main job)", _all_args)
def cmd_all(args: argparse.Namespace) -> int:
    for name, make in ARTEFACTS.items():
        content = make()
        if content is not None:  # None: the artefact was skipped and has said why on stderr
            print(write_atomic(args.output / name, content))
    return 0


#: the learning rate of the gradient-descent step in the derivation documents unless --lr is given
DOCUMENT_LR = 0.1


def add_document_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--output", type=Path, default=Path("."), help="directory (default: the current one)")
    parser.add_argument("--classes", "-K", type=positive_int(1000), metavar="K", help="write the derivation for K classes")
    parser.add_argument("--features", "-d", type=positive_int(100_000), metavar="d", help="... and d features")
    add_example_options(parser)
    add_model_options(parser)
    parser.set_defaults(lr=DOCUMENT_LR)
    parser.epilog = f"The worked example's gradient-descent step uses --lr, default {DOCUMENT_LR}."


def document_from_args(args: argparse.Namespace) -> dict:
    """The context of the derivation templates for the command line's options."""
    from derive.claims.verdict import seed_checks
    from derive.core.derivation import gradients
    from derive.render.document import document
    from derive.verify.example import two_class_pair

    model, constants = model_from_args(args)
    if model.output_index is None:
        if args.classes is not None:
            raise InputError(f"model {model.name!r} has one output: leave out --classes (--features alone sets d)")
        sizes = None if args.features is None else (1, args.features)
    else:
        if (args.classes is None) != (args.features is None):
            raise InputError("give both --classes and --features, or neither (generic K and d)")
        sizes = None if args.classes is None else (args.classes, args.features)
    try:
        derivations = gradients(model, assume=not args.exact)
        judged = seed_checks(model, not args.exact)
        return document(derivations, example_from_args(args), sizes, constants, judged, two_class_pair(model))
    except ValueError as err:
        raise InputError(str(err)) from None


def tex_compiler() -> str:
    """The path of pdflatex; InputError when no TeX is installed."""
    import shutil

    found = shutil.which("pdflatex")
    if found is None:
        raise InputError("--pdf needs TeX, and pdflatex is not on PATH (Debian: apt-get install texlive-latex-base)")
    return found


def compile_pdf(source: str) -> bytes:
    """The PDF of the standalone LaTeX ``source``, compiled by pdflatex in a temporary directory.

    One pass suffices: the document has no cross-references.  SOURCE_DATE_EPOCH
    pins the dates pdfTeX writes, so the same source gives the same PDF.
    """
    import subprocess

    compiler = tex_compiler()
    env = {**os.environ, "SOURCE_DATE_EPOCH": "0", "FORCE_SOURCE_DATE": "1"}
    with tempfile.TemporaryDirectory(prefix="derive-tex-") as tmp:
        Path(tmp, "derivation.tex").write_text(source, encoding="utf-8")
        command = [compiler, "-interaction=nonstopmode", "-halt-on-error", "-no-shell-escape", "derivation.tex"]
        try:
            run = subprocess.run(command, cwd=tmp, env=env, capture_output=True, timeout=300, check=False)
        except subprocess.TimeoutExpired:
            raise InputError("pdflatex failed: no PDF after 300 s") from None
        if run.returncode != 0:
            log = run.stdout.decode("utf-8", "replace").splitlines()
            first = next((line for line in log if line.startswith("!")), log[-1] if log else "no output")
            raise InputError(f"pdflatex failed: {first[:300]}")
        return Path(tmp, "derivation.pdf").read_bytes()


def _latex_args(parser: argparse.ArgumentParser) -> None:
    add_document_options(parser)
    parser.add_argument("--fragment", action="store_true", help="write the body alone, for \\input into one's own document")
    parser.add_argument("--pdf", action="store_true", help="also compile the document to PDF with pdflatex")


@command("latex", "the derivation as a LaTeX document, compiled to PDF with --pdf", _latex_args)
def cmd_latex(args: argparse.Namespace) -> int:
    from derive.render.environment import render

    if args.pdf and args.fragment:
        raise InputError("--pdf compiles the standalone document: leave out --fragment")
    if args.pdf:
        tex_compiler()
    name, template = ("derivation-body.tex", "body.tex.jinja") if args.fragment else ("derivation.tex", "derivation.tex.jinja")
    source = render("latex", template, **document_from_args(args))
    print(write_atomic(args.output / name, source))
    if args.pdf:
        print(write_atomic(args.output / "derivation.pdf", compile_pdf(source)))
    return 0


@command("markdown", "the derivation as Markdown with $$ math (GitHub, Jupyter)", add_document_options)
def cmd_markdown(args: argparse.Namespace) -> int:
    from derive.render.environment import render

    print(write_atomic(args.output / "derivation.md", render("markdown", "derivation.md.jinja", **document_from_args(args))))
    return 0


@functools.cache
def _seed_document() -> dict:
    """The derivation documents' context for the seed's sample (shared by the three artefacts)."""
    return document_from_args(parser().parse_args(["latex"]))


@artefact("derivation.tex")
def _derivation_tex() -> str:
    from derive.render.environment import render

    return render("latex", "derivation.tex.jinja", **_seed_document())


@artefact("derivation.pdf")
def _derivation_pdf() -> bytes | None:
    try:
        tex_compiler()
    except InputError as err:
        print(f"skipped derivation.pdf: {err}", file=sys.stderr)
        return None
    return compile_pdf(_derivation_tex())


@artefact("derivation.md")
def _derivation_md() -> str:
    from derive.render.environment import render

    return render("markdown", "derivation.md.jinja", **_seed_document())


@command("shell", "an IPython session with the model, its symbols and derivations loaded (like isympy)", add_model_options)
def cmd_shell(args: argparse.Namespace) -> int:
    from derive.app.session import model
    from derive.app.shell import start

    try:
        session = model(args.model, l2=args.l2, smoothing=args.smoothing, exact=args.exact)
    except ValueError as err:
        raise InputError(str(err)) from None
    return start(session)


#: the per-model documents in output/models/: file stem -> the options of derive latex/markdown
MODEL_DOCUMENTS = {
    "logistic": ["--model", "logistic"],
    "linear": ["--model", "linear"],
    "softmax-l2": ["--l2", "0.01"],
    "softmax-smoothing": ["--smoothing", "0.1"],
}


@functools.cache
def _model_document(stem: str) -> dict:
    """The derivation documents' context of one model of output/models/ (shared by its .tex and .md)."""
    return document_from_args(parser().parse_args(["latex", *MODEL_DOCUMENTS[stem]]))


def _render_model_document(kind: str, template: str, stem: str) -> str:
    from derive.render.environment import render

    return render(kind, template, **_model_document(stem))


def _register_model_documents() -> None:
    """output/models/<stem>.tex and .md for each entry of MODEL_DOCUMENTS.

    Rendered, not compiled: the PDF of the seed's document is enough to keep derive all fast.
    """
    for stem in MODEL_DOCUMENTS:
        for suffix, kind, template in (("tex", "latex", "derivation.tex.jinja"), ("md", "markdown", "derivation.md.jinja")):
            artefact(f"models/{stem}.{suffix}")(functools.partial(_render_model_document, kind, template, stem))


_register_model_documents()


def _code_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--output", type=Path, default=Path("."), help="directory (default: the current one)")
    parser.add_argument("--dtype", choices=("float64", "float32"), default="float64", help="dtype of the arrays (default float64)")
    add_model_options(parser)
    parser.epilog = (
        "The module always lowers the exact closed forms (--exact changes nothing). With --l2 the strength is the default "
        "of the generated functions' keyword argument l2; with --smoothing the module takes the smoothed labels P."
    )


@command("code", "write the generated NumPy module with loss, grad and loss_and_grad; print its path", _code_args)
def cmd_code(args: argparse.Namespace) -> int:
    from derive.app.code import module_name, module_source

    model, constants = model_from_args(args)
    print(write_atomic(args.output / module_name(args.dtype, model), module_source(args.dtype, model, constants)))
    return 0


#: the tasks of ``derive train`` (derive.training.TASKS; listed here so the parser needs no import)
TRAIN_TASKS = ("setosa", "species")


def _train_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--task", choices=TRAIN_TASKS, default="species", help="setosa: the seed's binary task; species: 3 classes (default)")
    parser.add_argument("--epochs", type=positive_int(1_000_000), metavar="N", help="epochs of gradient descent (default per task)")
    parser.add_argument("--lr", type=learning_rate, metavar="ETA", help="learning rate (default per task)")
    parser.add_argument("--plot", type=Path, metavar="PATH", help="loss-curve PNG (default ./train_<task>.png)")
    add_model_options(parser)


@command("train", "train softmax regression on iris with the generated gradient; compare with scikit-learn", _train_args)
def cmd_train(args: argparse.Namespace) -> int:
    from derive.app.training import loss_plot, train

    model, constants = model_from_args(args)
    try:
        result = train(args.task, args.epochs, args.lr, progress=True, model=model, constants=constants)
    except ValueError as err:
        raise InputError(str(err)) from None
    print(result.summary())
    print(f"loss curve: {write_atomic(args.plot or Path(f'train_{args.task}.png'), loss_plot(result))}")
    return 0


@artefact("softmax_grad.py")
def _softmax_grad() -> str:
    from derive.app.code import module_source

    return module_source("float64")


@artefact("softmax_grad_float32.py")
def _softmax_grad_float32() -> str:
    from derive.app.code import module_source

    return module_source("float32")


#: generated modules of the other models in output/: (file name) -> the options of derive code
MODEL_MODULES = {
    "logistic_grad.py": ["--model", "logistic"],
    "logistic_grad_float32.py": ["--model", "logistic", "--dtype", "float32"],
    "linear_grad.py": ["--model", "linear"],
    "softmax_l2_grad.py": ["--l2", "0.01"],
    "logistic_l2_grad.py": ["--model", "logistic", "--l2", "0.01"],
}


def _model_module(name: str) -> str:
    """output/<name>: what ``derive code`` writes with the options of MODEL_MODULES[name]."""
    from derive.app.code import module_source

    args = parser().parse_args(["code", *MODEL_MODULES[name]])
    model, constants = model_from_args(args)
    return module_source(args.dtype, model, constants)


for _name in MODEL_MODULES:
    artefact(_name)(functools.partial(_model_module, _name))


@artefact("train_setosa.png")
def _train_setosa_plot() -> bytes:
    from derive.app.training import loss_plot, train

    return loss_plot(train("setosa"))


@artefact("train_species.png")
def _train_species_plot() -> bytes:
    from derive.app.training import loss_plot, train

    return loss_plot(train("species"))


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="derive",
        description="Symbolic derivation of ML gradients: softmax regression with cross-entropy, derived by SymPy.",
    )
    sub = top.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for cmd in COMMANDS.values():
        cmd.configure(sub.add_parser(cmd.name, help=cmd.help, description=cmd.help))
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return COMMANDS[args.command].run(args)
    except InputError as err:
        print(f"derive {args.command}: error: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0
