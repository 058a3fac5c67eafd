"""``python -m rnnlab.grading COMMAND ...``: the teacher's tools by name.

- ``release DIR``: a learner copy of the course without solutions and autograders (:mod:`.release`);
- ``build [NAMES]``: student copies and autograders from the masters (:mod:`.build`,
  ``make exercises``);
- ``grade SUBMISSIONS``: a gradebook, each submission sandboxed (:mod:`.cli`,
  ``python -m rnnlab grade``).
"""

from __future__ import annotations

import sys

from . import build, cli, release

COMMANDS = {"release": release.main, "build": build.main, "grade": cli.main}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        sys.exit(f"usage: python -m rnnlab.grading {{{','.join(COMMANDS)}}} ...\n\n{__doc__}")
    raise SystemExit(COMMANDS[sys.argv[1]](sys.argv[2:]))
