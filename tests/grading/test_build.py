"""Unit tests of the grading glue (no otter run here; tests/project/test_exercises.py grades for real)."""

from __future__ import annotations

import csv
from pathlib import Path

import nbformat
import pytest
import torch

from rnnlab.grading import build, cli, sandbox

KNOWN = ["04_unrolling", "05_variable_length"]


def _notebook(path: Path, assignment: str | None = None) -> Path:
    nb = nbformat.v4.new_notebook()
    if assignment:
        nb.metadata["otter"] = {"assignment_name": assignment}
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def test_exercise_comes_from_otter_metadata_then_file_name(tmp_path):
    assert cli.exercise_of(_notebook(tmp_path / "anything.ipynb", "04_unrolling"), KNOWN) == "04_unrolling"
    assert cli.exercise_of(_notebook(tmp_path / "05_variable_length-alice.ipynb"), KNOWN) == "05_variable_length"
    assert cli.exercise_of(_notebook(tmp_path / "05_mine.ipynb"), KNOWN) == "05_variable_length"
    with pytest.raises(ValueError, match="cannot tell which exercise"):
        cli.exercise_of(_notebook(tmp_path / "homework.ipynb"), KNOWN)
    (tmp_path / "broken.ipynb").write_text("{")
    with pytest.raises(ValueError, match="not a readable notebook"):
        cli.exercise_of(tmp_path / "broken.ipynb", KNOWN)


def test_find_submissions_names_students_by_relative_path(tmp_path):
    _notebook(tmp_path / "alice" / "05_variable_length.ipynb")
    _notebook(tmp_path / "bob.ipynb")
    _notebook(tmp_path / "alice" / ".ipynb_checkpoints" / "05_variable_length-checkpoint.ipynb")
    assert [s for s, _ in cli.find_submissions(tmp_path)] == ["alice/05_variable_length", "bob"]
    assert cli.find_submissions(tmp_path / "bob.ipynb") == [("bob", tmp_path / "bob.ipynb")]


@pytest.mark.parametrize("target, message", [("missing", "does not exist"), ("empty", "no .ipynb"), ("notes.txt", "must be an .ipynb")])
def test_find_submissions_rejects_bad_targets(tmp_path, target, message):
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(ValueError, match=message):
        cli.find_submissions(tmp_path / target)


def test_gradebook_csv_and_table(tmp_path):
    grades = [cli.Grade("alice", "05_variable_length", {"q1": 2, "q2": 1.5, "q10": 1}, 8),
              cli.Grade("bob", "05_variable_length", {}, 8, "stopped at the time limit of 5 s")]
    questions = cli.write_csv(grades, tmp_path / "g.csv")
    assert questions == ["q1", "q2", "q10"]
    rows = list(csv.DictReader((tmp_path / "g.csv").open()))
    assert rows[0] == {"student": "alice", "exercise": "05_variable_length", "q1": "2", "q2": "1.5", "q10": "1",
                       "total": "4.5", "possible": "8", "message": ""}
    assert rows[1]["total"] == "0" and rows[1]["q1"] == "" and "time limit" in rows[1]["message"]
    table = cli.format_table(grades, questions).splitlines()
    assert table[0].split() == ["student", "exercise", "q1", "q2", "q10", "total", "message"]
    assert "4.5/8" in table[1] and "0/8" in table[2]


def test_grade_cli_rejects_bad_arguments(tmp_path, capsys):
    for argv in ([str(tmp_path / "nowhere")], [str(tmp_path), "--timeout", "0"], [str(tmp_path), "--jobs", "0"]):
        with pytest.raises(SystemExit) as exit_info:
            cli.main(argv)
        assert exit_info.value.code == 2
    assert "--jobs must be at least 1" in capsys.readouterr().err


def test_unknown_submission_gets_a_row_not_a_crash(tmp_path, capsys):
    _notebook(tmp_path / "subs" / "homework.ipynb")
    assert cli.main([str(tmp_path / "subs"), "--out", str(tmp_path / "g.csv"), "--unsandboxed"]) == 0
    row = next(csv.DictReader((tmp_path / "g.csv").open()))
    assert row["student"] == "homework" and row["exercise"] == "?" and "cannot tell" in row["message"]


