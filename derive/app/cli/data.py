"""``derive data``: write a dataset on disk as a Zarr group (X, y) for ``derive evaluate`` and ``derive train --data``.

``derive data synth`` draws a synthetic set from a known softmax model (stored with it, so that
training can be checked against it), ``derive data iris`` writes the 150 iris flowers, and
``derive data from-npy X.npy y.npy`` a user's arrays.  Every one writes through a temporary
folder renamed into place (:mod:`derive.app.dataset`), shows a progress bar when stderr is a
terminal, and prints the set's sizes.  Needs zarr (the ``[dask]`` extra).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from derive.app.cli.options import folder, positive_int
from derive.app.cli.registry import command


def _output(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-o", "--output", type=folder, required=True, metavar="PATH.zarr", help="the Zarr group to write"
    )
    parser.add_argument(
        "--chunk-rows", type=positive_int(10**9), metavar="R", help="rows per chunk (default: about 32 MiB of X)"
    )


def _data_args(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="data_command", metavar="SOURCE", required=True)
    synth = sub.add_parser("synth", help="a synthetic set drawn from a known softmax model")
    synth.add_argument("--rows", type=positive_int(10**10), required=True, metavar="N", help="samples")
    synth.add_argument("--features", type=positive_int(100_000), required=True, metavar="d", help="features")
    synth.add_argument("--classes", type=positive_int(10_000), required=True, metavar="K", help="classes")
    synth.add_argument("--seed", type=int, default=0, metavar="S", help="random seed (default 0)")
    synth.add_argument(
        "--dtype", choices=("float32", "float64"), default="float32", help="dtype of X (default float32)"
    )
    _output(synth)
    _output(sub.add_parser("iris", help="the 150 iris flowers: 4 measurements, 3 species (needs scikit-learn)"))
    npy = sub.add_parser("from-npy", help="a user's arrays: X.npy (N, d floats) and y.npy (N class indices 0..K-1)")
    npy.add_argument("X", type=Path, help="the features, .npy of shape (N, d), float32 or float64")
    npy.add_argument("y", type=Path, help="the labels, .npy of shape (N,), integers 0..K-1")
    _output(npy)


@command("data", "write a dataset (Zarr group X, y) on disk: synth, iris or from-npy", _data_args)
def cmd_data(args: argparse.Namespace) -> int:
    from derive.app import dataset

    dataset.require("zarr")
    progress = sys.stderr.isatty()
    if args.data_command == "synth":
        dataset.synth(
            args.output, args.rows, args.features, args.classes, args.seed, args.dtype, args.chunk_rows, progress
        )
    elif args.data_command == "iris":
        dataset.iris(args.output, args.chunk_rows)
    else:
        dataset.from_npy(args.output, args.X, args.y, args.chunk_rows, progress)
    print(dataset.open_dataset(args.output).describe())
    return 0
