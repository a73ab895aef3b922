"""output/ is what `derive all` generates from the code as it is now: the one test of that, file by file.

output/ is the golden copy of every artefact `derive all` writes (other tests read its documents);
after a deliberate change, regenerate it with `derive all` and read the diff before committing it.
The PDF and the PNG plots are not compared byte by byte: their bytes depend on the TeX and
Matplotlib versions.
"""

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
    committed = path.read_text(encoding="utf-8") if path.exists() else ""
    if committed != fresh:
        diff = "".join(
            difflib.unified_diff(committed.splitlines(True), fresh.splitlines(True), f"output/{name}", "generated", n=2)
        )
        pytest.fail(f"output/{name} is out of date; regenerate with: derive all\n{diff[:4000]}", pytrace=False)


def test_output_holds_the_artefacts_and_nothing_else():
    """A file of output/ that `derive all` no longer writes is stale: remove it."""
    committed = sorted(str(path.relative_to(OUTPUT)) for path in OUTPUT.rglob("*") if path.is_file())
    assert committed == sorted(cli.ARTEFACTS)
