"""``derive evaluate``: the mean loss and its gradient over a whole dataset on disk, chunk by chunk.

Each chunk of rows goes through the generated kernel (sums, not means), the chunks' sums are
added (in this process with ``--engine local``, by Dask's tree reduction with ``--engine
dask``) and divided by N once (:mod:`derive.app.engines`).  ``--format json`` prints one line
with the keys of ``derive example --format json``: ``loss``, ``grad_W``, ``grad_b`` (and
``rows``, ``engine``); the text format prints the loss, the gradients' sizes and the set.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from derive.app.cli.engine import add_engine_options, dataset_from_args, engine_from_args, start_from_args
from derive.app.cli.registry import command


def _evaluate_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model", choices=("softmax",), default="softmax", help="the model (softmax regression, the only one so far)"
    )
    parser.add_argument("--format", choices=("text", "json"), default="text", help="output format (default text)")
    add_engine_options(parser)


@command(
    "evaluate",
    "the mean loss and gradient over a dataset on disk (Zarr), in chunks, locally or on Dask",
    _evaluate_args,
)
def cmd_evaluate(args: argparse.Namespace) -> int:
    dataset = dataset_from_args(args)
    W, b, _ = start_from_args(args, dataset)
    with engine_from_args(args, dataset) as engine:
        H, dW, db = engine.loss_and_grad(W, b)
        where = engine.describe()
    if args.format == "json":
        record = {"loss": H, "grad_W": dW.tolist(), "grad_b": db.tolist(), "rows": dataset.rows, "engine": engine.name}
        print(json.dumps(record))
    else:
        print(text(dataset, where, H, dW, db))
    return 0


def text(dataset, where: str, H: float, dW: np.ndarray, db: np.ndarray) -> str:
    """The terminal report: the set, the engine, the loss, and the gradients' sizes."""
    return "\n".join(
        [
            f"dataset:  {dataset.describe()}",
            f"engine:   {where}",
            f"loss:     H = {H:.9g} (mean over {dataset.rows:,} rows)",
            f"gradient: dH/dW {dW.shape[0]} x {dW.shape[1]}, norm {np.linalg.norm(dW):.6g}; dH/db norm "
            + f"{np.linalg.norm(db):.6g} (--format json for every entry)",
        ]
    )
