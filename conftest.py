"""Suite-wide settings: quick mode and no model cache, a timing table of every notebook run, and
(when ``RNNLAB_EXECUTED_DIR`` is set) each chapter as nbval executed it, outputs included, for the
course site."""

from __future__ import annotations

import copy
import os
from collections import defaultdict
from pathlib import Path

import matplotlib
import nbformat

# Figures drawn by tests in this process need no screen; notebook kernels keep their inline backend,
# so an executed chapter carries its figures (the course site shows them).
matplotlib.use("Agg")

os.environ.setdefault("RNNLAB_QUICK", "1")
os.environ.setdefault("RNNLAB_CACHE", "0")
if int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) > 1:
    # Parallel workers (make test): one thread each, so that two workers on two cores do not fight
    # over the same cores. Notebook kernels and subprocesses inherit it.
    os.environ.setdefault("OMP_NUM_THREADS", "1")

_notebook_seconds: dict[str, float] = defaultdict(float)
_notebook_failed: set[str] = set()


def pytest_runtest_logreport(report):
    path = report.nodeid.split("::")[0]
    if path.endswith(".ipynb"):
        _notebook_seconds[path] += report.duration
        if report.failed:
            _notebook_failed.add(path)


def pytest_terminal_summary(terminalreporter):
    if not _notebook_seconds:
        return
    from rnnlab.config import is_quick

    terminalreporter.section(f"notebook run times ({'quick' if is_quick() else 'full'} mode)")
    for path, seconds in sorted(_notebook_seconds.items()):
        status = "FAILED" if path in _notebook_failed else "ok"
        terminalreporter.write_line(f"{seconds:8.1f} s  {status:<6}  {path}")
    terminalreporter.write_line(f"{sum(_notebook_seconds.values()):8.1f} s  total")


def pytest_runtest_teardown(item, nextitem):
    """After a chapter's last cell, write the notebook with the outputs nbval saw to
    ``RNNLAB_EXECUTED_DIR``.

    nbval keeps each cell's outputs (``test_outputs``); writing them into a copy gives the executed
    notebook without running it a second time. A failed run writes nothing, so no page shows it.
    """
    target = os.environ.get("RNNLAB_EXECUTED_DIR")
    notebook = getattr(item.parent, "nb", None)
    if not target or notebook is None or item.parent.path.parent.name != "chapters":
        return
    if nextitem is not None and nextitem.parent is item.parent:
        return
    items = [i for i in item.parent.session.items if i.parent is item.parent]
    if (
        any(getattr(i, "test_outputs", None) is None for i in items)
        or item.parent.path in _notebook_failures
    ):
        return
    executed = copy.deepcopy(notebook)
    by_cell = {i.cell_num: i for i in items}
    for number, cell in enumerate(c for c in executed.cells if c.cell_type == "code"):
        run = by_cell.get(number)
        cell.execution_count = number + 1
        cell.outputs = [nbformat.from_dict(dict(o)) for o in (run.test_outputs if run else [])]
    Path(target).mkdir(parents=True, exist_ok=True)
    nbformat.write(executed, Path(target) / item.parent.path.name)


_notebook_failures: set[Path] = set()


def pytest_runtest_makereport(item, call):
    if call.excinfo is not None and getattr(item.parent, "nb", None) is not None:
        _notebook_failures.add(item.parent.path)
