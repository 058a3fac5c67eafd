"""``python -m rnnlab grade SUBMISSION_OR_FOLDER [--out gradebook.csv]``: a gradebook from otter.

Otter does the grading (``otter run``: executes the notebook, runs public and hidden tests). This is
the glue around it that a teacher with a folder of submissions needs:

- the exercise of each notebook comes from its otter metadata (or its ``NN_name`` file name), and
  its autograder is built from ``exercises/source/`` when missing or stale;
- every submission runs in a bubblewrap sandbox (:mod:`rnnlab.grading.sandbox`) with its own box as
  the only writable folder, no network, its own PID namespace, under a time limit and memory and
  process caps, its output captured to a log outside the box; a submission that raises, hangs,
  floods the output, forks, allocates too much or writes outside gets a score and a message and
  cannot disturb the others, the project or the teacher's files. Without bwrap grading refuses,
  unless the teacher passes ``--unsandboxed``;
- scores come out as one report on a pipe and are checked against the maxima the grader reads from
  the autograder itself: a missing, malformed or impossible report, a non-zero exit or a kill scores
  zero with a message, and no question scores above its maximum;
- the result is a CSV (student, exercise, per-question points, total, possible, message) and a
  table.

What otter's design still exposes: otter runs the tests inside the submission's own Python kernel,
with the tests unpacked beside the notebook. Code in a submission can therefore read the hidden
tests while it is graded, and a submission written against otter's internals can make its own tests
pass. The sandbox bounds such a submission to its own box and its own row of the gradebook (at most
the exercise's points); it cannot hide it. exercises/README.md says what a teacher can do about it.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from ..checks import check_number, check_positive
from .build import AUTOGRADER_DIR, ROOT, SOURCE_DIR, autograder_for
from .sandbox import (
    Limits,
    Usage,
    bwrap_command,
    format_size,
    parse_size,
    prepare_box,
    rlimits,
    watch,
    why_unavailable,
)

DEFAULT_TIMEOUT_S = 600
DEFAULT_LIMITS = Limits()
NEAR_CAP = 0.8  # a submission whose sandbox peaked above this share of the memory cap gets a note


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


def _tail(path: Path, limit: int = 600) -> str:
    """The last ``limit`` characters of a (possibly huge) log file, read without loading it
    whole."""
    if not path.is_file():
        return ""
    with path.open("rb") as f:
        f.seek(max(0, path.stat().st_size - limit))
        return f.read().decode("utf-8", "replace").strip()


def _plain(text: str, limit: int = 300) -> str:
    """Text from inside the sandbox made safe for one gradebook cell: printable, one line,
    bounded."""
    return "".join(c if c.isprintable() else " " for c in str(text))[:limit].strip()


# Both otter and the notebook's kernel (which imports otter) load jsonschema, whose optional extra
# rfc3987_syntax builds 38 parsers on import: ~3 s per process (python-jsonschema/jsonschema#1392).
# Otter never validates IRIs and jsonschema works without the extra, so both processes skip it.
_SKIP_SLOW_EXTRA = 'import sys; sys.modules["rfc3987_syntax"] = None\n'

# Runs inside the sandbox: what ``otter run`` does (otter.run.main, without otter's command line,
# whose import loads every otter command and costs seconds per submission), then one JSON report on
# the pipe CHANNEL: each question's score and the first error a cell raised. The archive comes in as
# an open file, read into memory and closed before the kernel starts: no path or descriptor to it is
# left.
_DRIVER = (
    _SKIP_SLOW_EXTRA
    + """import io, json, os
from otter.run import main
submission, channel = sys.argv[1], int(sys.argv[3])
os.set_inheritable(channel, False)
# read, then closed before the notebook's kernel starts
with open(int(sys.argv[2]), "rb") as archive:
    archive = io.BytesIO(archive.read())
results = main(submission, autograder=archive, output_dir=None, no_logo=True)
cells = (results.notebook or {}).get("cells", [])
errors = [f"a cell raised {out.get('ename')}: {out.get('evalue')}"
          for cell in cells for out in cell.get("outputs", []) if out.get("output_type") == "error"]
