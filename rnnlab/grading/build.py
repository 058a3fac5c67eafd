"""Turn the exercise masters into student copies and autograder archives with Otter Assign.

``make exercises`` runs ``python -m rnnlab.grading.build``: for every master
``exercises/source/NN_name.ipynb`` it runs ``otter assign`` (tests are not re-run here; grading the
solution through ``python -m rnnlab grade`` checks them) and writes

- ``exercises/student/NN_name.ipynb``: what learners open (no solutions, no hidden tests; the public
  tests live in the notebook's metadata, where ``grader.check`` reads them), committed;
- ``exercises/autograder/NN_name.zip``: otter's autograder, with hidden tests, git-ignored;
- ``exercises/autograder/NN_name.solution.ipynb``: the master with solutions, as a submission would
  look;
- ``exercises/autograder/NN_name.sha256``: the master's hash, so a stale autograder is rebuilt.

Only this glue is ours; the student/autograder split itself is otter's.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent.parent
EXERCISES = ROOT / "exercises"
SOURCE_DIR = EXERCISES / "source"
STUDENT_DIR = EXERCISES / "student"
AUTOGRADER_DIR = EXERCISES / "autograder"
KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}


@dataclass(frozen=True)
class Built:
    """Where one exercise's generated files are."""

    name: str
    student: Path
    autograder: Path
    solution: Path


def masters(source_dir: Path = SOURCE_DIR) -> list[Path]:
    """The master notebooks ``NN_name.ipynb`` in ``source_dir``, in course order."""
    source_dir = Path(source_dir)
    if not source_dir.is_dir():
        raise ValueError(f"source_dir {source_dir} is not a folder")
    return sorted(p for p in source_dir.glob("[0-9][0-9]_*.ipynb"))


def master_hash(master: Path) -> str:
    """SHA-256 of a master notebook's bytes: the autograder built from it carries this stamp."""
    return hashlib.sha256(Path(master).read_bytes()).hexdigest()


def clean_notebook(path: Path) -> None:
    """Strip outputs and execution counts, number the cell ids and set the course kernelspec, in
    place."""
    nb = nbformat.read(path, as_version=4)
    for i, cell in enumerate(nb.cells):
        # stable ids: a regenerated copy differs from the committed one only where the master does
        cell.id = f"cell-{i:02d}"
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nbformat.write(nb, path)


def _assign(master: Path, out: Path) -> None:
    from otter.assign import main as otter_assign

    # otter assign writes relative to the master's folder and may leave files beside it: work on a
    # copy.
    work = out / "master"
    work.mkdir(parents=True)
    copy = work / master.name
    shutil.copy(master, copy)
    otter_assign(str(copy), str(out / "dist"), no_pdfs=True, no_run_tests=True)


def build_one(
    master: Path, student_dir: Path = STUDENT_DIR, autograder_dir: Path = AUTOGRADER_DIR
) -> Built:
    """Run Otter Assign on one master; write its student copy, autograder zip, solution and
    stamp."""
    master = Path(master)
    if master.suffix != ".ipynb" or not master.is_file():
        raise ValueError(f"master must be an existing .ipynb file, got {master}")
    name = master.stem
    student_dir, autograder_dir = Path(student_dir), Path(autograder_dir)
    student_dir.mkdir(parents=True, exist_ok=True)
    autograder_dir.mkdir(parents=True, exist_ok=True)
    stamp = master_hash(master)
    with tempfile.TemporaryDirectory(prefix="rnnlab-assign-") as tmp:
        out = Path(tmp)
        _assign(master, out)
        dist = out / "dist"
        zips = sorted((dist / "autograder").glob("*.zip"))
        if len(zips) != 1:
            raise RuntimeError(
                f"otter assign made {len(zips)} autograder archives for {master.name}, expected 1"
            )
        built = Built(
            name,
            student_dir / f"{name}.ipynb",
            autograder_dir / f"{name}.zip",
            autograder_dir / f"{name}.solution.ipynb",
        )
        for src, dst in (
            (dist / "student" / master.name, built.student),
            (dist / "autograder" / master.name, built.solution),
        ):
            clean_notebook(src)
            os.replace(shutil.copy(src, dst.with_suffix(".tmp")), dst)
        os.replace(shutil.copy(zips[0], built.autograder.with_suffix(".tmp")), built.autograder)
    (autograder_dir / f"{name}.sha256").write_text(stamp + "\n")
    return built


def autograder_for(
    name: str,
    source_dir: Path = SOURCE_DIR,
    autograder_dir: Path = AUTOGRADER_DIR,
    student_dir: Path | None = None,
) -> Built:
    """The autograder of exercise ``name``, rebuilt from its master only when the master changed.

    A rebuild writes the student copy to ``student_dir`` (a scratch folder when None, so grading
    never rewrites the committed student copies behind the teacher's back).
    """
    master = Path(source_dir) / f"{name}.ipynb"
    if not master.is_file():
        known = ", ".join(p.stem for p in masters(source_dir)) or "none"
        raise ValueError(
            f"no master notebook for exercise {name!r} in {source_dir} (known: {known})"
        )
    autograder_dir = Path(autograder_dir)
    built = Built(
        name,
        Path(student_dir or autograder_dir / "student") / f"{name}.ipynb",
        autograder_dir / f"{name}.zip",
        autograder_dir / f"{name}.solution.ipynb",
    )
    stamp_file = autograder_dir / f"{name}.sha256"
    fresh = (
        built.autograder.is_file()
        and stamp_file.is_file()
        and stamp_file.read_text().strip() == master_hash(master)
    )
    if fresh:
        return built
    return build_one(master, built.student.parent, autograder_dir)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m rnnlab.grading.build", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "names", nargs="*", help="exercise names (e.g. 05_variable_length); default: all masters"
    )
    parser.add_argument("--source-dir", type=Path, default=SOURCE_DIR)
    parser.add_argument("--student-dir", type=Path, default=STUDENT_DIR)
    parser.add_argument("--autograder-dir", type=Path, default=AUTOGRADER_DIR)
    args = parser.parse_args(argv)
    paths = [args.source_dir / f"{n}.ipynb" for n in args.names] or masters(args.source_dir)
    for path in paths:
        built = build_one(path, args.student_dir, args.autograder_dir)
        student = built.student
        if student.is_relative_to(ROOT):
            student = student.relative_to(ROOT)
        print(f"{built.name}: {student}, {built.autograder.name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
