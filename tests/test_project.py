"""Project invariants: layering, the README's commands, CI."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SYMBOLIC = ["symbols", "models", "rules", "derivation", "checking", "elementwise", "example"]
RENDERERS = ["jinja2", "derive.rendering", "derive.cli", "derive.textreport"]


#: the stages of code generation below the driver: they know arrays, not the printer or the template
CODEGEN_STAGES = ["arrays", "lowering", "rewrites"]


@pytest.mark.parametrize(
    "layer, forbidden",
    [(SYMBOLIC, RENDERERS), (CODEGEN_STAGES, [*RENDERERS, "derive.codegen", "derive.numpyprinter"])],
    ids=["symbolic layer", "codegen stages"],
)
def test_layers_never_import_what_sits_above_them(layer, forbidden):
    code = (
        "import sys\n"
        + "".join(f"import derive.{m}\n" for m in layer)
        + f"print([m for m in {forbidden!r} if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def readme_commands():
    text = (ROOT / "README.md").read_text()
    block = text.split("```bash\n", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line and not line.startswith("#")]


def test_readme_opens_with_two_setup_commands():
    main_job, tests = readme_commands()
    assert main_job.endswith("derive all")
    assert tests.endswith("python -m pytest -q")


def test_ci_runs_exactly_the_readme_test_command():
    test_command = readme_commands()[1].split("&& ")[-1]
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()
    assert ci[-1] == test_command
    for package in ("texlive-latex-base", "texlive-latex-recommended", "poppler-utils"):
        assert package in readme_commands()[1] and package in (ROOT / ".ci" / "run").read_text()
