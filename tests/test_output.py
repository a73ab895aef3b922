"""output/ is what `derive all` generates from the code as it is now."""

import difflib
from pathlib import Path

import pytest

from derive.app import cli

OUTPUT = Path(__file__).resolve().parent.parent / "output"
TEXT = [name for name in cli.ARTEFACTS if not name.endswith((".pdf", ".png"))]


@pytest.mark.parametrize("name", TEXT)
def test_output_is_in_sync(name):
    fresh = cli.ARTEFACTS[name]()
    fresh = fresh.decode() if isinstance(fresh, bytes) else fresh
    path = OUTPUT / name
    committed = path.read_text() if path.exists() else ""
    if committed != fresh:
        diff = "".join(
            difflib.unified_diff(committed.splitlines(True), fresh.splitlines(True), str(path), "generated", n=2)
        )
        pytest.fail(f"output/{name} is out of date; regenerate with: derive all\n{diff[:4000]}")
