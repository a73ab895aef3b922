"""``derive shell``: an IPython session with a model, its symbols and derivations loaded (like ``isympy``).

The session itself is :mod:`derive.app.shell`; IPython is the ``[shell]`` extra.
"""

from __future__ import annotations

import argparse

from derive.app.cli.options import add_model_options
from derive.app.cli.registry import command
from derive.app.graphs import graph_from_args
from derive.core.errors import InputError


def _shell_args(parser: argparse.ArgumentParser) -> None:
    add_model_options(parser, files=True)


@command("shell", "an IPython session with the model, its symbols and derivations loaded (like isympy)", _shell_args)
def cmd_shell(args: argparse.Namespace) -> int:
    from derive.app.network_session import NetworkSession
    from derive.app.session import model
    from derive.app.shell import start

    graph = graph_from_args(args)
    if graph is not None:
        return start(NetworkSession(graph, assume=not args.exact))
    try:
        session = model(args.model, l2=args.l2, smoothing=args.smoothing, exact=args.exact)
    except ValueError as err:
        raise InputError(str(err)) from None
    return start(session)
