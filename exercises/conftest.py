"""What pytest runs under exercises/: the student copies only.

- exercises/student/*.ipynb run under nbval: they must execute top to bottom, every stub giving
  "not yet" feedback through ``grader.check`` and never an uncaught error.
- The masters (exercises/source/) are not run here: tests/project/test_exercises.py grades their solution
  versions through ``python -m rnnlab grade``, which runs the master's code and all of its tests,
  hidden ones included (running them here too would only pay for their training twice).
- exercises/autograder/ holds generated, git-ignored archives and notebooks: never collected.
"""

collect_ignore_glob = ["source/*", "autograder/*"]