def test_grading_refuses_without_the_sandbox_unless_told(tmp_path, capsys, monkeypatch):
    _notebook(tmp_path / "subs" / "homework.ipynb")
    monkeypatch.setattr(cli, "why_unavailable", lambda: "bubblewrap (bwrap) is not installed")
    with pytest.raises(SystemExit) as exit_info:
        cli.main([str(tmp_path / "subs"), "--out", str(tmp_path / "g.csv")])
    assert exit_info.value.code == 2 and not (tmp_path / "g.csv").exists()
    error = capsys.readouterr().err
    assert "bwrap) is not installed" in error and "--unsandboxed" in error
    assert cli.main([str(tmp_path / "subs"), "--out", str(tmp_path / "g.csv"), "--unsandboxed"]) == 0


@pytest.mark.parametrize("argv, message", [(["--memory", "lots"], "size must look like"), (["--memory", "1M"], "at least 64 MiB"),
                                           (["--processes", "2"], "at least 4")])
def test_grade_cli_rejects_bad_limits(tmp_path, capsys, argv, message):
    with pytest.raises(SystemExit):
        cli.main([str(tmp_path), *argv])
    assert message in capsys.readouterr().err


def test_sizes_read_and_print_in_powers_of_1024():
    assert [sandbox.parse_size(t) for t in ("4G", "512M", "1.5g", "2048", "3GiB")] == [4 * 2**30, 512 * 2**20, 3 * 2**29, 2048, 3 * 2**30]
    assert [sandbox.format_size(n) for n in (4 * 2**30, 512 * 2**20, 100)] == ["4 GiB", "512 MiB", "100 B"]
    with pytest.raises(ValueError, match="size must look like"):
        sandbox.parse_size("4 gigs")
    with pytest.raises(TypeError, match="size must be a str"):
        sandbox.parse_size(4)
    with pytest.raises(TypeError, match="memory must be an int"):
        sandbox.Limits(memory=1.5)


def _archive(path: Path, tests: dict[str, str]) -> Path:
    import zipfile

    with zipfile.ZipFile(path, "w") as archive:
        for name, text in tests.items():
            archive.writestr(f"tests/{name}.py", text)
        archive.writestr("otter_config.json", "{}")
    return path


def test_question_points_come_from_the_archive_per_case_or_per_question(tmp_path):
    case = {"code": ">>> 1\n1\n", "hidden": False, "locked": False}
    per_case = {"name": "q1", "points": [0.5, 1.5], "suites": [{"cases": [case, {**case, "hidden": True}], "type": "doctest"}]}
    whole = {"name": "q2", "points": 3, "suites": [{"cases": [case, case, case], "type": "doctest"}]}
    archive = _archive(tmp_path / "a.zip", {"q1": f"OK_FORMAT = True\ntest = {per_case!r}\n", "q2": f"test = {whole!r}\n"})
    assert cli.question_points(archive) == {"q1": 2.0, "q2": 3.0}
    bad = _archive(tmp_path / "b.zip", {"q1": "import os\nos.system('echo run')\n"})
    with pytest.raises(ValueError, match="does not define one OK-format"):
        cli.question_points(bad)
    sneaky = _archive(tmp_path / "c.zip", {"q1": "test = __import__('os').getcwd()\n"})
    with pytest.raises(ValueError, match="malformed"):  # parsed as data, never run
        cli.question_points(sneaky)


MAXIMA = {"q1": 2.0, "q2": 1.0}


@pytest.mark.parametrize("report, message", [
    (b'{"scores": {"q1": 1000, "q2": 1}}', "gives q1 1000 of 2 points"),
    (b'{"scores": {"q1": -1}}', "gives q1 -1 of 2"),
    (b'{"scores": {"q1": true}}', "gives q1 True of 2"),
    (b'{"scores": {"q1": "2"}}', "gives q1 2 of 2"),
    (b'{"scores": {"q9": 1}}', "unknown question 'q9'"),
    (b'{"scores": {"q1": 2}}{"scores": {"q1": 2}}', "not one well-formed"),
    (b'{"tests": []}', "has no scores"),
    (b"\xff", "not one well-formed"),
])
def test_reports_out_of_bounds_are_rejected_whole(report, message):
    points, why = cli.verified_points(report, MAXIMA)
    assert points == {} and why.startswith("rejected") and message in why


