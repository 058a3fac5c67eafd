"""rnnlab.grading.cli, gradebook and grader: submissions found and named, reports verified, the
gradebook written (no otter run here; tests/project/test_exercises.py grades for real)."""

from __future__ import annotations

import csv
from pathlib import Path

import nbformat
import pytest

from rnnlab.grading import cli, gradebook, grader

KNOWN = ["04_unrolling", "05_variable_length"]


def _notebook(path: Path, assignment: str | None = None) -> Path:
    nb = nbformat.v4.new_notebook()
    if assignment:
        nb.metadata["otter"] = {"assignment_name": assignment}
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def test_exercise_comes_from_otter_metadata_then_file_name(tmp_path):
    assert (
        gradebook.exercise_of(_notebook(tmp_path / "anything.ipynb", "04_unrolling"), KNOWN)
        == "04_unrolling"
    )
    assert (
        gradebook.exercise_of(_notebook(tmp_path / "05_variable_length-alice.ipynb"), KNOWN)
        == "05_variable_length"
    )
    assert (
        gradebook.exercise_of(_notebook(tmp_path / "05_mine.ipynb"), KNOWN) == "05_variable_length"
    )
    with pytest.raises(ValueError, match="cannot tell which exercise"):
        gradebook.exercise_of(_notebook(tmp_path / "homework.ipynb"), KNOWN)
    (tmp_path / "broken.ipynb").write_text("{")
    with pytest.raises(ValueError, match="not a readable notebook"):
        gradebook.exercise_of(tmp_path / "broken.ipynb", KNOWN)


def test_find_submissions_names_students_by_relative_path(tmp_path):
    _notebook(tmp_path / "alice" / "05_variable_length.ipynb")
    _notebook(tmp_path / "bob.ipynb")
    _notebook(tmp_path / "alice" / ".ipynb_checkpoints" / "05_variable_length-checkpoint.ipynb")
    assert [s for s, _ in gradebook.find_submissions(tmp_path)] == [
        "alice/05_variable_length",
        "bob",
    ]
    assert gradebook.find_submissions(tmp_path / "bob.ipynb") == [("bob", tmp_path / "bob.ipynb")]


@pytest.mark.parametrize(
    "target, message",
    [("missing", "does not exist"), ("empty", "no .ipynb"), ("notes.txt", "must be an .ipynb")],
)
def test_find_submissions_rejects_bad_targets(tmp_path, target, message):
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(ValueError, match=message):
        gradebook.find_submissions(tmp_path / target)


def test_gradebook_csv_and_table(tmp_path):
    grades = [
        gradebook.Grade("alice", "05_variable_length", {"q1": 2, "q2": 1.5, "q10": 1}, 8),
        gradebook.Grade("bob", "05_variable_length", {}, 8, "stopped at the time limit of 5 s"),
    ]
    questions = gradebook.write_csv(grades, tmp_path / "g.csv")
    assert questions == ["q1", "q2", "q10"]
    rows = list(csv.DictReader((tmp_path / "g.csv").open()))
    assert rows[0] == {
        "student": "alice",
        "exercise": "05_variable_length",
        "q1": "2",
        "q2": "1.5",
        "q10": "1",
        "total": "4.5",
        "possible": "8",
        "message": "",
    }
    assert rows[1]["total"] == "0" and rows[1]["q1"] == "" and "time limit" in rows[1]["message"]
    table = gradebook.format_table(grades, questions).splitlines()
    assert table[0].split() == ["student", "exercise", "q1", "q2", "q10", "total", "message"]
    assert "4.5/8" in table[1] and "0/8" in table[2]


def test_grade_cli_rejects_bad_arguments(tmp_path, capsys):
    for argv in (
        [str(tmp_path / "nowhere")],
        [str(tmp_path), "--timeout", "0"],
        [str(tmp_path), "--jobs", "0"],
    ):
        with pytest.raises(SystemExit) as exit_info:
            cli.main(argv)
        assert exit_info.value.code == 2
    assert "--jobs must be at least 1" in capsys.readouterr().err


def test_unknown_submission_gets_a_row_not_a_crash(tmp_path, capsys):
    _notebook(tmp_path / "subs" / "homework.ipynb")
    assert (
        cli.main([str(tmp_path / "subs"), "--out", str(tmp_path / "g.csv"), "--unsandboxed"]) == 0
    )
    row = next(csv.DictReader((tmp_path / "g.csv").open()))
    assert (
        row["student"] == "homework" and row["exercise"] == "?" and "cannot tell" in row["message"]
    )


