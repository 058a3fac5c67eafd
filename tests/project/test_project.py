"""Project hygiene: notebooks are committed clean, dependencies agree, CI runs the README's
command."""

import json
import re
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted(
    p
    for folder in ("chapters", "exercises")
    for p in (ROOT / folder).rglob("*.ipynb")
    if ".ipynb_checkpoints" not in p.parts
)
KERNEL = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT)))
def test_notebook_is_committed_clean(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    dirty = [
        i
        for i, c in enumerate(nb["cells"])
        if c["cell_type"] == "code" and (c.get("outputs") or c.get("execution_count"))
    ]
    assert not dirty, (
        f"{path.name}: cells {dirty} carry outputs; run: jupyter nbconvert --clear-output "
        f"--inplace {path}"
    )
    assert nb["metadata"].get("kernelspec") == KERNEL, f"{path.name}: kernelspec must be {KERNEL}"
    # Saved widget state makes code hosts fail to render the notebook ("Invalid Notebook ...
    # state").
    assert "widgets" not in nb["metadata"], (
        f"{path.name}: metadata.widgets holds saved widget state; delete it"
    )


def test_seven_chapters_exist():
    names = sorted(p.name for p in (ROOT / "chapters").glob("*.ipynb"))
    assert [n[:3] for n in names] == ["00_", "01_", "02_", "03_", "04_", "05_", "06_"], names


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    assert "make test" in readme and "make lab" in readme
    assert re.search(r"^make test$", (ROOT / ".ci" / "run").read_text(), re.M)


def test_ruff_is_clean_on_the_package_the_tests_and_the_chapters():
    import subprocess
    import sys

    paths = ["rnnlab", "tests", "chapters", "conftest.py"]
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--output-format", "concise", *paths],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, (
        "ruff found problems (fix with: ruff check --fix rnnlab tests chapters "
        f"conftest.py):\n{result.stdout}"
    )


def test_licences_are_stated():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "MIT"
    assert "MIT License" in (ROOT / "LICENSE").read_text()
    assert "CC BY 4.0" in (ROOT / "LICENSE-CONTENT.md").read_text()
    for pattern in project["license-files"]:
        assert list(ROOT.glob(pattern)), f"license-files entry {pattern!r} matches nothing"


def test_torch_is_a_range_and_the_course_pin_is_a_constraint():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    (torch,) = [r for r in project["dependencies"] if re.split(r"[<>=!~ \[]", r)[0] == "torch"]
    assert "==" not in torch and ">=" in torch, torch
    assert re.search(r"^torch==\S+$", (ROOT / "constraints.txt").read_text(), re.M)
    assert "-c constraints.txt" in (ROOT / "Makefile").read_text()
