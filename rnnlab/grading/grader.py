"""Grading one submission: otter in a bubblewrap sandbox, and a report the grader can believe.

Otter does the grading (``otter run``: executes the notebook, runs public and hidden tests); this
module is the glue around one run of it:

- every submission runs in a bubblewrap sandbox (:mod:`rnnlab.grading.sandbox`) with its own box as
  the only writable folder, no network, its own PID namespace, under a time limit and memory and
  process caps, its output captured to a log outside the box; a submission that raises, hangs,
  floods the output, forks, allocates too much or writes outside gets a score and a message and
  cannot disturb the others, the project or the teacher's files;
- inside the sandbox :mod:`rnnlab.grading.driver` runs otter and writes one report on a pipe; the
  report is checked against the maxima the grader reads from the autograder itself: a missing,
  malformed or impossible report, a non-zero exit or a kill scores zero with a message, and no
  question scores above its maximum.

What otter's design still exposes: otter runs the tests inside the submission's own Python kernel,
with the tests unpacked beside the notebook. Code in a submission can therefore read the hidden
tests while it is graded, and a submission written against otter's internals can make its own tests
pass. The sandbox bounds such a submission to its own box and its own row of the gradebook (at most
the exercise's points); it cannot hide it. exercises/README.md says what a teacher can do about it.
"""

from __future__ import annotations

import builtins
import json
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import nbformat

from ..checks import check_number, check_positive
from . import driver
from .build import AUTOGRADER_DIR, ROOT, SOURCE_DIR
from .gradebook import Grade, plain, read_submission
from .limits import Limits, format_size
from .sandbox import run

__all__ = ["DEFAULT_LIMITS", "DEFAULT_TIMEOUT_S", "grade_one", "question_points", "verified_points"]

DEFAULT_TIMEOUT_S = 600
DEFAULT_LIMITS = Limits()
PYTHON_KERNEL = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
NEAR_CAP = 0.8  # a submission whose sandbox peaked above this share of the memory cap gets a note


def _tail(path: Path, limit: int = 600) -> str:
    """The last ``limit`` characters of a (possibly huge) log file, read without loading it
    whole."""
    if not path.is_file():
        return ""
    with path.open("rb") as f:
        f.seek(max(0, path.stat().st_size - limit))
        return f.read().decode("utf-8", "replace").strip()


def _exception_words(error: object, source: str) -> tuple[str, str]:
    """``(message, detail)`` of an error a report names: the message in the grader's words (the
    exception's type when it is one of Python's own), the detail the report's text for the
    teacher's terminal."""
    if not isinstance(error, dict):
        return "", ""
    name = error.get("ename")
    builtin = (
        getattr(builtins, name, None) if isinstance(name, str) and name.isidentifier() else None
    )
    if isinstance(builtin, type) and issubclass(builtin, BaseException):
        return f"{source} raised {name}", plain(f"{name}: {error.get('evalue')}")
    return f"{source} raised an exception of its own class", plain(f"{name}: {error.get('evalue')}")


# Both otter and the notebook's kernel (which imports otter) load jsonschema, whose optional extra
# rfc3987_syntax builds 38 parsers on import: ~3 s per process (python-jsonschema/jsonschema#1392).
# Otter never validates IRIs and jsonschema works without the extra, so both processes skip it.
_SKIP_SLOW_EXTRA = 'import sys; sys.modules["rfc3987_syntax"] = None\n'

# Runs inside the sandbox (its source, so the sandbox needs no view of the project): otter run,
# then one JSON report on a pipe.
_DRIVER = _SKIP_SLOW_EXTRA + Path(driver.__file__).read_text()

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


def verified_points(report: bytes, maxima: dict[str, float]) -> tuple[dict[str, float], str, str]:
    """Points per question from a sandbox's report, its message and its detail (see `Grade`), or no
    points and why the report cannot be believed.

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
            "",
        )
    scores = document.get("scores") if isinstance(document, dict) else None
    if not isinstance(scores, dict):
        return {}, "rejected: the grading report has no scores (written by the submission?)", ""
    for name, score in scores.items():
        top = maxima.get(name)
        if top is None:
            return (
                {},
                "rejected: the grading report names a question the exercise lacks (forged?)",
                "",
            )
        try:
            check_number(name, score, minimum=0, maximum=top)
        except (TypeError, ValueError):
            return (
                {},
                f"rejected: the grading report gives {name} an impossible score (forged?)",
                "",
            )
    points = {q: float(scores.get(q, 0.0)) for q in maxima}
    failed, failure = _exception_words(document.get("failure"), "otter")
    if failed:
        return points, failed.replace("otter raised", "otter could not grade:"), failure
    return (points, *_exception_words(document.get("error"), "a cell"))


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
        try:
            notebook = read_submission(path)
        except ValueError as error:
            grade.message = str(error)
            return grade
        # the course's kernel, whatever kernel an editor wrote into the notebook
        notebook.metadata["kernelspec"] = PYTHON_KERNEL
        nbformat.write(notebook, submission)
        # found before the installed python3 kernel
        kernel_dir = box / "jupyter" / "kernels" / "python3"
        kernel_dir.mkdir(parents=True)
        (kernel_dir / "kernel.json").write_text(json.dumps(_KERNEL_SPEC))
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
            # a sandbox's own uid names no account: getpass.getuser() reads this first
            "LOGNAME": "grading",
            "PYTHONDONTWRITEBYTECODE": "1",
            "MPLBACKEND": "Agg",
            "JUPYTER_PLATFORM_DIRS": "1",
            "JUPYTER_PATH": str(box / "jupyter"),
        }
        report_fd, channel = os.pipe()
        archive = os.open(autograder, os.O_RDONLY)
        command = [sys.executable, "-c", _DRIVER, str(submission), str(archive), str(channel)]
        try:
            with log.open("wb") as out:
                # the sandbox takes the archive and the report's writing end: the report ends when
                # the sandbox does
                grade.usage, status = run(
                    command,
                    box,
                    hidden=[*_hidden_folders(Path(path).parent, autograder.parent), *hidden],
                    env=env,
                    output=out,
                    limits=limits,
                    timeout_s=timeout_s,
                    parallel=parallel,
                    pass_fds=(archive, channel),
                    sandboxed=sandboxed,
                )
        except BaseException:
            os.close(report_fd)
            raise
        grade.message = grade.usage.message
        report = _read_report(report_fd)
        if grade.message:
            return grade
        grade.detail = plain(
            ([line for line in _tail(log, 2000).splitlines() if "WARNING" not in line] or [""])[-1]
        )
        if status != 0:
            how = f" (killed by signal {status - 128})" if status > 128 else ""
            grade.message = f"grading stopped with exit status {status}{how}"
        elif not report:
            grade.message = "otter produced no results"
        else:
            grade.points, grade.message, grade.detail = verified_points(report, maxima)
            if "MemoryError" in grade.message:
                grade.message += f" (the memory cap is {format_size(limits.memory)} per process)"
            elif grade.usage.peak_memory >= NEAR_CAP * limits.memory:
                # a cap can cut a cell short without an error shown
                used = format_size(grade.usage.peak_memory)
                cap = f"used {used} of the {format_size(limits.memory)} memory cap"
                grade.message = "; ".join(filter(None, [grade.message, cap]))
    return grade
