"""The gradebook: which exercise each submitted notebook answers, one `Grade` per submission,
and the CSV and terminal table they become (`rnnlab.grading.cli` fills it, sandbox by sandbox)."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from .sandbox import Usage

__all__ = ["Grade", "exercise_of", "find_submissions", "format_table", "write_csv"]


@dataclass
class Grade:
    """One graded submission: points per question, or a message saying why there are none."""

    student: str
    exercise: str
    points: dict[str, float] = field(default_factory=dict)
    possible: float = 0.0
    message: str = ""
    usage: Usage | None = None  # time and peak memory/processes of its sandbox, when it ran

    @property
    def total(self) -> float:
        return float(sum(self.points.values()))


def exercise_of(path: Path, known: Sequence[str]) -> str:
    """The exercise a submission answers: its otter assignment name, else the ``NN_name`` its file
    starts with."""
    try:
        name = nbformat.read(path, as_version=4).metadata.get("otter", {}).get("assignment_name")
    except Exception as error:  # a corrupt notebook is the submission's problem, reported per row
        raise ValueError(f"{path.name} is not a readable notebook: {error}") from error
    if name in known:
        return name
    matches = [k for k in known if path.stem.startswith(k)] or [
        k for k in known if path.stem[:3] == k[:3]
    ]
    if len(matches) != 1:
        raise ValueError(
            f"cannot tell which exercise {path.name} answers (name it after one of: "
            f"{', '.join(known)})"
        )
    return matches[0]


def find_submissions(target: Path) -> list[tuple[str, Path]]:
    """``(student, path)`` for a notebook, or for every notebook under a folder (student = relative
    path)."""
    target = Path(target)
    if target.is_file():
        if target.suffix != ".ipynb":
            raise ValueError(f"submission must be an .ipynb notebook, got {target}")
        return [(target.stem, target)]
    if not target.is_dir():
        raise ValueError(f"submission {target} does not exist")
    found = sorted(p for p in target.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
    if not found:
        raise ValueError(f"no .ipynb submissions under {target}")
    return [(str(p.relative_to(target).with_suffix("")), p) for p in found]


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
                    _cell(g.student),
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
            g.student,
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
