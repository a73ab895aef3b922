"""``derive shell``: an IPython session with a model, its symbols and derivations loaded (like ``isympy``).

The session itself is :mod:`derive.app.shell`; IPython is the ``[shell]`` extra.
"""

from __future__ import annotations

import argparse

from derive.app.cli.options import add_model_options
from derive.app.cli.registry import command
from derive.core.errors import InputError


@command(
    "shell", "an IPython session with the model, its symbols and derivations loaded (like isympy)", add_model_options
)
def cmd_shell(args: argparse.Namespace) -> int:
    from derive.app.session import model
    from derive.app.shell import start

    try:
        session = model(args.model, l2=args.l2, smoothing=args.smoothing, exact=args.exact)
    except ValueError as err:
        raise InputError(str(err)) from None
    return start(session)
