"""Jinja2 rendering: the only module that imports Jinja2.

One factory builds the environment (as cookiecutter and Sphinx do):
``StrictUndefined`` so that a missing variable is an error, and for TeX the
Sphinx delimiters ``<%= var %>``, ``<% block %>``, ``<# comment #>`` that do not
clash with TeX braces.  Templates only lay out text: every formula arrives
already printed by a SymPy printer; prose goes through the ``tex`` filter.
"""

from __future__ import annotations

from functools import cache

import jinja2

#: the templates ship inside the package: derive/render/templates/<kind>/<artefact>.<ext>.jinja
TEMPLATES = "templates"

#: TeX's special characters and their escapes (the order matters for the backslash)
TEX_ESCAPES = {
    "\\": r"\textbackslash{}",
    "{": r"\{",
    "}": r"\}",
    "$": r"\$",
    "&": r"\&",
    "#": r"\#",
    "%": r"\%",
    "_": r"\_",
    "^": r"\textasciicircum{}",
    "~": r"\textasciitilde{}",
    # in the default OT1 font encoding these three print as other glyphs in text mode
    "<": r"\ensuremath{<}",
    ">": r"\ensuremath{>}",
    "|": r"\ensuremath{|}",
}
_TEX_TABLE = str.maketrans(TEX_ESCAPES)


def tex_escape(text: str) -> str:
    """Prose -> TeX source that prints it literally."""
    return str(text).translate(_TEX_TABLE)


#: delimiters per kind of output; TeX's avoid braces, the others (markdown, and each backend of generated
#: code: numpy, numba, torch, jax) keep Jinja's defaults
DELIMITERS = {
    "latex": {
        "block_start_string": "<%",
        "block_end_string": "%>",
        "variable_start_string": "<%=",
        "variable_end_string": "%>",
        "comment_start_string": "<#",
        "comment_end_string": "#>",
    },
}


@cache
def environment(kind: str) -> jinja2.Environment:
    """The Jinja2 environment for templates/<kind>/ (KeyError when there is no such folder)."""
    try:
        loader = jinja2.PackageLoader(__package__, f"{TEMPLATES}/{kind}")
    except ValueError:
        raise KeyError(f"no templates of kind {kind!r}") from None
    env = jinja2.Environment(
        loader=loader,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
        **DELIMITERS.get(kind, {}),
    )
    env.filters["tex"] = tex_escape
    return env


def render(kind: str, name: str, **context) -> str:
    """Render templates/<kind>/<name> with ``context``."""
    return environment(kind).get_template(name).render(**context)
