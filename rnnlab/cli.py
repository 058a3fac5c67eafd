"""``python -m rnnlab doctor | lab | bench NAME | grade ...``: the course's command line.

Subcommands that belong to one part of the course live beside it: ``bench NAME`` runs
``rnnlab.bench.NAME.main(argv)`` and ``grade`` runs ``rnnlab.grading.cli.main(argv)``.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import os
import platform
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def doctor() -> int:
    """Print what the course will run on: versions, threads, GPUs, widgets, mode."""
    import torch

    from .config import cache_enabled, is_quick

    def row(label: str, value: object) -> None:
        print(f"{label:<19} {value}")

    row("python", f"{platform.python_version()} ({sys.executable})")
    for dist in (
        "torch",
        "jupyterlab",
        "ipywidgets",
        "jupyterlab_widgets",
        "nbval",
        "otter-grader",
        "sacrebleu",
    ):
        row(dist, _version(dist))
    row("cpu threads", f"{torch.get_num_threads()} (of {os.cpu_count()} logical CPUs)")
    gpus = (
        [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        if torch.cuda.is_available()
        else []
    )
    row(
        "gpus", f"{len(gpus)}" + (": " + ", ".join(gpus) if gpus else " (training runs on the CPU)")
    )
    widgets_ok = (
        _version("ipywidgets") != "not installed"
        and _version("jupyterlab_widgets") != "not installed"
    )
    row(
        "widgets",
        "will render in JupyterLab"
        if widgets_ok
        else "will NOT render: pip install ipywidgets jupyterlab_widgets",
    )
    row(
        "quick mode",
        "on (RNNLAB_QUICK=1): small budgets, for tests"
        if is_quick()
        else "off: full training budgets",
    )
    row("model cache", "on" if cache_enabled() else "off (RNNLAB_CACHE=0)")
    return 0


def lab_command(
    argv: Sequence[str], *, folder: Path | None = None, is_root: bool | None = None
) -> list[str]:
    """The ``jupyter lab`` command line that ``lab`` runs: ``folder`` (default: the current one) as
    the root, opening its ``chapters/`` when there is one, bound to localhost with token
    authentication on.

    Jupyter refuses to start as root ("Running as root is not recommended"), which is how containers
    and CI machines run; there ``--allow-root`` is added.
    """
    folder = Path.cwd() if folder is None else Path(folder)
    is_root = (hasattr(os, "geteuid") and os.geteuid() == 0) if is_root is None else is_root
    command = [
        sys.executable,
        "-m",
        "jupyter",
        "lab",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.root_dir={folder}",
    ]
    if (folder / "chapters").is_dir():
        command.append("--LabApp.default_url=/lab/tree/chapters")
    if is_root and "--allow-root" not in argv:
        command.append("--allow-root")
    return [*command, *argv]


def lab(argv: Sequence[str]) -> int:
    """Start JupyterLab on the current folder (its chapters/ opened), bound to localhost, token auth
    on."""
    command = lab_command(argv)
    if "--allow-root" in command and "--allow-root" not in argv:
        print(
            "rnnlab lab: running as root (as in containers and CI machines), so JupyterLab gets "
            "--allow-root.",
            flush=True,
        )
    return subprocess.call(command)


def _dispatch(package: str, name: str, argv: Sequence[str]) -> int:
    module = importlib.import_module(f"{package}.{name}")
    return int(module.main(list(argv)) or 0)


def main(argv: Sequence[str] | None = None) -> int:
    from .bench import BENCHES as benches

    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) >= 2 and argv[0] == "bench" and argv[1] in benches:
        # the bench parses its own options, --help included
        return _dispatch("rnnlab.bench", argv[1], argv[2:])
    parser = argparse.ArgumentParser(prog="python -m rnnlab", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("doctor", help="print versions, threads, GPUs, widget support and the run mode")
    sub.add_parser(
        "lab",
        help="start JupyterLab on the current folder, opening chapters/ (localhost, token auth)",
    )
    bench_parser = sub.add_parser(
        "bench", help=f"run a measurement: {', '.join(benches) or 'none yet'}"
    )
    bench_parser.add_argument("name", choices=benches)
    sub.add_parser("grade", help="grade exercise submissions with otter (see --help)")
    sub.add_parser("book", help="build the course website from executed chapters (see --help)")
    args, rest = parser.parse_known_args(argv)
    if args.command == "doctor":
        return doctor()
    if args.command == "lab":
        return lab(rest)
    if args.command == "bench":
        return _dispatch("rnnlab.bench", args.name, rest)
    if args.command == "book":
        return _dispatch("rnnlab", "book", rest)
    return _dispatch("rnnlab.grading", "cli", rest)
