"""``python -m rnnlab grade SUBMISSION_OR_FOLDER [--out gradebook.csv]``: a gradebook from otter.

What a teacher with a folder of submissions needs: the exercise of each notebook comes from its
otter metadata (or its ``NN_name`` file name) and its autograder is built from ``exercises/source/``
when missing or stale (:mod:`rnnlab.grading.build`); each submission is graded in its own sandbox
(:mod:`rnnlab.grading.grader`; without bwrap grading refuses, unless the teacher passes
``--unsandboxed``); the result is a CSV (student, exercise, per-question points, total, possible,
message) and a table (:mod:`rnnlab.grading.gradebook`).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .build import AUTOGRADER_DIR, SOURCE_DIR, autograder_for
from .gradebook import Grade, exercise_of, find_submissions, format_table, plain, write_csv
from .grader import DEFAULT_TIMEOUT_S, grade_one
from .limits import Limits, format_size, parse_size
from .sandbox import why_unavailable


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
        "--threads",
        type=int,
        default=Limits.threads,
        help=f"most threads a submission may run at once (default {Limits.threads})",
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
        limits = Limits(
            memory=parse_size(args.memory), processes=args.processes, threads=args.threads
        )
    except ValueError as error:
        parser.error(f"--memory/--processes/--threads: {error}")
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
        print(f"grading {plain(slot[0], 60)} ({slot[2]}) ...", flush=True)
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
                f"graded {plain(grade.student, 60)} ({grade.exercise}): "
                f"{grade.total:g}/{grade.possible:g} in "
                f"{grade.usage.seconds:.0f} s, "
                f"peak {format_size(grade.usage.peak_memory)} in {grade.usage.peak_processes} "
                f"processes, {grade.usage.peak_threads} threads",
                flush=True,
            )
        if grade.detail:  # the submission's own words: for the teacher, never the gradebook
            print(f"  {plain(grade.student, 60)} said: {grade.detail}", flush=True)
        return grade

    with ThreadPoolExecutor(max_workers=args.jobs) as pool:  # each job is a separate otter process
        grades = list(pool.map(run, slots))
    questions = write_csv(grades, args.out)
    print(format_table(grades, questions))
    print(f"gradebook written to {args.out}")
    return 0
