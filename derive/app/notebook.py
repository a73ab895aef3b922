"""Executing the example notebooks headless, as the tests do and as their outputs are refreshed.

``refresh("examples/softmax_cross_entropy.ipynb")`` re-executes a notebook and
writes it back with its outputs.  Timings are not recorded, so the same code
gives the same notebook.  The kernel runs in the notebook's own folder and
imports the installed derive.
"""

from __future__ import annotations

from pathlib import Path

from derive.app.files import write_atomic

#: seconds a single cell may run
CELL_TIMEOUT = 120


def execute(path: str | Path):
    """The notebook at ``path``, executed in a fresh python3 kernel; nbclient's CellExecutionError on any error."""
    import nbclient
    import nbformat

    notebook = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT,
        kernel_name="python3",
        record_timing=False,
        resources={"metadata": {"path": str(Path(path).resolve().parent)}},
    )
    client.execute()
    return notebook


def refresh(path: str | Path) -> Path:
    """Execute the notebook at ``path`` and write it back with its outputs (atomically)."""
    import nbformat

    return write_atomic(Path(path), nbformat.writes(execute(path)) + "\n")
