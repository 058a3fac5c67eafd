"""``python -m rnnlab book``: the course as a static website, built from executed chapters.

The notebooks are committed without outputs, so a reader who has not installed anything sees no
figure and no result. The site shows each chapter as it ran: its figures, the ``expect`` lines, the
claims table, and a static view of each widget. Jupyter Book 1.0 (Sphinx + MyST-NB) renders the
pages; it never executes a notebook here: the chapters come already executed by nbval (the test
suite's notebook runner), which writes them to ``RNNLAB_EXECUTED_DIR`` (see the root
``conftest.py``).

``make book`` executes the chapters in full mode (with the train-once model cache) and builds
``build/book/``; ``make test`` builds a quick-mode site from the runs it makes anyway and checks it
in a browser. A chapter is executed again only when it, ``rnnlab``'s source or the mode changed, so
a rebuild after the first is quick.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path

import nbformat

from .cache import source_hash
from .checks import check_choice

__all__ = ["build_site", "stale_chapters", "chapter_stamp"]

STAMP_KEY = "rnnlab_book"
# A live widget needs saved widget state, which the chapters never store: pages show each widget's
# static view (text/html, see rnnlab.widgets.static) instead of an empty box.
MIME_OVERRIDES = [["html", "application/vnd.jupyter.widget-view+json", None]]


def _sha(parts: Sequence[bytes]) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(len(part).to_bytes(8, "little"))
        digest.update(part)
    return digest.hexdigest()[:20]


def chapter_stamp(chapter: Path, mode: str) -> str:
    """A hash of what an executed chapter depends on: its cells, ``rnnlab``'s source, the mode."""
    check_choice("mode", mode, ("quick", "full"))
    notebook = nbformat.read(chapter, as_version=4)
    cells = [f"{c.cell_type}\0{c.source}".encode() for c in notebook.cells]
    return _sha([mode.encode(), *cells, source_hash().encode()])


def stale_chapters(chapters: Sequence[Path], executed: Path, mode: str) -> list[Path]:
    """The chapters whose executed copy in ``executed`` is missing or was made from other inputs."""
    stale = []
    for chapter in chapters:
        copy = executed / chapter.name
        stamp = nbformat.read(copy, as_version=4).metadata.get(STAMP_KEY) if copy.exists() else None
        if stamp != chapter_stamp(chapter, mode):
            stale.append(chapter)
    return stale


def stamp_executed(chapters: Sequence[Path], executed: Path, mode: str) -> None:
    """Record in each executed copy the inputs it was made from (what `stale_chapters` compares)."""
    for chapter in chapters:
        copy = executed / chapter.name
        notebook = nbformat.read(copy, as_version=4)
        notebook.metadata[STAMP_KEY] = chapter_stamp(chapter, mode)
        nbformat.write(notebook, copy)


def execute(chapters: Sequence[Path], executed: Path, mode: str, workers: int) -> None:
    """Run ``chapters`` under nbval (every ``expect`` checked), keeping the executed copies in
    ``executed``."""
    if not chapters:
        return
    # full mode keeps the train-once cache on, so a changed chapter retrains only what changed
    quick = mode == "quick"
    env = {
        **os.environ,
        "RNNLAB_QUICK": "1" if quick else "0",
        "RNNLAB_CACHE": "0" if quick else "1",
        "RNNLAB_EXECUTED_DIR": str(executed),
    }
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *map(str, chapters)]
    if workers > 1 and len(chapters) > 1:
        command += ["-n", str(min(workers, len(chapters))), "--dist", "loadfile"]
    print(
        f"executing {len(chapters)} chapter(s) in {mode} mode: "
        f"{', '.join(c.stem for c in chapters)}",
        flush=True,
    )
    result = subprocess.run(command, env=env, check=False)
    missing = [c.name for c in chapters if not (executed / c.name).exists()]
    if result.returncode or missing:
        raise SystemExit(
            f"chapters failed to execute ({', '.join(missing) or 'see above'}); no site built"
        )
    stamp_executed(chapters, executed, mode)


def _index(chapters: Sequence[Path], exercises: Sequence[Path], mode: str) -> str:
    def title(path: Path) -> str:
        first = next(
            (
                c.source
                for c in nbformat.read(path, as_version=4).cells
                if c.cell_type == "markdown"
            ),
            path.stem,
        )
        return first.splitlines()[0].lstrip("# ").strip() or path.stem

    lines = [
        "# rnnlab — recurrent neural networks in PyTorch, hands on",
        "",
        f"{len(chapters)} chapters, each answering one question about RNNs with experiments "
        "that run on a laptop CPU,",
        "and graded exercises. These pages show each chapter as it ran: every figure, every "
        "measured claim",
        "beside its target (`expect`), and the ledger of claims at the end of each chapter. To run "
        "them",
        "yourself: clone the repository, then `make lab`.",
        "",
        f"*Built on {date.today().isoformat()} from {mode}-mode runs"
        + (
            " (quick mode: small budgets, lenient targets; `make book` builds the full-mode site)."
            if mode == "quick"
            else "."
        )
        + " Widgets are shown in their default state; run the notebook to play with them.*",
        "",
        "## Chapters",
        "",
        # the titles carry their numbers ("Chapter 0 — ..."), so a plain list does not renumber them
        *[f"- [{title(p)}](chapters/{p.stem})" for p in chapters],
        "",
        "## Exercises",
        "",
        *[f"- [{title(p)}](exercises/{p.stem})" for p in exercises],
        "",
        "## Licences",
        "",
        "Code: MIT. Prose and figures: CC BY 4.0. The shipped datasets keep their own licences "
        "(see each",
        "`rnnlab/data/files/*/SOURCE.md`).",
    ]
    return "\n".join(lines) + "\n"


