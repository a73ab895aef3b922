"""The front ends: the command line, the interactive session and shell, training, and the files they write.

Owns: ``derive <command>`` (:mod:`derive.app.cli`, one module per command), the session API
behind ``derive.model(...)`` and its Jupyter/terminal views (:mod:`~derive.app.session`,
:mod:`~derive.app.views`), ``derive shell`` (:mod:`~derive.app.shell`), the documents as the
front ends make them (:mod:`~derive.app.documents`), the generated module with its command line
(:mod:`~derive.app.code`), training on iris (:mod:`~derive.app.training`), the example
notebook (:mod:`~derive.app.notebook`), numbers typed on the command line
(:mod:`~derive.app.inputs`) and the only way files are written (:mod:`~derive.app.files`,
a temporary file, then a rename).

May import: every layer.  Nothing imports it but ``derive`` itself (the lazy public API).
"""
