"""Fixtures for the grading tests: ``sandboxed`` runs a small (hostile) Python program in a fresh
sandbox directly, without otter or a notebook (tests/grading/test_limits.py and test_sandbox.py)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from rnnlab.grading import limits, sandbox

DEFAULTS = limits.Limits()  # the grader's own caps


@pytest.fixture
def sandboxed() -> Callable[..., tuple[limits.Usage, str]]:
    """``run(code, folder, caps=DEFAULTS, parallel=1)``: ``code`` run by Python in a fresh sandbox
    whose box is ``folder / "box"``, one of ``parallel`` at once, under ``caps`` and a 30 s limit;
    how it ended and its output. Skips where bubblewrap cannot run, with the reason bwrap gives."""
    reason = sandbox.why_unavailable()
    if reason:
        pytest.skip(f"the sandbox cannot run here: {reason}")

    def run(
        code: str, folder: Path, caps: limits.Limits = DEFAULTS, parallel: int = 1
    ) -> tuple[limits.Usage, str]:
        box = folder / "box"
        (box / "tmp").mkdir(parents=True)
        log = folder / "log"
        env = {"PATH": os.environ.get("PATH", ""), "TMPDIR": str(box / "tmp"), "HOME": str(box)}
        with log.open("wb") as output:
            usage, _ = sandbox.run(
                [sys.executable, "-c", code],
                box,
                hidden=[folder],
                env=env,
                output=output,
                limits=caps,
                timeout_s=30,
                parallel=parallel,
            )
        return usage, log.read_text(errors="replace")

    return run