def test_a_believable_report_gives_points_with_missing_questions_at_zero():
    report = b'{"scores": {"q1": 1.5}, "error": "a cell raised X: y\\n"}'
    assert cli.verified_points(report, MAXIMA) == ({"q1": 1.5, "q2": 0.0}, "a cell raised X: y")


def test_gradebook_cells_cannot_become_spreadsheet_formulas(tmp_path):
    cli.write_csv([cli.Grade("=cmd|'/c calc'!A1", "05_variable_length", {}, 8, "@SUM(1)")], tmp_path / "g.csv")
    row = next(csv.DictReader((tmp_path / "g.csv").open()))
    assert row["student"] == "'=cmd|'/c calc'!A1" and row["message"] == "'@SUM(1)"


def test_the_sandbox_hides_the_project_but_shows_its_package_and_python(tmp_path, monkeypatch):
    import sys

    # sys.path as a fresh `python -m rnnlab grade` has it: in the whole suite pytest has put exercises/
    # (the folder of its conftest.py) on this process's sys.path, which the plan would rightly show.
    monkeypatch.setattr(sys, "path", ["", *(p for p in sys.path if p.startswith((sys.prefix, sys.base_prefix)))])
    plan = sandbox.mount_plan([build.ROOT, tmp_path, tmp_path / "missing"])

    def visible(path: Path) -> bool:  # the deepest step above a path decides
        steps = [kind for kind, p in plan if p == path.resolve() or p in path.resolve().parents]
        return not steps or steps[-1] == "show"

    assert [len(p.parts) for _, p in plan] == sorted(len(p.parts) for _, p in plan)  # parents first
    assert not visible(build.ROOT / "exercises" / "source") and not visible(tmp_path) and not visible(build.ROOT)
    assert visible(build.ROOT / "rnnlab") and visible(Path(sys.base_prefix)) and visible(Path(sys.prefix))
    assert ("hide", (tmp_path / "missing").resolve()) not in plan


def test_masters_are_found_in_course_order_and_hashed(tmp_path):
    names = [p.stem for p in build.masters()]
    assert names == sorted(names) and "05_variable_length" in names
    (tmp_path / "02_b.ipynb").write_text("x")
    (tmp_path / "01_a.ipynb").write_text("y")
    (tmp_path / "notes.ipynb").write_text("z")
    assert [p.name for p in build.masters(tmp_path)] == ["01_a.ipynb", "02_b.ipynb"]
    assert build.master_hash(tmp_path / "01_a.ipynb") != build.master_hash(tmp_path / "02_b.ipynb")
    with pytest.raises(ValueError, match="source_dir"):
        build.masters(tmp_path / "nope")


def test_autograder_for_an_unknown_exercise_names_the_known_ones(tmp_path):
    with pytest.raises(ValueError, match="05_variable_length"):
        build.autograder_for("99_nothing")


def test_clean_notebook_strips_outputs_and_sets_kernel(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1", outputs=[nbformat.v4.new_output("stream", text="1")],
                                                                   execution_count=3)])
    nbformat.write(nb, tmp_path / "n.ipynb")
    build.clean_notebook(tmp_path / "n.ipynb")
    cell = nbformat.read(tmp_path / "n.ipynb", as_version=4).cells[0]
    assert cell.outputs == [] and cell.execution_count is None and cell.id == "cell-00"
    assert nbformat.read(tmp_path / "n.ipynb", as_version=4).metadata.kernelspec == build.KERNELSPEC


def test_ddp_harness_refuses_stubs_and_strangers_before_launching_workers():
    from rnnlab.grading.ddp_exercise import check_average_gradients

    def average_gradients(model):
        ...

    with pytest.raises(NotImplementedError, match="still a stub"):
        check_average_gradients(average_gradients)
    with pytest.raises(TypeError, match="named average_gradients"):
        check_average_gradients(print)


