"""Project invariants: the layers' contracts, no evaluation of user text, the README's commands, CI."""

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "derive"


def test_import_contracts_hold():
    """The layers of pyproject.toml's [tool.importlinter] contracts, checked by import-linter."""
    linter = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which("lint-imports")
    if linter is None:
        pytest.skip("import-linter is not installed (pip install import-linter)")
    done = subprocess.run([linter, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]


#: calls that evaluate strings (SymPy's parsers, and S(...) and sympify, call eval); user text must never reach them
EVALUATING = {"eval", "exec", "compile", "sympify", "S", "parse_expr", "parse_latex"}
#: built-ins, as bare names (re.compile is not one of them)
BUILTINS = {"eval", "exec", "compile"}
#: the places that run code: derive's own generated module (app/code.py), and the array code that
#: derive.printing.tensor prints from a model file's SymPy expressions to evaluate them (verify/network.py:
#: the model file's names there are identifiers the spec has checked, none a word of Python); never user text
GENERATED = {
    ("app/code.py", "exec"),
    ("app/code.py", "compile"),
    ("verify/network.py", "exec"),
    ("verify/network.py", "eval"),
    ("verify/network.py", "compile"),
}


def evaluating_calls(path: Path) -> list[str]:
    """Calls of an evaluating function and imports of sympy.parsing in a module, found in its syntax tree."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            builtin = name in BUILTINS and isinstance(func, ast.Name)
            if builtin or name in EVALUATING - BUILTINS:
                found.append(f"{name}() on line {node.lineno}")
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sympy.parsing"):
            found.append(f"import of {node.module} on line {node.lineno}")
    return found


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_evaluates_text(path):
    where = str(path.relative_to(PACKAGE))
    found = [call for call in evaluating_calls(path) if (where, call.split("(")[0]) not in GENERATED]
    assert not found, found


#: calls that write or remove files; only the front ends (derive/app) may make them (os.replace is left out:
#: SymPy's expr.replace looks the same; importing os outside derive/app is an import-linter contract)
WRITING = {"write_text", "write_bytes", "savefig", "mkdir", "unlink", "rename", "rmtree", "mkstemp"}


def writing_calls(path: Path) -> list[str]:
    """Calls that write files in a module: the methods above, and open() with a mode that writes."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in WRITING:
            found.append(f"{func.attr}() on line {node.lineno}")
        elif isinstance(func, ast.Name) and func.id == "open" and _writing_mode(node):
            found.append(f"open(..., 'w') on line {node.lineno}")
    return found


def _writing_mode(call: ast.Call) -> bool:
    modes = [*call.args[1:2], *(k.value for k in call.keywords if k.arg == "mode")]
    return any(isinstance(m, ast.Constant) and set(str(m.value)) & set("wax+") for m in modes)


@pytest.mark.parametrize(
    "path",
    sorted(p for p in PACKAGE.rglob("*.py") if "app" not in p.relative_to(PACKAGE).parts),
    ids=lambda p: str(p.relative_to(PACKAGE)),
)
def test_only_the_front_ends_write_files(path):
    assert not writing_calls(path), writing_calls(path)


def test_the_front_ends_are_seen_writing():
    """The check above can fail: it finds the writes of derive/app."""
    assert writing_calls(PACKAGE / "app" / "files.py") and writing_calls(PACKAGE / "app" / "documents.py")


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


def test_every_template_ships_in_the_wheel():
    """The package data globs of pyproject.toml cover every template (a new folder depth would not ship)."""
    import tomllib

    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    shipped = {path for glob in data["derive.render"] for path in (PACKAGE / "render").glob(glob)}
    assert shipped and shipped == set((PACKAGE / "render" / "templates").rglob("*.jinja"))
