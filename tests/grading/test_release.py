"""rnnlab.grading.release: a learner release holds no masters, autograders or hidden tests, or is
refused whole."""

from __future__ import annotations

import nbformat
import pytest

from rnnlab.grading import build


def test_the_learner_release_has_no_masters_autograders_or_hidden_tests(tmp_path):
    from rnnlab.grading import release

    files = release.write_release(tmp_path / "release")
    out = tmp_path / "release"
    assert (
        not (out / "exercises" / "source").exists()
        and not (out / "exercises" / "autograder").exists()
    )
    assert sorted(p.name for p in (out / "exercises" / "student").glob("*.ipynb")) == [
        p.name for p in build.masters()
    ]
    assert (
        out / "rnnlab" / "grading" / "ddp_exercise.py"
    ).is_file() and "tests/project/test_exercises.py" not in files
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
    # left out: fine
    (course / "exercises" / "source" / "01_a.ipynb").write_text("# BEGIN SOLUTION")
    (course / "scratch").mkdir()
    (course / "scratch" / "notes.py").write_text("# BEGIN SOLUTION")  # ignored: fine
    assert release.write_release(tmp_path / "ok", root=course) == [".gitignore", "README.md"]
    nb = nbformat.v4.new_notebook()
    nb.metadata["otter"] = {
        "tests": {"q1": {"suites": [{"cases": [{"code": ">>> 1", "hidden": True}]}]}}
    }
    (course / "exercises" / "student").mkdir()
    nbformat.write(nb, course / "exercises" / "student" / "01_a.ipynb")
    with pytest.raises(RuntimeError, match="exercises/student/01_a.ipynb"):
        release.write_release(tmp_path / "leaky", root=course)
    assert not (tmp_path / "leaky").exists()
