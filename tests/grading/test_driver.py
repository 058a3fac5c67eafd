"""rnnlab.grading.driver: the report it writes from otter's results (the sandboxed run itself is
graded for real in tests/project/test_exercises.py)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from rnnlab.grading import driver


def _results(scores, outputs=(), catastrophic=None):
    cell = {"cell_type": "code", "outputs": list(outputs)}
    return SimpleNamespace(
        notebook={"cells": [cell]},
        results={q: SimpleNamespace(score=s) for q, s in scores.items()},
        catastrophic_error=catastrophic,
    )


def test_report_gives_every_score_and_the_first_error():
    outputs = [
        {"output_type": "stream", "text": "hi"},
        {"output_type": "error", "ename": "ValueError", "evalue": "bad shape"},
        {"output_type": "error", "ename": "KeyError", "evalue": "x"},
    ]
    results = _results({"q1": 2.0, "q2": 0.5}, outputs)
    results.notebook["cells"].insert(0, {"cell_type": "markdown", "source": "# hi"})
    results.notebook["cells"].insert(0, {"cell_type": "code", "outputs": []})
    report = driver.report(results)
    assert report["scores"] == {"q1": 2.0, "q2": 0.5} and report["failure"] is None
    assert report["error"] == {"ename": "ValueError", "evalue": "bad shape"}


def test_report_names_otter_failing_and_no_error_as_none():
    failed = driver.report(_results({}, catastrophic=RuntimeError("no kernel")))
    assert failed["failure"] == {"ename": "RuntimeError", "evalue": "no kernel"}
    assert driver.report(_results({"q1": 1.0}))["error"] is None


def test_the_sandbox_runs_the_module_source_as_main():
    from rnnlab.grading import grader

    assert grader._DRIVER.endswith(Path(driver.__file__).read_text())
    assert 'if __name__ == "__main__":' in grader._DRIVER
