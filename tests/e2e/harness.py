"""What every part of the browser harness shares: its own error, and the time budget every wait
draws on.

Every wait is bounded by a ``Deadline``, so a stuck notebook fails with a message instead of
hanging.
"""

from __future__ import annotations

import time


class HarnessError(RuntimeError):
    """The server, the browser or a wait inside the harness failed (not a finding about a
    notebook)."""


class Deadline:
    """A wall-clock budget shared by every wait, so the whole run is bounded."""

    def __init__(self, seconds: float, what: str) -> None:
        if seconds <= 0:
            raise ValueError(f"seconds must be > 0, got {seconds}")
        self.seconds = seconds
        self.what = what
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        return self.end - time.monotonic()

    def cap(self, seconds: float) -> float:
        """``seconds``, or less when the budget ends sooner; raise when it is used up."""
        left = self.left()
        if left <= 0:
            raise TimeoutError(f"{self.what}: time budget of {self.seconds:.0f} s used up")
        return min(seconds, left)
