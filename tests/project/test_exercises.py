"""The graded exercises end to end: masters → otter assign → student copies and autograders →
grading.

One build of every autograder and one parallel grading run of a few representative submissions
(every solution, a student copy, two shortcut solutions, one that misbehaves) keep this within the
suite's time budget; the student copies themselves run under nbval (exercises/conftest.py). The
catalogue of wrong solutions, graded in-process, is tests/project/test_wrong_solutions.py; the two
shortcuts here check through ``otter run`` itself that the kernel grades them as that suite does.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from rnnlab.grading import build

ROOT = Path(__file__).resolve().parents[2]
MASTERS = build.masters()
NAMES = [p.stem for p in MASTERS]
STUDENT_SAMPLES = ["05_variable_length"]


def _question_points(master: Path) -> dict[str, float]:
    """Each question's points, from the ``# BEGIN QUESTION`` blocks of a master."""
    out = {}
    for cell in nbformat.read(master, as_version=4).cells:
        if cell.cell_type == "raw" and cell.source.startswith("# BEGIN QUESTION"):
            name = re.search(r"^name: (\w+)$", cell.source, re.M).group(1)
            out[name] = float(re.search(r"^points: ([0-9.]+)$", cell.source, re.M).group(1))
    return out


def _is_hidden_test(cell: nbformat.NotebookNode) -> bool:
    """A hidden test cell: its test config (otter reads it on the first line) says
    ``hidden: true``."""
    return (
        cell.cell_type == "code"
        and cell.source.startswith('""" # BEGIN TEST CONFIG')
        and re.search(r"^hidden: true$", cell.source.split("# END TEST CONFIG")[0], re.M)
        is not None
    )


def _cells(path: Path) -> list[tuple[str, str]]:
    nb = nbformat.read(path, as_version=4)
    return [(c.cell_type, c.source) for c in nb.cells]


@pytest.fixture(scope="session")
def built(tmp_path_factory) -> Path:
    """Every exercise assigned once into a scratch folder (student copies and autograders)."""
    out = tmp_path_factory.mktemp("built")
    assert (
        build.main(
            ["--student-dir", str(out / "student"), "--autograder-dir", str(out / "autograder")]
        )
        == 0
    )
    return out


def _grade(folder: Path, out: Path, autograders: Path, *extra: str) -> dict[str, dict[str, str]]:
    """Grade as a teacher does: in the sandbox where bubblewrap runs (tests/grading/test_sandbox.py
    checks the sandbox itself), else with ``--unsandboxed``: these submissions are the course's
    own."""
    from rnnlab.grading.sandbox import why_unavailable

    sandbox = ["--unsandboxed"] if why_unavailable() else []
    command = [
        sys.executable,
        "-m",
        "rnnlab",
        "grade",
        str(folder),
        "--out",
        str(out),
        "--autograder-dir",
        str(autograders),
        *sandbox,
        *extra,
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=3600, cwd=ROOT)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "total" in result.stdout  # the printed table
    with out.open() as f:
        return {row["student"]: row for row in csv.DictReader(f)}


@pytest.fixture(scope="session")
def gradebook(built, tmp_path_factory) -> dict[str, dict[str, str]]:
    subs = tmp_path_factory.mktemp("submissions")
    for name in NAMES:
        (subs / "solution").mkdir(exist_ok=True)
        shutil.copy(
            built / "autograder" / f"{name}.solution.ipynb", subs / "solution" / f"{name}.ipynb"
        )
    for name in STUDENT_SAMPLES:
        (subs / "untouched").mkdir(exist_ok=True)
        shutil.copy(
            ROOT / "exercises" / "student" / f"{name}.ipynb", subs / "untouched" / f"{name}.ipynb"
        )
    for (
        name,
        answers,
    ) in SHORTCUTS.items():  # the reference answers, with the shortcut ones swapped in
        shortcut = nbformat.read(built / "autograder" / f"{name}.solution.ipynb", as_version=4)
        for cell in shortcut.cells:
            for start, body in answers.items():
                if cell.cell_type == "code" and cell.source.startswith(start):
                    cell.source = body
        (subs / "shortcut").mkdir(exist_ok=True)
        nbformat.write(shortcut, subs / "shortcut" / f"{name}.ipynb")
    vandal = nbformat.read(built / "autograder" / "05_variable_length.solution.ipynb", as_version=4)
    vandal.cells.insert(2, nbformat.v4.new_code_cell(VANDAL))
    (subs / "vandal").mkdir()
    nbformat.write(vandal, subs / "vandal" / "05_variable_length.ipynb")
    (subs / "garbage").mkdir()
    (subs / "garbage" / "05_variable_length.ipynb").write_text("{not json")
    return _grade(
        subs, subs / "gradebook.csv", built / "autograder", "--jobs", "2", "--timeout", "600"
    )