def _toc(chapters: Sequence[Path], exercises: Sequence[Path]) -> str:
    chapter_files = "\n".join(f"      - file: chapters/{p.stem}" for p in chapters)
    exercise_files = "\n".join(f"      - file: exercises/{p.stem}" for p in exercises)
    return (
        "format: jb-book\nroot: index\nparts:\n  - caption: Chapters\n    "
        f"chapters:\n{chapter_files}\n"
        f"  - caption: Exercises\n    chapters:\n{exercise_files}\n"
    )


def _config(mode: str) -> str:
    config = {
        "title": "rnnlab",
        "author": "the rnnlab authors",
        "only_build_toc_files": True,
        "execute": {"execute_notebooks": "off"},
        "html": {
            "use_repository_button": False,
            "use_issues_button": False,
            "use_edit_page_button": False,
        },
        "launch_buttons": {
            "notebook_interface": "jupyterlab",
            "binderhub_url": "",
            "colab_url": "",
            "thebe": False,
        },
        "sphinx": {
            "config": {
                "nb_mime_priority_overrides": MIME_OVERRIDES,
                "html_show_copyright": False,
                "html_context": {"rnnlab_mode": mode},
            }
        },
    }
    return json.dumps(config, indent=2)  # JSON is YAML


def build_site(executed: Path, out: Path, *, project: Path, mode: str) -> Path:
    """Build the website into ``out`` from the executed chapters in ``executed``; returns
    ``out/index.html``."""
    chapters = sorted((project / "chapters").glob("[0-9]*.ipynb"))
    exercises = sorted((project / "exercises" / "student").glob("[0-9]*.ipynb"))
    missing = [c.name for c in chapters if not (executed / c.name).exists()]
    if not chapters or missing:
        raise ValueError(
            f"executed chapters missing from {executed}: "
            f"{missing or 'no chapters/ found in ' + str(project)}"
        )
    source = out.parent / f"{out.name}-source"
    shutil.rmtree(source, ignore_errors=True)
    (source / "chapters").mkdir(parents=True)
    (source / "exercises").mkdir()
    for chapter in chapters:
        shutil.copy(executed / chapter.name, source / "chapters" / chapter.name)
    # the pictures the chapters' markdown shows (![alt](figures/NN_name.svg)) sit beside them
    figures = project / "chapters" / "figures"
    if figures.is_dir():
        shutil.copytree(figures, source / "chapters" / "figures")
    for exercise in exercises:
        shutil.copy(exercise, source / "exercises" / exercise.name)
    (source / "index.md").write_text(_index(chapters, exercises, mode))
    (source / "_toc.yml").write_text(_toc(chapters, exercises))
    (source / "_config.yml").write_text(_config(mode))
    result = subprocess.run(
        [
            str(Path(sys.executable).with_name("jupyter-book")),
            "build",
            str(source),
            "--builder",
            "html",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    html = source / "_build" / "html"
    if result.returncode or not (html / "index.html").exists():
        raise RuntimeError(
            "jupyter-book build failed "
            f"({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(html, out)
    return out / "index.html"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m rnnlab book", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--mode",
        choices=("full", "quick"),
        default="full",
        help="run budget of the chapters (default: full)",
    )
    parser.add_argument(
        "--executed",
        type=Path,
        default=None,
        help="folder of executed chapters (default: build/executed/MODE)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("build/book"),
        help="where the site goes (default: build/book)",
    )
    parser.add_argument(
        "--no-execute", action="store_true", help="build from the executed chapters as they are"
    )
    parser.add_argument(
        "--workers", type=int, default=2, help="chapters executed in parallel (default: 2)"
    )
    args = parser.parse_args(argv)
    project = Path.cwd()
    executed = args.executed or project / "build" / "executed" / args.mode
    if not args.no_execute:
        chapters = sorted((project / "chapters").glob("[0-9]*.ipynb"))
        stale = stale_chapters(chapters, executed, args.mode)
        print(
            f"{len(chapters) - len(stale)} of {len(chapters)} chapters already executed from the "
            "same inputs",
            flush=True,
        )
        execute(stale, executed, args.mode, args.workers)
    index = build_site(executed, args.out, project=project, mode=args.mode)
    print(f"site built: {index}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
