"""``derive models``: the registered models, one line each (a new model is a new entry of derive.core.models)."""

from __future__ import annotations

import argparse

from derive.app.cli.registry import command


@command("models", "list the models, one line each")
def cmd_models(args: argparse.Namespace) -> int:
    from derive.core.models import MODELS

    width = max(map(len, MODELS))
    for name, model in MODELS.items():
        print(f"{name.ljust(width)}  {model.title}: {model.summary}")
    print("add-ons for every command: --l2 LAMBDA (L2 penalty), --smoothing EPS (softmax label smoothing)")
    return 0
