"""What runs inside a grading sandbox: ``otter run`` on one submission, then one JSON report.

`rnnlab.grading.grader` starts ``python -c SOURCE SUBMISSION ARCHIVE_FD CHANNEL_FD`` in the sandbox,
SOURCE being this file's text (so the sandbox needs no view of the project folder). It does what
``otter run`` does (`otter.run.main`, without otter's command line, whose import loads every otter
command and costs seconds per submission) and writes ``{"scores": {question: points}, "error":
first error}`` on the pipe ``CHANNEL_FD``. The autograder archive comes in as an open file, read
into memory and closed before the notebook's kernel starts: no path or descriptor to it is left.
The grader trusts nothing in the report it could not check (`grader.verified_points`). No
``from __future__`` import: the source runs after the line that skips a slow jsonschema extra.
"""

import io
import json
import os
import sys
from collections.abc import Sequence
from typing import Any


def report(results: Any) -> dict[str, Any]:
    """The report of otter's ``GradingResults``: each question's score, the first error a cell of
    the executed notebook raised (``ename``, ``evalue``) and, when otter could not grade at all, the
    type and text of otter's own error. The grader makes its gradebook message from these fields
    and shows their text only on the teacher's terminal. (No cell number: otter adds cells of its
    own, so a number would not be the learner's.)"""
    cells = (results.notebook or {}).get("cells", [])
    errors = [
        {"ename": out.get("ename"), "evalue": out.get("evalue")}
        for cell in cells
        for out in cell.get("outputs", [])
        if out.get("output_type") == "error"
    ]
    failure = results.catastrophic_error
    return {
        "scores": {name: test.score for name, test in results.results.items()},
        "error": errors[0] if errors else None,
        "failure": None
        if failure is None
        else {"ename": type(failure).__name__, "evalue": str(failure)},
    }


def main(argv: Sequence[str]) -> None:
    """Grade ``argv = (submission, archive_fd, channel_fd)`` and write the report on the channel."""
    from otter.run import main as otter_run

    submission, archive_fd, channel = argv[0], int(argv[1]), int(argv[2])
    os.set_inheritable(channel, False)
    with open(archive_fd, "rb") as archive:
        autograder = io.BytesIO(archive.read())
    results = otter_run(submission, autograder=autograder, output_dir=None, no_logo=True)
    os.write(channel, json.dumps(report(results)).encode())


if __name__ == "__main__":
    main(sys.argv[1:])