if getattr(results, "_catastrophic_error", None) is not None:
    errors.insert(0, f"otter could not grade: {results._catastrophic_error!r}")
scores = {name: test.score for name, test in results.results.items()}
report = {"scores": scores, "error": (errors or [""])[0]}
os.write(channel, json.dumps(report).encode())
"""
)

# The kernel otter starts for the notebook: the usual ipykernel (what
# ``python -m ipykernel_launcher`` runs).
_KERNEL_SPEC = {
    "argv": [
        sys.executable,
        "-c",
        _SKIP_SLOW_EXTRA + "from ipykernel.kernelapp import launch_new_instance\n"
        "launch_new_instance()\n",
        "-f",
        "{connection_file}",
    ],
    "display_name": "Python 3 (ipykernel)",
    "language": "python",
}

# Environment variables a submission may see: nothing else of the teacher's (tokens, paths) goes in.
_PASSED_ENV = ("PATH", "LANG", "LANGUAGE", "TZ", "PYTHONPATH", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
_REPORT_BYTES = 1 << 20


def question_points(autograder: Path) -> dict[str, float]:
    """Each question's maximum points, read by the grading process itself from the autograder
    archive.

    The test files are parsed as data (``ast.literal_eval``), not run, and their points resolved by
    otter's own rules (a total per question or points per case), so the grader knows every maximum
    without trusting anything a submission reports.
    """
    import ast
    import zipfile

    from otter.test_files import OKTestFile

    maxima: dict[str, float] = {}
    with zipfile.ZipFile(autograder) as archive:
        for name in sorted(archive.namelist()):
            if not (name.startswith("tests/") and name.endswith(".py")):
                continue
            module = ast.parse(archive.read(name).decode())
            specs = [
                node.value
                for node in module.body
                if isinstance(node, ast.Assign)
                and any(isinstance(t, ast.Name) and t.id == "test" for t in node.targets)
            ]
            if len(specs) != 1:
                raise ValueError(f"{autograder.name}: {name} does not define one OK-format `test`")
            test = OKTestFile.from_spec(ast.literal_eval(specs[0]), path=name)
            maxima[test.name] = float(test.possible)
    return maxima


def verified_points(report: bytes, maxima: dict[str, float]) -> tuple[dict[str, float], str]:
    """Points per question from a sandbox's report and its message, or no points and why the report
    cannot be believed.

    The report must be one JSON object naming only known questions, each score a number from 0 to
    that question's maximum (from :func:`question_points`): otter never reports anything else, so
    anything else was written by the submission. Questions it omits score 0.
    """
    try:
        document = json.loads(report.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return (
            {},
            "rejected: the grading report was not one well-formed result (written by the "
            "submission?)",
        )
    scores = document.get("scores") if isinstance(document, dict) else None
    if not isinstance(scores, dict):
        return {}, "rejected: the grading report has no scores (written by the submission?)"
    for name, score in scores.items():
        top = maxima.get(name)
        if top is None:
            return (
                {},
                f"rejected: the grading report names an unknown question {_plain(name, 40)!r} "
                "(forged?)",
            )
        try:
            check_number(name, score, minimum=0, maximum=top)
        except (TypeError, ValueError):
            return (
                {},
                f"rejected: the grading report gives {_plain(name, 40)} {_plain(score, 40)} of "
                f"{top:g} points (forged?)",
            )
    return {q: float(scores.get(q, 0.0)) for q in maxima}, _plain(document.get("error") or "")


def _read_report(fd: int) -> bytes:
    """What the sandbox left on the report pipe, without waiting for writers that might never close
    it."""
    os.set_blocking(fd, False)
    chunks, size = [], 0
    try:
        while size <= _REPORT_BYTES:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except BlockingIOError:
        pass
    finally:
        os.close(fd)
    return b"".join(chunks)


def _hidden_folders(*extra: Path) -> list[Path]:
    """What a sandbox hides: the teacher's home, the project, the temporary folder (other boxes) and
    ``extra``."""
    return [Path.home(), ROOT, Path(tempfile.gettempdir()), SOURCE_DIR, AUTOGRADER_DIR, *extra]


def grade_one(
    student: str,
    path: Path,
    exercise: str,
    autograder: Path,
    timeout_s: float,
    threads: int = 1,
    limits: Limits = DEFAULT_LIMITS,
    sandboxed: bool = True,
    hidden: Sequence[Path] = (),
    parallel: int = 1,
) -> Grade:
    """Grade one submission with otter in a fresh box, sandboxed, under ``timeout_s`` seconds and
    ``limits``.

    ``threads`` caps the submission's torch/OpenMP threads (unless OMP_NUM_THREADS is set already),
    so that parallel jobs share the cores instead of fighting over them. ``hidden`` adds folders the
    sandbox hides (besides those of :func:`_hidden_folders`, the submission's and the archive's
    own); ``parallel`` is how many sandboxes run at once (for the task backstop).
    ``sandboxed=False`` runs otter without bwrap (the caps and the report checks still apply): only
    for code the teacher trusts.
    """
    check_positive(threads=threads)
    autograder = Path(autograder)
    maxima = question_points(autograder)
    grade = Grade(student, exercise, possible=sum(maxima.values()))
    with tempfile.TemporaryDirectory(prefix="rnnlab-grade-", ignore_cleanup_errors=True) as tmp:
        box = Path(tmp) / "box"  # the only folder the sandbox may write; the log stays outside it
        for sub in ("submission", "tmp", "home"):
            (box / sub).mkdir(parents=True)
        submission = box / "submission" / f"{exercise}.ipynb"
        shutil.copy(path, submission)
        # found before the installed python3 kernel
        kernel_dir = box / "jupyter" / "kernels" / "python3"
        kernel_dir.mkdir(parents=True)
        (kernel_dir / "kernel.json").write_text(json.dumps(_KERNEL_SPEC))
        if sandboxed:
            prepare_box(box)
        log = Path(tmp) / "otter.log"
        passed = {
            k: v
            for k, v in os.environ.items()
            if k in _PASSED_ENV or k.startswith(("RNNLAB_", "LC_"))
        }
        env = {
            "OMP_NUM_THREADS": str(threads),
            **passed,  # a thread count set by the caller wins
            "TMPDIR": str(box / "tmp"),
            "HOME": str(box / "home"),
            "PYTHONDONTWRITEBYTECODE": "1",
            "MPLBACKEND": "Agg",
            "JUPYTER_PLATFORM_DIRS": "1",
            "JUPYTER_PATH": str(box / "jupyter"),
        }
        report_fd, channel = os.pipe()
        with autograder.open("rb") as archive, log.open("wb") as out:
            command = [
                sys.executable,
                "-c",
                _DRIVER,
                str(submission),
                str(archive.fileno()),
                str(channel),
            ]
            if sandboxed:
                command = bwrap_command(
                    command,
                    box,
                    [*_hidden_folders(Path(path).parent, autograder.parent), *hidden],
                    cwd=box / "submission",
                )
            try:
                process = subprocess.Popen(
                    command,
                    cwd=box / "submission",
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                    pass_fds=(archive.fileno(), channel),
                    preexec_fn=rlimits(limits, parallel),
                )
            except BaseException:
                os.close(report_fd)
                raise
            finally:
                # the grader keeps only the reading end: the report ends when the sandbox does
                os.close(channel)
            grade.usage = watch(process, limits, timeout_s, box)
            grade.message = grade.usage.message
        report = _read_report(report_fd)
        if grade.message:
            return grade
        last = (
            [line for line in _tail(log, 2000).splitlines() if "WARNING" not in line]
            or ["(no output)"]
        )[-1]
        if process.returncode != 0:
            how = (
                f" (killed by signal {process.returncode - 128})"
                if process.returncode > 128
                else ""
            )
            grade.message = (
                f"grading stopped with exit status {process.returncode}{how}: {_plain(last)}"
            )
        elif not report:
            grade.message = f"otter produced no results: {_plain(last)}"
        else:
            grade.points, grade.message = verified_points(report, maxima)
            if "MemoryError" in grade.message:
                grade.message += f" (the memory cap is {format_size(limits.memory)} per process)"
            elif grade.usage.peak_memory >= NEAR_CAP * limits.memory:
                # a cap can cut a cell short without an error shown
                used = format_size(grade.usage.peak_memory)
                cap = f"used {used} of the {format_size(limits.memory)} memory cap"
                grade.message = "; ".join(filter(None, [grade.message, cap]))
    return grade


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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m rnnlab grade", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "submission",
        type=Path,
        help="a submitted .ipynb, or a folder of them (searched recursively)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("gradebook.csv"),
        help="CSV to write (default: gradebook.csv)",
    )
    parser.add_argument(
        "--timeout", type=float, default=DEFAULT_TIMEOUT_S, help="seconds allowed per submission"
    )
    parser.add_argument(
        "--jobs", type=int, default=1, help="submissions graded at the same time (default 1)"
    )
    parser.add_argument(
        "--source-dir",
        type=Path,
        default=SOURCE_DIR,
        help="exercise masters (default: exercises/source)",
    )
    parser.add_argument(
        "--autograder-dir",
        type=Path,
        default=AUTOGRADER_DIR,
        help="where autograders are built and cached",
    )
    parser.add_argument(
        "--memory",
        default=format_size(Limits.memory).replace(" ", ""),
        help=f"memory cap per submission, e.g. 2G or 512M (default {format_size(Limits.memory)})",
    )
    parser.add_argument(
        "--processes",
        type=int,
        default=Limits.processes,
        help=f"most processes a submission may run at once (default {Limits.processes})",
    )
    parser.add_argument(
        "--unsandboxed",
        action="store_true",
        help="grade without the bubblewrap sandbox (only for submissions you trust)",
    )
    args = parser.parse_args(argv)
    if args.timeout <= 0:
        parser.error(f"--timeout must be positive, got {args.timeout}")
    if args.jobs < 1:
        parser.error(f"--jobs must be at least 1, got {args.jobs}")
    try:
        limits = Limits(memory=parse_size(args.memory), processes=args.processes)
    except ValueError as error:
        parser.error(f"--memory/--processes: {error}")
    if not args.unsandboxed and (reason := why_unavailable()):
        parser.error(
            f"grading runs the learners' code and needs the bubblewrap sandbox, but {reason}. "
            "Grade elsewhere, or pass --unsandboxed to grade without it (only submissions you "
            "trust)."
        )
    try:
        from .build import masters

        known = [p.stem for p in masters(args.source_dir)] if args.source_dir.is_dir() else []
        if not known:
            parser.error(
                f"no exercise masters (NN_name.ipynb) found in {args.source_dir}: pass "
                "--source-dir DIR, the "
                "exercises/source/ folder of the course repository (a learner release and a pip "
                "install hold none)"
            )
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
            autograders[exercise] = autograder_for(
                exercise, args.source_dir, args.autograder_dir
            ).autograder
        slots.append((student, path, exercise, autograders[exercise]))

    # the cores shared out among the parallel jobs
    threads = max(1, (os.cpu_count() or 1) // args.jobs)
    folder = args.submission if args.submission.is_dir() else args.submission.parent
    hidden = [folder, args.source_dir, args.autograder_dir, Path.cwd(), args.out.resolve().parent]

    def run(slot: Grade | tuple[str, Path, str, Path]) -> Grade:
        if isinstance(slot, Grade):
            return slot
        print(f"grading {slot[0]} ({slot[2]}) ...", flush=True)
        grade = grade_one(
            *slot,
            timeout_s=args.timeout,
            threads=threads,
            limits=limits,
            sandboxed=not args.unsandboxed,
            hidden=hidden,
            parallel=args.jobs,
        )
        if grade.usage:  # what the teacher needs to size the limits
            print(
                f"graded {grade.student} ({grade.exercise}): {grade.total:g}/{grade.possible:g} in "
                f"{grade.usage.seconds:.0f} s, "
                f"peak {format_size(grade.usage.peak_memory)} in {grade.usage.peak_processes} "
                "processes",
                flush=True,
            )
        return grade

    with ThreadPoolExecutor(max_workers=args.jobs) as pool:  # each job is a separate otter process
        grades = list(pool.map(run, slots))
    questions = write_csv(grades, args.out)
    print(format_table(grades, questions))
    print(f"gradebook written to {args.out}")
    return 0
