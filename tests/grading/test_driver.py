"""rnnlab.grading.driver: the report it writes, the scores it reads (as JSON, never unpickled) and
the cells it gives the notebook (the sandboxed run itself is graded in tests/grading/test_sandbox.py
and tests/project/test_exercises.py)."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from rnnlab.grading import driver


def _executed(*outputs):
    return {
        "cells": [
            {"cell_type": "code", "outputs": []},
            {"cell_type": "markdown", "source": "# hi"},
            {"cell_type": "code", "outputs": list(outputs)},
        ]
    }


def test_report_gives_every_score_and_the_first_error():
    notebook = _executed(
        {"output_type": "stream", "text": "hi"},
        {"output_type": "error", "ename": "ValueError", "evalue": "bad shape"},
        {"output_type": "error", "ename": "KeyError", "evalue": "x"},
    )
    report = driver.report(notebook, {"q1": 2.0, "q2": 0.5}, None)
    assert report["scores"] == {"q1": 2.0, "q2": 0.5} and report["failure"] is None
    assert report["error"] == {"ename": "ValueError", "evalue": "bad shape"}


def test_report_names_a_failure_and_no_error_as_none():
    failed = driver.report(_executed(), {}, ValueError("no scores"))
    assert failed["failure"] == {"ename": "ValueError", "evalue": "no scores"}
    assert driver.report(_executed(), {"q1": 1.0}, None)["error"] is None


def test_scores_are_read_as_json_and_anything_else_is_refused(tmp_path):
    path = tmp_path / "scores.json"
    path.write_text(json.dumps({"q1": 2.0}))
    assert driver.read_scores(path) == {"q1": 2.0}
    for written in (b"", b"[1, 2]", b"\x80\x04K\x01.", b"{" + b" " * driver.SCORES_BYTES + b"}"):
        path.write_bytes(written)  # nothing, a list, a pickle, too much
        with pytest.raises(ValueError, match="wrote no scores"):
            driver.read_scores(path)


def _prepared(folder: Path, tests: dict[str, str], source: str) -> nbformat.NotebookNode:
    """A one-cell notebook ``source`` prepared by the driver in ``folder`` (the current folder),
    beside ``tests/NAME.py`` files holding ``test = TEXT``."""
    (folder / "tests").mkdir(exist_ok=True)
    for name, test in tests.items():
        (folder / "tests" / f"{name}.py").write_text(f"OK_FORMAT = True\ntest = {test}\n")
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
    return driver._preprocessor(folder / "scores.json").preprocess(notebook)[0]


def test_the_notebook_gets_no_log_sender_and_a_json_export(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    prepared = _prepared(tmp_path, {"q1": "{}"}, "x = 1")
    added = prepared.cells[0].source + prepared.cells[-1].source
    assert "init_grading_mode('./tests')" in prepared.cells[0].source
    assert "tests/q1.py" in prepared.cells[-1].source and "json" in prepared.cells[-1].source
    assert "send_logs" not in added and "pickle" not in added


def test_the_sandbox_runs_the_module_source_as_main():
    from rnnlab.grading import grader

    assert grader._DRIVER.endswith(Path(driver.__file__).read_text())
    assert 'if __name__ == "__main__":' in grader._DRIVER


def test_trusted_comes_right_after_otters_first_cell_when_the_tests_use_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    prepared = _prepared(tmp_path, {"q1": "{}"}, "import torch")
    assert driver.TRUSTED_CELL not in [c.source for c in prepared.cells]  # no test imports it

    test = "{'suites': [{'cases': [{'code': '>>> from rnnlab.grading import trusted'}]}]}"
    sources = [c.source for c in _prepared(tmp_path, {"q2": test}, "import torch").cells]
    assert "init_grading_mode" in sources[0] and sources[1] == driver.TRUSTED_CELL
    assert sources.index("import torch") > 1 and sources.count(driver.TRUSTED_CELL) == 1