def test_ddp_harness_problem_is_the_same_on_every_rank():
    from rnnlab.grading.ddp_exercise import _problem

    (make_a, batches_a), (make_b, batches_b) = _problem(5, 2), _problem(5, 2)
    assert all(torch.equal(x, y) for (x, _), (y, _) in zip(batches_a, batches_b, strict=True))
    assert all(torch.equal(p, q) for p, q in zip(make_a().parameters(), make_b().parameters(), strict=True))
    assert all(len(y) % 2 == 0 for _, y in batches_a)  # every global batch splits evenly over 2 ranks


def test_the_learner_release_has_no_masters_autograders_or_hidden_tests(tmp_path):
    from rnnlab.grading import release

    files = release.write_release(tmp_path / "release")
    out = tmp_path / "release"
    assert not (out / "exercises" / "source").exists() and not (out / "exercises" / "autograder").exists()
    assert sorted(p.name for p in (out / "exercises" / "student").glob("*.ipynb")) == [p.name for p in build.masters()]
    assert (out / "rnnlab" / "grading" / "ddp_exercise.py").is_file() and "tests/project/test_exercises.py" not in files
    assert "Learner release" in (out / "README.md").read_text().split("\n## ")[0]
    assert release.leaks(out) == []
    with pytest.raises(ValueError, match="not empty"):
        release.write_release(out)
    assert release.write_release(out, replace=True) == files  # a previous release may be replaced
    with pytest.raises(ValueError, match="outside the course"):
        release.write_release(build.ROOT / "exercises" / "copy")


def test_a_release_that_would_leak_a_solution_is_refused_whole(tmp_path):
    from rnnlab.grading import release

    course = tmp_path / "course"  # no git here: the tree less .gitignore's patterns
    (course / "exercises" / "source").mkdir(parents=True)
    (course / ".gitignore").write_text("scratch/\n")
    (course / "README.md").write_text("# course\n")
    (course / "exercises" / "source" / "01_a.ipynb").write_text("# BEGIN SOLUTION")  # left out: fine
    (course / "scratch").mkdir()
    (course / "scratch" / "notes.py").write_text("# BEGIN SOLUTION")  # ignored: fine
    assert release.write_release(tmp_path / "ok", root=course) == [".gitignore", "README.md"]
    _notebook(course / "exercises" / "student" / "01_a.ipynb")
    nb = nbformat.read(course / "exercises" / "student" / "01_a.ipynb", as_version=4)
    nb.metadata["otter"] = {"tests": {"q1": {"suites": [{"cases": [{"code": ">>> 1", "hidden": True}]}]}}}
    nbformat.write(nb, course / "exercises" / "student" / "01_a.ipynb")
    with pytest.raises(RuntimeError, match="exercises/student/01_a.ipynb"):
        release.write_release(tmp_path / "leaky", root=course)
    assert not (tmp_path / "leaky").exists()


def test_bwrap_command_opens_only_the_way_down_inside_hidden_folders(tmp_path):
    box = tmp_path / "a" / "b" / "box"
    box.mkdir(parents=True)
    args = sandbox.bwrap_command(["true"], box, [tmp_path], box)
    flagged = {flag: [args[i + 1] for i, a in enumerate(args) if a == flag] for flag in ("--tmpfs", "--bind", "--remount-ro")}
    chmods = [args[i + 2] for i, a in enumerate(args) if a == "--chmod"]
    root = tmp_path.resolve()
    assert flagged["--tmpfs"][-1] == str(root) and flagged["--bind"] == [str(box.resolve())] and str(root) in flagged["--remount-ro"]
    assert sorted(chmods) == [str(root / "a"), str(root / "a" / "b")]  # the way down, nothing outside the hidden folder
    assert min(i for i, a in enumerate(args) if a == "--remount-ro") > max(i for i, a in enumerate(args) if a in ("--bind", "--chmod"))
    namespaces = {"--unshare-all"} if "--unshare-all" in args else {"--unshare-net", "--unshare-pid"}
    assert {"--die-with-parent", "--new-session", *namespaces} <= set(args)
    assert args[args.index("--") + 1:][-1] == "true"
