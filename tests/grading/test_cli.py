"""rnnlab.grading.cli, gradebook and grader: submissions found and named, reports verified, the
gradebook written (no otter run here; tests/project/test_exercises.py grades for real)."""

from __future__ import annotations

import csv
import json
import os
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
        (["--threads", "8"], "threads must be at least processes (64)"),
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
        (b'{"scores": {"q1": 1000, "q2": 1}}', "gives q1 an impossible score"),
        (b'{"scores": {"q1": -1}}', "gives q1 an impossible score"),
        (b'{"scores": {"q1": true}}', "gives q1 an impossible score"),
        (b'{"scores": {"q1": "2"}}', "gives q1 an impossible score"),
        (b'{"scores": {"q9 SECRET": 1}}', "names a question the exercise lacks"),
        (b'{"scores": {"q1": 2}}{"scores": {"q1": 2}}', "not one well-formed"),
        (b'{"tests": []}', "has no scores"),
        (b"\xff", "not one well-formed"),
    ],
)
def test_reports_out_of_bounds_are_rejected_whole(report, message):
    points, why, detail = grader.verified_points(report, MAXIMA)
    assert points == {} and why.startswith("rejected") and message in why and detail == ""
    assert "SECRET" not in why


def _report(**fields):
    return json.dumps({"scores": {"q1": 1.5}, **fields}).encode()


def test_a_believable_report_gives_points_with_missing_questions_at_zero():
    error = {"ename": "ValueError", "evalue": "bad shape\n(4, 5)"}
    points, message, detail = grader.verified_points(_report(error=error), MAXIMA)
    assert points == {"q1": 1.5, "q2": 0.0}
    assert message == "a cell raised ValueError" and detail == "ValueError: bad shape (4, 5)"
    assert grader.verified_points(_report(error=None), MAXIMA) == (points, "", "")


@pytest.mark.parametrize(
    "error",
    [
        {"ename": "HiddenTestSaysAnswerIs42", "evalue": "x"},
        {"ename": "print", "evalue": "x"},  # a builtin, but not an exception
        {"ename": ["RuntimeError"], "evalue": "x"},
        {"ename": "RuntimeError", "evalue": "assert f(3) == 9"},
        "assert f(3) == 9",
    ],
)
def test_the_message_holds_only_the_graders_words_whatever_the_report_says(error):
    _, message, _ = grader.verified_points(_report(error=error), MAXIMA)
    assert message in (
        "",
        "a cell raised an exception of its own class",
        "a cell raised RuntimeError",
    ), message


def test_otter_failing_to_grade_is_named_without_its_text():
    failure = {"ename": "NoSuchKernel", "evalue": "No such kernel named ir"}
    _, message, detail = grader.verified_points(_report(failure=failure), MAXIMA)
    assert message == "otter could not grade: an exception of its own class"
    assert detail == "NoSuchKernel: No such kernel named ir"


def test_gradebook_cells_cannot_become_spreadsheet_formulas(tmp_path):
    gradebook.write_csv(
        [gradebook.Grade("=cmd|'/c calc'!A1", "05_variable_length", {}, 8, "@SUM(1)")],
        tmp_path / "g.csv",
    )
    row = next(csv.DictReader((tmp_path / "g.csv").open()))
    assert row["student"] == "'=cmd|'/c calc'!A1" and row["message"] == "'@SUM(1)"


SECRET = "root:$6$hidden-test-or-password"


@pytest.mark.parametrize("kind", ["link", "fifo", "huge", "cells", "json"])
def test_a_submission_that_is_not_a_plain_notebook_file_is_refused_without_quoting_it(
    tmp_path, kind
):
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET)
    path = tmp_path / "05_variable_length.ipynb"
    if kind == "link":
        path.symlink_to(secret)
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "huge":
        path.write_bytes(b" " * (gradebook.MAX_SUBMISSION_BYTES + 1))
    elif kind == "cells":
        cells = [nbformat.v4.new_code_cell("1") for _ in range(gradebook.MAX_CELLS + 1)]
        nbformat.write(nbformat.v4.new_notebook(cells=cells), path)
    else:
        path.write_text(SECRET)
    expected = {
        "link": "a symbolic link",
        "fifo": "not a regular file",
        "huge": "larger than 16 MiB",
        "cells": "more than 5,000 cells",
        "json": "not a readable notebook",
    }[kind]
    with pytest.raises(ValueError, match=expected) as refused:
        gradebook.exercise_of(path, KNOWN)
    assert "hidden-test" not in str(refused.value)


def test_a_linked_folder_is_listed_and_refused_not_followed(tmp_path):
    elsewhere = _notebook(tmp_path / "elsewhere" / "05_variable_length.ipynb").parent
    (tmp_path / "class").mkdir()
    _notebook(tmp_path / "class" / "bob.ipynb")
    (tmp_path / "class" / "mallory").symlink_to(elsewhere, target_is_directory=True)
    found = dict(gradebook.find_submissions(tmp_path / "class"))
    assert sorted(found) == ["bob", "mallory"]
    with pytest.raises(ValueError, match="a symbolic link"):
        gradebook.read_submission(found["mallory"])


def test_student_names_lose_control_characters_in_the_csv_and_the_table(tmp_path):
    name = "eve\x1b]0;pwned\x07\x1b[2J"
    grades = [gradebook.Grade(name, "05_variable_length", {"q1": 1.0}, 8)]
    questions = gradebook.write_csv(grades, tmp_path / "g.csv")
    text = (tmp_path / "g.csv").read_text() + gradebook.format_table(grades, questions)
    assert "\x1b" not in text and "\x07" not in text and "eve ]0;pwned" in text
