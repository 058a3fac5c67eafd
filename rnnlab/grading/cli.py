"""``python -m rnnlab grade SUBMISSION_OR_FOLDER [--out gradebook.csv]``: a gradebook from otter.

Otter does the grading (``otter run``: executes the notebook, runs public and hidden tests). This is
the glue around it that a teacher with a folder of submissions needs:

- the exercise of each notebook comes from its otter metadata (or its ``NN_name`` file name), and its
  autograder is built from ``exercises/source/`` when missing or stale;
- every submission runs in its own temporary folder, in its own process group, under a time limit,
  with its output captured to a file; a submission that raises, hangs, floods the output or deletes
  files gets a score and a message and cannot disturb the others or the project;
- the result is a CSV (student, exercise, per-question points, total, possible, message) and a table.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from .build import AUTOGRADER_DIR, SOURCE_DIR, autograder_for

DEFAULT_TIMEOUT_S = 600


@dataclass
class Grade:
    """One graded submission: points per question, or a message saying why there are none."""

    student: str
    exercise: str
    points: dict[str, float] = field(default_factory=dict)
    possible: float = 0.0
    message: str = ""

    @property
    def total(self) -> float:
        return float(sum(self.points.values()))


def exercise_of(path: Path, known: Sequence[str]) -> str:
    """The exercise a submission answers: its otter assignment name, else the ``NN_name`` its file starts with."""
    try:
        name = nbformat.read(path, as_version=4).metadata.get("otter", {}).get("assignment_name")
    except Exception as error:  # a corrupt notebook is the submission's problem, reported per row
        raise ValueError(f"{path.name} is not a readable notebook: {error}") from error
    if name in known:
        return name
    matches = [k for k in known if path.stem.startswith(k)] or [k for k in known if path.stem[:3] == k[:3]]
    if len(matches) != 1:
        raise ValueError(f"cannot tell which exercise {path.name} answers (name it after one of: {', '.join(known)})")
    return matches[0]


def find_submissions(target: Path) -> list[tuple[str, Path]]:
    """``(student, path)`` for a notebook, or for every notebook under a folder (student = relative path)."""
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


def _tail(path: Path, limit: int = 600) -> str:
    """The last ``limit`` characters of a (possibly huge) log file, read without loading it whole."""
    if not path.is_file():
        return ""
    with path.open("rb") as f:
        f.seek(max(0, path.stat().st_size - limit))
        return f.read().decode("utf-8", "replace").strip()


def _limit_output_files() -> None:  # runs in the child before exec: no single file may grow past 256 MB
    import resource

    resource.setrlimit(resource.RLIMIT_FSIZE, (256 * 2**20, 256 * 2**20))


# Both otter and the notebook's kernel (which imports otter) load jsonschema, whose optional extra
# rfc3987_syntax builds 38 parsers on import: ~3 s per process (python-jsonschema/jsonschema#1392).
# Otter never validates IRIs and jsonschema works without the extra, so both processes skip it.
_SKIP_SLOW_EXTRA = 'import sys; sys.modules["rfc3987_syntax"] = None\n'

# What ``otter run`` does (otter.run.main), without otter's command line, whose import loads every
# otter command (Docker grading, assign, ...) and costs seconds per submission.
_OTTER_RUN = _SKIP_SLOW_EXTRA + "from otter.run import main\n" \
    "main(sys.argv[1], autograder=sys.argv[2], output_dir=sys.argv[3], no_logo=True)\n"

# The kernel otter starts for the notebook: the usual ipykernel (what ``python -m ipykernel_launcher`` runs).
_KERNEL_SPEC = {"argv": [sys.executable, "-c", _SKIP_SLOW_EXTRA + "from ipykernel.kernelapp import launch_new_instance\n"
                         "launch_new_instance()\n", "-f", "{connection_file}"],
                "display_name": "Python 3 (ipykernel)", "language": "python"}


def _kill_tree(pid: int) -> None:
    """Kill otter and everything below it: the kernel runs in a session of its own, so a process group is not enough."""
    import psutil

    try:
        family = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return
    for proc in family:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
    psutil.wait_procs(family, timeout=10)


def grade_one(student: str, path: Path, exercise: str, autograder: Path, timeout_s: float, threads: int = 1) -> Grade:
    """Grade one submission with ``otter run`` in a private temporary folder, under ``timeout_s`` seconds.

    ``threads`` caps the submission's torch/OpenMP threads (unless OMP_NUM_THREADS is set already), so
    that parallel jobs share the cores instead of fighting over them.
    """
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be a positive int, got {threads!r}")
    grade = Grade(student, exercise)
    with tempfile.TemporaryDirectory(prefix="rnnlab-grade-") as tmp:
        box = Path(tmp)
        for sub in ("submission", "results", "tmp", "home"):
            (box / sub).mkdir()
        submission = box / "submission" / f"{exercise}.ipynb"
        shutil.copy(path, submission)
        shutil.copy(autograder, box / "autograder.zip")
        kernel_dir = box / "jupyter" / "kernels" / "python3"  # found before the installed python3 kernel
        kernel_dir.mkdir(parents=True)
        (kernel_dir / "kernel.json").write_text(json.dumps(_KERNEL_SPEC))
        log = box / "otter.log"
        env = {"OMP_NUM_THREADS": str(threads), **os.environ,  # a thread count set by the caller wins
               "TMPDIR": str(box / "tmp"), "HOME": str(box / "home"), "PYTHONDONTWRITEBYTECODE": "1",
               "MPLBACKEND": "Agg", "JUPYTER_PLATFORM_DIRS": "1", "JUPYTER_PATH": str(box / "jupyter")}
        command = [sys.executable, "-c", _OTTER_RUN, str(submission), str(box / "autograder.zip"), str(box / "results")]
        with log.open("wb") as out:
            process = subprocess.Popen(command, cwd=box / "submission", env=env, stdout=out, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, start_new_session=True, preexec_fn=_limit_output_files)
            try:
                process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                grade.message = f"stopped at the time limit of {timeout_s:g} s (an endless loop, or too much training?)"
            finally:
                _kill_tree(process.pid)
                process.wait()
        results = box / "results" / "results.json"
        if not grade.message and results.is_file():
            try:
                tests = json.loads(results.read_text())["tests"]
            except (ValueError, KeyError) as error:
                grade.message = f"otter wrote unreadable results: {error}"
            else:
                for test in tests:
                    if test.get("max_score") is not None and test.get("name") != "Public Tests":
                        grade.points[test["name"]] = float(test.get("score") or 0.0)
                        grade.possible += float(test["max_score"])
        elif not grade.message:
            grade.message = "otter produced no results: " + (_tail(log).splitlines() or ["(no output)"])[-1][:300]
    if not grade.possible:
        grade.possible = _possible(autograder)
    return grade


def _possible(autograder: Path) -> float:
    """Total points of an autograder, for submissions that never got as far as a score."""
    import zipfile

    total = 0.0
    with zipfile.ZipFile(autograder) as archive:
        for name in archive.namelist():
            if name.startswith("tests/") and name.endswith(".py"):
                match = re.search(r"['\"]points['\"]\s*:\s*([0-9.]+)", archive.read(name).decode())
                total += float(match.group(1)) if match else 0.0
    return total


def write_csv(grades: Sequence[Grade], out: Path) -> list[str]:
    """Write the gradebook; returns the question columns (every question seen, in name order)."""
    questions = sorted({q for g in grades for q in g.points}, key=lambda q: (len(q), q))
    with Path(out).open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["student", "exercise", *questions, "total", "possible", "message"])
        for g in grades:
            writer.writerow([g.student, g.exercise, *(f"{g.points[q]:g}" if q in g.points else "" for q in questions),
                             f"{g.total:g}", f"{g.possible:g}", g.message])
    return questions


def format_table(grades: Sequence[Grade], questions: Sequence[str]) -> str:
    """A plain-text table of the gradebook for the terminal."""
    header = ["student", "exercise", *questions, "total", "message"]
    rows = [[g.student, g.exercise, *(f"{g.points[q]:g}" if q in g.points else "-" for q in questions),
             f"{g.total:g}/{g.possible:g}", g.message[:70]] for g in grades]
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    return "\n".join("  ".join(str(cell).ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in [header, *rows])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rnnlab grade", description=__doc__.splitlines()[0])
    parser.add_argument("submission", type=Path, help="a submitted .ipynb, or a folder of them (searched recursively)")
    parser.add_argument("--out", type=Path, default=Path("gradebook.csv"), help="CSV to write (default: gradebook.csv)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, help="seconds allowed per submission")
    parser.add_argument("--jobs", type=int, default=1, help="submissions graded at the same time (default 1)")
    parser.add_argument("--source-dir", type=Path, default=SOURCE_DIR, help="exercise masters (default: exercises/source)")
    parser.add_argument("--autograder-dir", type=Path, default=AUTOGRADER_DIR, help="where autograders are built and cached")
    args = parser.parse_args(argv)
    if args.timeout <= 0:
        parser.error(f"--timeout must be positive, got {args.timeout}")
    if args.jobs < 1:
        parser.error(f"--jobs must be at least 1, got {args.jobs}")
    try:
        from .build import masters

        known = [p.stem for p in masters(args.source_dir)]
        submissions = find_submissions(args.submission)
    except ValueError as error:
        parser.error(str(error))
    slots: list[Grade | tuple[str, Path, str, Path]] = []
    autograders: dict[str, Path] = {}
    for student, path in submissions:
        try:
            exercise = exercise_of(path, known)
        except ValueError as error:
            slots.append(Grade(student, "?", message=str(error)))
            continue
        if exercise not in autograders:
            autograders[exercise] = autograder_for(exercise, args.source_dir, args.autograder_dir).autograder
        slots.append((student, path, exercise, autograders[exercise]))

    threads = max(1, (os.cpu_count() or 1) // args.jobs)  # the cores shared out among the parallel jobs

    def run(slot: Grade | tuple[str, Path, str, Path]) -> Grade:
        if isinstance(slot, Grade):
            return slot
        print(f"grading {slot[0]} ({slot[2]}) ...", flush=True)
        return grade_one(*slot, timeout_s=args.timeout, threads=threads)

    with ThreadPoolExecutor(max_workers=args.jobs) as pool:  # each job is a separate otter process
        grades = list(pool.map(run, slots))
    questions = write_csv(grades, args.out)
    print(format_table(grades, questions))
    print(f"gradebook written to {args.out}")
    return 0
