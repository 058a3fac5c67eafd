"""A learner release of the course: everything a graded class hands out, nothing that gives answers
away.

``make release`` or ``python -m rnnlab.grading release DIR`` copies the course (the files git
tracks, or the working tree less what .gitignore names when there is no git) into ``DIR`` without

- ``exercises/source/``: the masters, with solutions and hidden tests;
- ``exercises/autograder/``: the autograder archives and solution notebooks built from them;
- the tests that need the masters (``tests/project/test_exercises.py`` and ``tests/grading/``): the
  learner copy's ``make test`` runs without them;

then checks the copy: no file may hold an Otter solution or hidden-test marker, and every student
notebook's tests must be visible ones. The README of the copy opens with a note saying what it is.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from .build import ROOT

LEFT_OUT = (
    "exercises/source/",
    "exercises/autograder/",
    "tests/project/test_exercises.py",
    "tests/project/test_hints.py",  # reads the masters, and quotes otter's markers
    "tests/grading/",
)
MARKER = ".rnnlab-release"  # a folder holding it may be replaced by a new release
# Otter Assign's markers: any of them in a learner's file would mean a solution or a hidden test got
# out. (Spelled in pieces, so that this file does not hold them itself.)
SECRETS = tuple(
    f"# {marker}" for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN", "HIDDEN")
)
BANNER = (
    "> **Learner release.** This copy of the course has no `exercises/source/` (the exercise "
    "masters, with\n"
    "> solutions and hidden tests) and no autograders: it is what a graded class hands out. The "
    "full\n"
    '> repository, solutions included, is the self-study set-up (see "Self-study or a graded '
    'class" below).\n'
)


def course_files(root: Path = ROOT) -> list[str]:
    """The course's files, relative to ``root``: what git tracks, else the tree less .gitignore's
    patterns."""
    root = Path(root)
    if (root / ".git").exists() and shutil.which("git"):
        listed = subprocess.run(
            ["git", "-C", str(root), "ls-files", "-z"], capture_output=True, check=True
        ).stdout
        return sorted(
            name for name in listed.decode().split("\0") if name and (root / name).is_file()
        )
    ignored = [
        line.strip().rstrip("/")
        for line in (root / ".gitignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ] + [".git"]
    files = []
    for folder, dirs, names in os.walk(root):
        rel = Path(folder).relative_to(root)
        dirs[:] = [
            d
            for d in dirs
            if not any(fnmatch.fnmatch(d, p) or fnmatch.fnmatch(str(rel / d), p) for p in ignored)
        ]
        files += [str(rel / n) for n in names if not any(fnmatch.fnmatch(n, p) for p in ignored)]
    return sorted(files)


def leaks(dest: Path) -> list[str]:
    """Files under ``dest`` that give answers away: a solution or hidden-test marker, or a hidden
    test case."""
    found = []
    for path in sorted(p for p in Path(dest).rglob("*") if p.is_file()):
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue  # binary data (datasets, images) hold no notebook source
        otter = (
            json.loads(text).get("metadata", {}).get("otter", {}) if path.suffix == ".ipynb" else {}
        )
        hidden = [
            case
            for test in otter.get("tests", {}).values()
            for suite in test.get("suites", [])
            for case in suite.get("cases", [])
            if case.get("hidden")
        ]
        if hidden or any(secret in text for secret in SECRETS):
            found.append(str(path.relative_to(dest)))
    return found


def write_release(dest: Path, root: Path = ROOT, replace: bool = False) -> list[str]:
    """Copy the learner release of the course at ``root`` into ``dest``; returns the files written.

    ``dest`` must be empty or missing; with ``replace``, a previous release there (it holds
    ``.rnnlab-release``) is removed first. Raises RuntimeError when the copy would leak a solution.
    """
    dest, root = Path(dest).resolve(), Path(root).resolve()
    if (dest == root or root in dest.parents) and root / "build" not in (dest, *dest.parents):
        raise ValueError(f"dest {dest} must lie outside the course (or under its build/ folder)")
    if dest.exists() and any(dest.iterdir()):
        if not (replace and (dest / MARKER).is_file()):
            raise ValueError(
                f"dest {dest} is not empty"
                + ("" if replace else " (pass --replace to overwrite a previous release)")
                + (" and holds no previous release" if replace else "")
            )
        shutil.rmtree(dest)
    files = [f for f in course_files(root) if not f.startswith(LEFT_OUT)]
    for name in files:
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / name, target)
    readme = dest / "README.md"
    if readme.is_file():
        title, _, rest = readme.read_text().partition("\n")
        readme.write_text(f"{title}\n\n{BANNER}{rest}")
    (dest / MARKER).write_text(json.dumps({"left_out": list(LEFT_OUT)}) + "\n")
    if found := leaks(dest):
        shutil.rmtree(dest)
        raise RuntimeError(
            f"the release would give answers away in {', '.join(found)}; nothing was written"
        )
    return files


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m rnnlab.grading release", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "dest",
        type=Path,
        help="folder to write the learner copy into (empty, or a previous release)",
    )
    parser.add_argument(
        "--replace", action="store_true", help="remove a previous release in DEST first"
    )
    args = parser.parse_args(argv)
    try:
        files = write_release(args.dest, replace=args.replace)
    except ValueError as error:
        parser.error(str(error))
    print(f"learner release: {len(files)} files in {args.dest} (left out: {', '.join(LEFT_OUT)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
