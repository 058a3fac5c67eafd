"""Suite-wide settings: quick mode and no model cache, and a timing table of every notebook run."""

from __future__ import annotations

import os
from collections import defaultdict

os.environ.setdefault("RNNLAB_QUICK", "1")
os.environ.setdefault("RNNLAB_CACHE", "0")
os.environ.setdefault("MPLBACKEND", "Agg")
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
    terminalreporter.section("notebook run times (quick mode)")
    for path, seconds in sorted(_notebook_seconds.items()):
        status = "FAILED" if path in _notebook_failed else "ok"
        terminalreporter.write_line(f"{seconds:8.1f} s  {status:<6}  {path}")
    terminalreporter.write_line(f"{sum(_notebook_seconds.values()):8.1f} s  total")
