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


# A slider drawn with ipywidgets.interactive, its function plotting and printing into the Output
# widget, then a plain cell: the pattern after which chapter 1 (run by nbconvert) sat out a 1,200 s
# cell timeout. With nbclient's Output-widget emulation a run of this notebook waits out one or more
# timeouts about one run in ten; without it, none in 40 runs (issue #31).
SLIDER = """\
import ipywidgets as widgets
import matplotlib.pyplot as plt
def show(h):
    plt.plot(range(h))
    plt.show()
    print("h =", h)
widgets.interactive(show, h=widgets.IntSlider(value=3, min=1, max=9))"""


def _gaps(executed) -> list[float]:
    """Seconds between one cell's end and the next one's start, by the kernel's clock: a cell's
    request sent late (the client asleep on a reply it already has) shows as a long gap."""
    from datetime import datetime
    from itertools import pairwise

    def at(cell, event):
        return datetime.fromisoformat(cell.metadata.execution[event].replace("Z", "+00:00"))

    return [
        (at(b, "iopub.status.busy") - at(a, "iopub.status.idle")).total_seconds()
        for a, b in pairwise(executed.cells)
    ]


@pytest.mark.slow
def test_the_executor_never_waits_for_a_reply_it_has_after_a_slider():
    cells = [nbformat.v4.new_code_cell(s) for s in ["import math", SLIDER, "x = 1"] * 5]
    for _ in range(8):
        run = driver.executor(timeout=20, record_timing=True)
        executed, _ = run.preprocess(nbformat.v4.new_notebook(cells=cells))
        assert run.comm_objects == {}, "an Output widget was emulated"
        assert max(_gaps(executed)) < 10, "a cell's request was sent only after a timeout"
        printed = [o.get("text", "") for c in executed.cells for o in c.outputs]
        assert printed.count("h = 3\n") == 5, "the slider's output is not in the cell's outputs"
