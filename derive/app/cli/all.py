"""``derive all``: write every artefact into ./output (``-o DIR``), the main job.

:data:`ARTEFACTS` maps each file name to a zero-argument callable that makes its content:
a ``functools.partial`` of the function of the command that writes the same file, with
that command's options given as plain arguments.  An artefact this machine cannot make
(the PDF without TeX, the loss curves without the ``[train]`` extra) raises
:class:`Unavailable`; ``derive all`` says so on stderr and writes the rest.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path

from derive.app.cli import check, code, documents, example, gradient, train
from derive.app.cli.options import ModelOptions, folder
from derive.app.cli.registry import command
from derive.app.documents import tex_compiler
from derive.app.files import writable_folder, write_atomic
from derive.core.errors import InputError

#: where ``derive all`` writes unless -o says otherwise: ./output, under the current folder
OUTPUT = Path("output")

#: the seed's model: softmax regression with cross-entropy, no add-ons
SEED = ModelOptions()

#: the learning rate of the descent step in output/example.txt and example.json
EXAMPLE_LR = 0.1

#: the per-model documents in output/models/: file stem -> the model's options (rendered, not compiled:
#: the PDF of the seed's document is enough to keep derive all fast)
MODEL_DOCUMENTS = {
    "logistic": ModelOptions("logistic"),
    "linear": ModelOptions("linear"),
    "softmax-l2": ModelOptions(l2=0.01),
    "softmax-smoothing": ModelOptions(smoothing=0.1),
}


class Unavailable(Exception):
    """An artefact that this machine cannot make; the message says why."""


def needs(requirement: Callable[[], object], make: Callable[..., str | bytes], *args) -> str | bytes:
    """``make(*args)`` when ``requirement()`` passes; :class:`Unavailable` with its InputError's message otherwise."""
    try:
        requirement()
    except InputError as err:
        raise Unavailable(str(err)) from None
    return make(*args)


def _model_documents() -> dict[str, Callable[[], str]]:
    """output/models/<stem>.tex and .md: what derive latex and derive markdown write with the model's options."""
    return {
        f"models/{stem}.{kind}": partial(documents.seed_document, kind, options)
        for stem, options in MODEL_DOCUMENTS.items()
        for kind in ("tex", "md")
    }


#: every artefact of ``derive all``: file name under the output folder -> the callable that makes its content
ARTEFACTS: dict[str, Callable[[], str | bytes]] = {
    "gradient.txt": partial(gradient.steps_text, "softmax", assumptions=(True, False)),
    "example.txt": partial(example.seed_example, SEED, lr=EXAMPLE_LR, form="text"),
    "example.json": partial(example.seed_example, SEED, lr=EXAMPLE_LR, form="json"),
    "check.txt": partial(check.seed_claims, "softmax"),
    "derivation.tex": partial(documents.seed_document, "tex", SEED),
    "derivation.pdf": partial(needs, tex_compiler, documents.seed_pdf, SEED),
    "derivation.md": partial(documents.seed_document, "md", SEED),
    **_model_documents(),
    "models/softmax-hessian.tex": partial(documents.hessian_document, "tex", SEED),
    "models/softmax-hessian.md": partial(documents.hessian_document, "md", SEED),
    "models/mlp.tex": partial(documents.network_document, "tex", "mlp"),
    "models/mlp.md": partial(documents.network_document, "md", "mlp"),
    **{name: partial(code.module_text, *spec) for name, spec in code.MODULES.items()},
    "mlp_gradient.txt": partial(gradient.graph_steps_text, "mlp"),
    "mlp_grad.py": partial(code.graph_module_text, "mlp"),
    "train_setosa.png": partial(needs, train.require_extra, train.loss_curve, "setosa"),
    "train_species.png": partial(needs, train.require_extra, train.loss_curve, "species"),
    "train_mlp.png": partial(needs, train.require_extra, train.network_curve, "mlp"),
}


def _all_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-o", "--output", type=folder, default=OUTPUT, help=f"directory (default ./{OUTPUT}, in the current folder)"
    )


@command("all", f"write every artefact into ./{OUTPUT} in the current folder, or -o DIR (the main job)", _all_args)
def cmd_all(args: argparse.Namespace) -> int:
    writable_folder(args.output)  # before any work: a folder that cannot be written is one line, not a late failure
    for name, make in ARTEFACTS.items():
        try:
            content = make()
        except Unavailable as why:
            print(f"skipped {name}: {why}", file=sys.stderr)
            continue
        print(write_atomic(args.output / name, content))
    return 0
