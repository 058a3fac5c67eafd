"""rnnlab.grading.build: masters in course order, autograders named, notebooks cleaned."""

from __future__ import annotations

import nbformat
import pytest

from rnnlab.grading import build


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
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell(
                "1", outputs=[nbformat.v4.new_output("stream", text="1")], execution_count=3
            )
        ]
    )
    nbformat.write(nb, tmp_path / "n.ipynb")
    build.clean_notebook(tmp_path / "n.ipynb")
    cell = nbformat.read(tmp_path / "n.ipynb", as_version=4).cells[0]
    assert cell.outputs == [] and cell.execution_count is None and cell.id == "cell-00"
    assert nbformat.read(tmp_path / "n.ipynb", as_version=4).metadata.kernelspec == build.KERNELSPEC