def test_grading_refuses_without_the_sandbox_unless_told(tmp_path, capsys, monkeypatch):
    _notebook(tmp_path / "subs" / "homework.ipynb")
    monkeypatch.setattr(cli, "why_unavailable", lambda: "bubblewrap (bwrap) is not installed")
    with pytest.raises(SystemExit) as exit_info:
        cli.main([str(tmp_path / "subs"), "--out", str(tmp_path / "g.csv")])
    assert exit_info.value.code == 2 and not (tmp_path / "g.csv").exists()
    error = capsys.readouterr().err
    assert "bwrap) is not installed" in error and "--unsandboxed" in error
    assert (
        cli.main([str(tmp_path / "subs"), "--out", str(tmp_path / "g.csv"), "--unsandboxed"]) == 0
    )


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--memory", "lots"], "size must look like"),
        (["--memory", "1M"], "at least 64 MiB"),
        (["--processes", "2"], "at least 4"),
    ],
)
def test_grade_cli_rejects_bad_limits(tmp_path, capsys, argv, message):
    with pytest.raises(SystemExit):
        cli.main([str(tmp_path), *argv])
    assert message in capsys.readouterr().err


def _archive(path: Path, tests: dict[str, str]) -> Path:
    import zipfile

    with zipfile.ZipFile(path, "w") as archive:
        for name, text in tests.items():
            archive.writestr(f"tests/{name}.py", text)
        archive.writestr("otter_config.json", "{}")
    return path


def test_question_points_come_from_the_archive_per_case_or_per_question(tmp_path):
    case = {"code": ">>> 1\n1\n", "hidden": False, "locked": False}
    per_case = {
        "name": "q1",
        "points": [0.5, 1.5],
        "suites": [{"cases": [case, {**case, "hidden": True}], "type": "doctest"}],
    }
    whole = {
        "name": "q2",
        "points": 3,
        "suites": [{"cases": [case, case, case], "type": "doctest"}],
    }
    archive = _archive(
        tmp_path / "a.zip",
        {"q1": f"OK_FORMAT = True\ntest = {per_case!r}\n", "q2": f"test = {whole!r}\n"},
    )
    assert grader.question_points(archive) == {"q1": 2.0, "q2": 3.0}
    bad = _archive(tmp_path / "b.zip", {"q1": "import os\nos.system('echo run')\n"})
    with pytest.raises(ValueError, match="does not define one OK-format"):
        grader.question_points(bad)
    sneaky = _archive(tmp_path / "c.zip", {"q1": "test = __import__('os').getcwd()\n"})
    with pytest.raises(ValueError, match="malformed"):  # parsed as data, never run
        grader.question_points(sneaky)


MAXIMA = {"q1": 2.0, "q2": 1.0}


@pytest.mark.parametrize(
    "report, message",
    [
        (b'{"scores": {"q1": 1000, "q2": 1}}', "gives q1 1000 of 2 points"),
        (b'{"scores": {"q1": -1}}', "gives q1 -1 of 2"),
        (b'{"scores": {"q1": true}}', "gives q1 True of 2"),
        (b'{"scores": {"q1": "2"}}', "gives q1 2 of 2"),
        (b'{"scores": {"q9": 1}}', "unknown question 'q9'"),
        (b'{"scores": {"q1": 2}}{"scores": {"q1": 2}}', "not one well-formed"),
        (b'{"tests": []}', "has no scores"),
        (b"\xff", "not one well-formed"),
    ],
)
def test_reports_out_of_bounds_are_rejected_whole(report, message):
    points, why = grader.verified_points(report, MAXIMA)
    assert points == {} and why.startswith("rejected") and message in why


def test_a_believable_report_gives_points_with_missing_questions_at_zero():
    report = b'{"scores": {"q1": 1.5}, "error": "a cell raised X: y\\n"}'
    assert grader.verified_points(report, MAXIMA) == ({"q1": 1.5, "q2": 0.0}, "a cell raised X: y")


def test_gradebook_cells_cannot_become_spreadsheet_formulas(tmp_path):
    gradebook.write_csv(
        [gradebook.Grade("=cmd|'/c calc'!A1", "05_variable_length", {}, 8, "@SUM(1)")],
        tmp_path / "g.csv",
    )
    row = next(csv.DictReader((tmp_path / "g.csv").open()))
    assert row["student"] == "'=cmd|'/c calc'!A1" and row["message"] == "'@SUM(1)"
