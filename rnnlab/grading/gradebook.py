"""The gradebook: which exercise each submitted notebook answers, one `Grade` per submission,
and the CSV and terminal table they become (`rnnlab.grading.cli` fills it, sandbox by sandbox)."""

from __future__ import annotations

import csv
import errno
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from .limits import Usage

# A submission is read whole by the teacher's own process before any sandbox: these bound it.
MAX_SUBMISSION_BYTES = 16 * 2**20
MAX_CELLS = 5_000

__all__ = [
    "Grade",
    "exercise_of",
    "find_submissions",
    "format_table",
    "plain",
    "read_submission",
    "write_csv",
]


def plain(text: object, limit: int = 300) -> str:
    """Text the grader did not write (a file name, a submission's output) made safe for a terminal
    or one gradebook cell: printable characters only (no escape sequences), one line, bounded."""
    return "".join(c if c.isprintable() else " " for c in str(text))[:limit].strip()


@dataclass
class Grade:
    """One graded submission: points per question, or a message saying why there are none.

    ``message`` is in the grader's own words and goes into the gradebook; ``detail`` is what the
    submission itself printed or raised (cleaned by `plain`), shown only on the teacher's terminal:
    a gradebook handed to learners must not carry text a submission chose, such as hidden tests it
    read while it was graded.
    """

    student: str
    exercise: str
    points: dict[str, float] = field(default_factory=dict)
    possible: float = 0.0
    message: str = ""
    detail: str = ""
    usage: Usage | None = None  # time and peak memory/processes of its sandbox, when it ran

    @property
    def total(self) -> float:
        return float(sum(self.points.values()))


def read_submission(path: Path) -> nbformat.NotebookNode:
    """The notebook at ``path``, read as a submission must be: a regular file reached without
    following a symbolic link, at most `MAX_SUBMISSION_BYTES`, valid notebook JSON of at most
    `MAX_CELLS` cells. Anything else raises ValueError in the grader's words: a message never
    quotes the file (a link to a secret would put the secret in the gradebook)."""
    name = plain(Path(path).name, 80)
    try:  # O_NONBLOCK: opening a FIFO must not wait for a writer
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise ValueError(f"refused {name}: a symbolic link, not a notebook file") from None
        raise ValueError(f"{name} cannot be opened ({error.strerror})") from None
    with os.fdopen(fd, "rb") as file:
        info = os.fstat(file.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise ValueError(f"refused {name}: not a regular file")
        data = file.read(MAX_SUBMISSION_BYTES + 1)
    if len(data) > MAX_SUBMISSION_BYTES:
        raise ValueError(f"refused {name}: larger than {MAX_SUBMISSION_BYTES // 2**20} MiB")
    try:
        notebook = nbformat.reads(data.decode("utf-8"), as_version=4)
    except Exception:  # whatever the parser says quotes the file
        raise ValueError(f"{name} is not a readable notebook (not notebook JSON)") from None
    if len(notebook.cells) > MAX_CELLS:
        raise ValueError(f"refused {name}: more than {MAX_CELLS:,} cells")
    return notebook


def exercise_of(path: Path, known: Sequence[str]) -> str:
    """The exercise a submission answers: its otter assignment name, else the ``NN_name`` its file
    starts with (`read_submission` refuses what is not a notebook file)."""
    name = read_submission(path).metadata.get("otter", {}).get("assignment_name")
    if name in known:
        return name
    stem = plain(Path(path).stem, 80)
    matches = [k for k in known if stem.startswith(k)] or [k for k in known if stem[:3] == k[:3]]
    if len(matches) != 1:
        raise ValueError(
            f"cannot tell which exercise {stem}.ipynb answers (name it after one of: "
            f"{', '.join(known)})"
        )
    return matches[0]


def find_submissions(target: Path) -> list[tuple[str, Path]]:
    """``(student, path)`` for a notebook, or for every notebook under a folder (student = relative
    path). Folders are walked without following links; a linked folder is listed as it is, so that
    grading refuses it with a message rather than skipping it in silence."""
    target = Path(target)
    if target.is_file():
        if target.suffix != ".ipynb":
            raise ValueError(f"submission must be an .ipynb notebook, got {plain(target)}")
        return [(target.stem, target)]
    if not target.is_dir():
        raise ValueError(f"submission {plain(target)} does not exist")
    found = []
    for folder, subfolders, files in os.walk(target, followlinks=False):
        here = Path(folder)
        found += [here / f for f in files if f.endswith(".ipynb")]
        found += [here / d for d in subfolders if (here / d).is_symlink()]
        subfolders[:] = [d for d in subfolders if d != ".ipynb_checkpoints"]
    if not found:
        raise ValueError(f"no .ipynb submissions under {plain(target)}")
    return [(str(p.relative_to(target).with_suffix("")), p) for p in sorted(found)]


def _cell(text: str) -> str:
    """Text for a CSV cell that a spreadsheet will not run: a leading =, +, -, @ or tab is quoted
    away."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def write_csv(grades: Sequence[Grade], out: Path) -> list[str]:
    """Write the gradebook; returns the question columns (every question seen, in name order)."""
    questions = sorted({q for g in grades for q in g.points}, key=lambda q: (len(q), q))
    with Path(out).open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["student", "exercise", *questions, "total", "possible", "message"])
        for g in grades:
            writer.writerow(
                [
                    _cell(plain(g.student)),
                    _cell(g.exercise),
                    *(f"{g.points[q]:g}" if q in g.points else "" for q in questions),
                    f"{g.total:g}",
                    f"{g.possible:g}",
                    _cell(g.message),
                ]
            )
    return questions


def format_table(grades: Sequence[Grade], questions: Sequence[str]) -> str:
    """A plain-text table of the gradebook for the terminal."""
    header = ["student", "exercise", *questions, "total", "message"]
    rows = [
        [
            plain(g.student, 60),
            g.exercise,
            *(f"{g.points[q]:g}" if q in g.points else "-" for q in questions),
            f"{g.total:g}/{g.possible:g}",
            g.message[:70],
        ]
        for g in grades
    ]
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    return "\n".join(
        "  ".join(str(cell).ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip()
        for r in [header, *rows]
    )
