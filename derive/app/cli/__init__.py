"""The command line, ``derive <command>``: one module per command, each registering itself.

Owns what a user types and what the commands print and write: :mod:`.main` (the parser
built from the registry, formulas kept as typed, dispatch, errors as one line and exit 2),
:mod:`.registry` (``@command``), :mod:`.options` (the model, the sample and the number
parsers several commands share), and the commands: :mod:`.example`, :mod:`.gradient`
(with one's own loss), :mod:`.check`, :mod:`.documents` (latex, markdown), :mod:`.code`,
:mod:`.train`, :mod:`.shell`, :mod:`.models` and :mod:`.all` (every artefact, built by
calling the commands' functions with explicit arguments).

A new command is a new module here: a function decorated by ``@command(name, help,
configure)`` that returns the exit code, and the module's name in
``main.COMMAND_MODULES``.  Commands write files only through
:func:`derive.app.files.write_atomic`, into the current folder unless ``-o``.

May import every layer below (render, claims, codegen, verify, printing, core) and the
other front ends (derive.app.*); only ``derive.__main__`` and the console script import
it.  Commands import the engine and the renderers inside their functions, so that a usage
error does not wait for them; building the parser still imports the model registry
(``--model``'s choices), about 0.3 s of SymPy.
"""

from derive.app.cli.all import ARTEFACTS
from derive.app.cli.code import MODEL_MODULES
from derive.app.cli.main import main, parser
from derive.app.cli.options import model_from_args
from derive.app.cli.train import TRAIN_TASKS

# the former module's names that callers use: the TeX helpers live with the documents
from derive.app.documents import compile_pdf, tex_compiler
from derive.core.errors import InputError

__all__ = [
    "ARTEFACTS",
    "MODEL_MODULES",
    "TRAIN_TASKS",
    "InputError",
    "compile_pdf",
    "main",
    "model_from_args",
    "parser",
    "tex_compiler",
]
