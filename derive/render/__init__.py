"""Rendering: printed formulas laid out by Jinja2 templates, and the terminal's text reports.

Owns: the one Jinja2 environment (:mod:`~derive.render.environment`, the only module importing
Jinja2) and the templates it loads from the package (``templates/<kind>/<artefact>.<ext>.jinja``:
latex, markdown, numpy), the derivation documents' context (:mod:`derive.render.document`), the
generated module's text (:mod:`~derive.render.code`), a verdict's text and LaTeX
(:mod:`~derive.render.check`), the worked example's and steps' text reports
(:mod:`~derive.render.report`) and the session's Markdown (:mod:`~derive.render.session`).
Templates only lay out text that the printers made.

May import: every layer below (core, printing, verify, claims, codegen); not the front ends.
Writes no files: the front ends do.
"""