SHORTCUTS = {
    # every function a wrapper around the rnnlab function the question asks the learner to write
    "05_variable_length": {
        "def lengths_to_mask(": "from rnnlab.sequences import lengths_to_mask as _mask\n"
        "def lengths_to_mask(lengths, max_len=None):\n    return _mask(lengths, max_len)",
        "def masked_cross_entropy(": "from rnnlab.sequences import masked_cross_entropy as _loss\n"
        "def masked_cross_entropy(logits, targets, lengths):\n    return _loss(logits, targets, "
        "lengths)",
    },
    # the grammar checked by rnnlab's validator, beside a network that is never trained
    "07_reber": {
        "torch.manual_seed(0)": "torch.manual_seed(0)\nmodel = ReberNet()",
        "def predict(": "from rnnlab.data.reber import is_embedded_reber\n"
        "def predict(strings):\n    return torch.tensor([is_embedded_reber(s) for s in strings])",
    },
}
SHORTCUT_QUESTIONS = {"05_variable_length": ("q1", "q2"), "07_reber": ("q2",)}

VANDAL = """
import os, shutil
print("x" * 5_000_000)  # megabytes of output
for _root in (".", ".."):
    for _entry in os.listdir(_root):
        _path = os.path.join(_root, _entry)
        if os.path.isdir(_path):
            shutil.rmtree(_path, ignore_errors=True)
        elif not _path.endswith(".ipynb"):
            os.remove(_path)
"""


def test_every_exercise_has_a_student_copy_in_step_with_its_master(built):
    committed = sorted(p.stem for p in (ROOT / "exercises" / "student").glob("*.ipynb"))
    assert committed == NAMES, "run: make exercises"
    for name in NAMES:
        fresh = built / "student" / f"{name}.ipynb"
        current = ROOT / "exercises" / "student" / f"{name}.ipynb"
        assert _cells(fresh) == _cells(current), (
            f"exercises/student/{name}.ipynb is out of step with its master; run: make exercises"
        )
        assert (
            nbformat.read(fresh, as_version=4).metadata["otter"]
            == nbformat.read(current, as_version=4).metadata["otter"]
        )


def test_student_copies_hold_no_solution_and_no_hidden_test():
    for name in NAMES:
        nb = nbformat.read(ROOT / "exercises" / "student" / f"{name}.ipynb", as_version=4)
        text = json.dumps(nb)
        master = nbformat.read(ROOT / "exercises" / "source" / f"{name}.ipynb", as_version=4)
        secret_seeds = {
            seed
            for c in master.cells
            if _is_hidden_test(c)
            for seed in re.findall(r"\b\d+_\d{3}\b", c.source)
        }
        assert "BEGIN SOLUTION" not in text and not any(seed in text for seed in secret_seeds), name
        cases = [
            case
            for test in nb.metadata["otter"]["tests"].values()
            for suite in test["suites"]
            for case in suite["cases"]
        ]
        assert cases and not any(case["hidden"] for case in cases)
        assert any("grader.check(" in c.source for c in nb.cells)


def test_every_question_has_hidden_tests_and_a_hint():
    for master in MASTERS:
        nb = nbformat.read(master, as_version=4)
        questions = [
            c for c in nb.cells if c.cell_type == "raw" and c.source.startswith("# BEGIN QUESTION")
        ]
        hidden = [c for c in nb.cells if _is_hidden_test(c)]
        hints = [c for c in nb.cells if c.cell_type == "markdown" and "<summary>Hint" in c.source]
        assert questions and len(hidden) >= len(questions) and len(hints) >= len(questions), (
            master.name
        )


def test_solutions_score_full_marks(gradebook):
    for name in NAMES:
        row = gradebook[f"solution/{name}"]
        assert row["exercise"] == name and float(row["total"]) == float(row["possible"]) > 0, row


def test_untouched_student_copies_score_zero(gradebook):
    for name in STUDENT_SAMPLES:
        row = gradebook[f"untouched/{name}"]
        assert float(row["total"]) == 0 and float(row["possible"]) > 0, row


def test_shortcuts_score_below_a_quarter_through_otter_run(gradebook):
    for name, questions in SHORTCUT_QUESTIONS.items():
        row = gradebook[f"shortcut/{name}"]
        possible = _question_points(ROOT / "exercises" / "source" / f"{name}.ipynb")
        for question in questions:
            assert float(row[question]) < possible[question] / 4, (question, row)
        # the other questions keep their reference answers' marks
        assert 0 < float(row["total"]) < float(row["possible"]), row


def test_a_misbehaving_submission_is_scored_without_harming_others_or_the_project(gradebook):
    assert float(gradebook["vandal/05_variable_length"]["possible"]) > 0
    assert (ROOT / "exercises" / "source" / "05_variable_length.ipynb").is_file()
    assert float(gradebook["solution/05_variable_length"]["total"]) == float(
        gradebook["solution/05_variable_length"]["possible"]
    )
    assert "not a readable notebook" in gradebook["garbage/05_variable_length"]["message"]


def test_an_endless_loop_is_stopped_at_the_limit_and_scored(built, tmp_path):
    nb = nbformat.read(built / "autograder" / "05_variable_length.solution.ipynb", as_version=4)
    nb.cells.insert(2, nbformat.v4.new_code_cell("while True:\n    pass"))
    (tmp_path / "subs").mkdir()
    nbformat.write(nb, tmp_path / "subs" / "05_variable_length.ipynb")
    rows = _grade(
        tmp_path / "subs", tmp_path / "gradebook.csv", built / "autograder", "--timeout", "10"
    )
    row = rows["05_variable_length"]
    assert (
        float(row["total"]) == 0
        and float(row["possible"]) > 0
        and "time limit of 10 s" in row["message"]
    ), row
