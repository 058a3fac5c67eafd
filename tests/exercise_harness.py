"""Grade an answered exercise in this process, with otter's own test files and scoring, in well under a second.

``otter run`` starts a Jupyter kernel per submission (seconds each) and runs every training cell. The
wrong-solution suite grades dozens of answers, most of which train nothing, so it runs the student copy's
cells here instead, each answer swapped in for its stub, and scores the autograder's test files
(``tests/qN.py`` in the archive: public and hidden cases with their points) with
`otter.test_files.OKTestFile`, the class ``otter run`` scores them with. Cells are compiled under
file names that `linecache` knows, as IPython does, so `inspect.getsource` (used by the source checks)
works on the answers as it does in a notebook.
"""

from __future__ import annotations

import contextlib
import io
import linecache
import tempfile
import zipfile
from pathlib import Path

import nbformat
from otter.test_files import OKTestFile


def student_cells(student: Path) -> list[str]:
    """The code cells of a student copy, without otter's set-up and check cells."""
    nb = nbformat.read(student, as_version=4)
    return [c.source for c in nb.cells if c.cell_type == "code" and "otter" not in c.source and "grader." not in c.source]


def answer(cells: list[str], answers: dict[str, str]) -> list[str]:
    """``cells`` with each cell that starts with a key of ``answers`` replaced by its value (every key must match once)."""
    out, used = [], set()
    for source in cells:
        keys = [k for k in answers if source.startswith(k)]
        if len(keys) > 1:
            raise ValueError(f"answer keys {keys} all match one cell")
        if keys:
            used.add(keys[0])
            source = answers[keys[0]]
        out.append(source)
    missing = set(answers) - used
    if missing:
        raise ValueError(f"no cell starts with {sorted(missing)}")
    return out


def run_cells(cells: list[str], tag: str) -> dict:
    """Execute ``cells`` in one fresh ``__main__``-like namespace; a cell that raises is skipped, as a notebook run goes on."""
    namespace: dict = {"__name__": "__main__"}
    for i, source in enumerate(cells):
        filename = f"<{tag}-cell-{i}>"
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(Exception):
            exec(compile(source, filename, "exec"), namespace)
    return namespace


def score(autograder: Path, namespace: dict) -> dict[str, tuple[float, float]]:
    """``{question: (score, possible)}`` from the autograder's test files run on ``namespace``."""
    results = {}
    with tempfile.TemporaryDirectory(prefix="rnnlab-harness-") as tmp, zipfile.ZipFile(autograder) as archive:
        for member in archive.namelist():
            if member.startswith("tests/") and member.endswith(".py"):
                path = Path(tmp) / Path(member).name
                path.write_bytes(archive.read(member))
                test = OKTestFile.from_file(str(path))
                with contextlib.redirect_stdout(io.StringIO()):
                    test.run(namespace)
                results[test.name] = (float(test.score), float(test.possible))
    return dict(sorted(results.items()))


def points(autograder: Path) -> dict[str, list[tuple[bool, float]]]:
    """``{question: [(hidden, points) per case]}`` as otter resolved them."""
    out = {}
    with tempfile.TemporaryDirectory(prefix="rnnlab-harness-") as tmp, zipfile.ZipFile(autograder) as archive:
        for member in archive.namelist():
            if member.startswith("tests/") and member.endswith(".py"):
                path = Path(tmp) / Path(member).name
                path.write_bytes(archive.read(member))
                test = OKTestFile.from_file(str(path))
                out[test.name] = [(case.hidden, float(case.points)) for case in test.test_cases]
    return dict(sorted(out.items()))


def grade(student: Path, autograder: Path, answers: dict[str, str], tag: str = "answer") -> dict[str, tuple[float, float]]:
    """Score the student copy with ``answers`` in place of its stubs: ``{question: (score, possible)}``."""
    return score(autograder, run_cells(answer(student_cells(student), answers), tag))
