"""What runs inside a grading sandbox: otter's grading of one submission, then one JSON report.

`rnnlab.grading.grader` starts ``python -c SOURCE SUBMISSION ARCHIVE_FD CHANNEL_FD`` in the sandbox,
SOURCE being this file's text (so the sandbox needs no view of the project folder). It lays out
what ``otter run`` would (the notebook beside the autograder's ``tests/``, in a temporary folder),
executes the notebook with otter's preprocessor (otter's checks after each question, then every
test) and writes ``{"scores": {question: points}, "error": first error}`` on the pipe
``CHANNEL_FD``. The autograder archive comes in as an open file, read into memory and closed before
the notebook's kernel starts: no path or descriptor to it is left.

Nothing the kernel (the learner's code) writes is unpickled here, since unpickling runs code:
otter's own driver reads the kernel's results as a pickle and receives its log records as pickles
on a socket. This one gives the notebook a first cell that starts no logging and a last cell that
writes each question's score as JSON, read with ``json`` and checked by the grader against the
autograder's maxima (`grader.verified_points`); and it makes itself undumpable, so that the kernel,
running as the same user, can neither read its descriptors nor trace it. No ``from __future__``
import: the source runs after the line that skips a slow jsonschema extra.
"""

import io
import json
import os
import re
import sys
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

SCORES_BYTES = 1 << 20  # what the last cell may write: one number per question

# otter's first cell (otter.execute.preprocessor.INIT_CELL_SOURCE) without its log sender
INIT_CELL = """\
from otter import Notebook as {notebook_name}
{notebook_name}.init_grading_mode({test_dir!r})
"""

# run before the learner's first cell when the tests use it: rnnlab.grading.trusted's references and
# snapshot are then taken from torch as installed, not as the learner's code left it
TRUSTED_CELL = "import rnnlab.grading.trusted\n"
TRUSTED_IMPORT = re.compile(
    r"\b(?:from rnnlab\.grading import trusted|import rnnlab\.grading\.trusted|"
    r"from rnnlab\.grading\.trusted import)\b"
)

# otter's last cell runs every test not run yet, then pickles its results; this one writes JSON
EXPORT_CELL = """\
from otter.execute import Checker as _rnnlab_checker
for _rnnlab_test in {tests!r}:
    _rnnlab_checker.check_if_not_already_checked(_rnnlab_test)
import json as _rnnlab_json
with open({path!r}, "w") as _rnnlab_file:
    _rnnlab_json.dump(
        {{test.name: float(test.score) for test in _rnnlab_checker.get_results()}}, _rnnlab_file
    )
"""


def report(notebook: dict, scores: dict, failure: BaseException | None) -> dict[str, Any]:
    """The report: each question's score, the first error a cell of the executed ``notebook``
    raised (``ename``, ``evalue``) and, when grading failed as a whole, the type and text of that
    error. The grader makes its gradebook message from these fields and shows their text only on
    the teacher's terminal. (No cell number: otter adds cells of its own, so a number would not be
    the learner's.)"""
    errors = [
        {"ename": out.get("ename"), "evalue": out.get("evalue")}
        for cell in notebook.get("cells", [])
        for out in cell.get("outputs", [])
        if out.get("output_type") == "error"
    ]
    return {
        "scores": scores,
        "error": errors[0] if errors else None,
        "failure": None
        if failure is None
        else {"ename": type(failure).__name__, "evalue": str(failure)},
    }


def read_scores(path: Path) -> dict:
    """The scores the notebook's last cell wrote: parsed as JSON, never run. Raises ValueError when
    there are none (the cell never ran) or they are not one JSON object."""
    with open(path, "rb") as file:
        data = file.read(SCORES_BYTES + 1)
    try:
        scores = json.loads(data) if len(data) <= SCORES_BYTES else None
    except ValueError:
        scores = None
    if not isinstance(scores, dict):
        raise ValueError("the notebook's last cell wrote no scores")
    return scores


def unpack(archive_fd: int, submission: Path, folder: Path) -> Path:
    """The notebook at ``submission`` copied into ``folder`` beside the autograder's ``tests/`` (as
    ``otter run`` lays them out); its new path. The archive is read whole and its file closed."""
    folder.mkdir(parents=True)
    with open(archive_fd, "rb") as archive, zipfile.ZipFile(io.BytesIO(archive.read())) as tests:
        tests.extractall(folder, [n for n in tests.namelist() if n.startswith("tests/")])
    notebook = folder / submission.name
    notebook.write_bytes(submission.read_bytes())
    return notebook


def uses_trusted(test_files: Sequence[str]) -> bool:
    """Whether any of ``test_files`` imports ``rnnlab.grading.trusted``."""
    return any(TRUSTED_IMPORT.search(Path(f).read_text(errors="replace")) for f in test_files)


def _preprocessor(results: Path) -> Any:
    """otter's ``GradingPreprocessor`` configured as ``otter run`` does, with this module's first
    and last cells; run in the notebook's folder."""
    from nbformat.v4 import new_code_cell
    from otter.execute.preprocessor import GradingPreprocessor
    from traitlets.config import Config

    class JsonGradingPreprocessor(GradingPreprocessor):
        def add_init_and_export_cells(self, nb: Any) -> None:
            init = INIT_CELL.format(notebook_name=self._notebook_name, test_dir=self.test_dir)
            export = EXPORT_CELL.format(tests=list(self.tests_glob), path=self.results_path)
            nb.cells.insert(0, new_code_cell(init))
            if uses_trusted(self.tests_glob):
                nb.cells.insert(1, new_code_cell(TRUSTED_CELL))
            nb.cells.append(new_code_cell(export))

    config = Config()
    config.GradingPreprocessor.cwd = os.getcwd()
    config.GradingPreprocessor.test_dir = "./tests"
    config.GradingPreprocessor.tests_glob = sorted(str(p) for p in Path("tests").glob("*.py"))
    config.GradingPreprocessor.results_path = str(results)
    config.GradingPreprocessor.seed = None
    config.GradingPreprocessor.seed_variable = None
    config.GradingPreprocessor.force_python3_kernel = True
    return JsonGradingPreprocessor(config=config)


def executor(**options: Any) -> Any:
    """nbconvert's ``ExecutePreprocessor`` (``options`` are its traits) without nbclient's emulation
    of the ipywidgets Output widget, which can leave a cell's reply unread.

    The emulation (``nbclient/output_widget.py``) answers each output captured by an Output widget,
    such as the one ``ipywidgets.interactive`` draws into, with a comm message sent on the shell
    channel, while the cell's reply is awaited on that same socket; now and then the send swallows
    the wake-up of the await, and the client sits out the cell's whole timeout (or for ever, with
    none) although the reply has come (jupyter/nbclient#312, jupyter/nbconvert#2029). Without it,
    what an Output widget captures lands in its cell's own outputs, as if printed there.
    (Setting ``widget_registry = {}`` does not last: ``preprocess`` runs ``NotebookClient.__init__``
    again.)"""
    from nbconvert.preprocessors import ExecutePreprocessor

    class WithoutOutputWidgets(ExecutePreprocessor):
        def on_comm_open_jupyter_widget(self, msg: dict) -> None:
            return None  # no widget object: its comm messages are read, never answered

    return WithoutOutputWidgets(**options)


def grade(notebook: Path, results: Path) -> tuple[dict, dict, BaseException | None]:
    """Execute ``notebook`` with otter's checks in its folder, its last cell writing the scores to
    ``results``: the executed notebook, the scores by question and the error that kept grading from
    giving any (else None)."""
    import nbformat

    os.chdir(notebook.parent)
    results.touch()
    prepared, _ = _preprocessor(results).preprocess(nbformat.read(notebook, as_version=4))
    executed, _ = executor(allow_errors=True).preprocess(prepared)
    try:
        return executed, read_scores(results), None
    except (OSError, ValueError) as error:
        return executed, {}, error


def make_undumpable() -> None:
    """Keep the kernel (the same user) out of this process: with ``PR_SET_DUMPABLE`` off, no other
    process of the user may read its ``/proc`` descriptors or memory, or trace it."""
    import ctypes

    if ctypes.CDLL(None, use_errno=True).prctl(4, 0, 0, 0, 0) != 0:  # PR_SET_DUMPABLE, 0
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_DUMPABLE, 0) failed")


def main(argv: Sequence[str]) -> None:
    """Grade ``argv = (submission, archive_fd, channel_fd)`` and write the report on the channel."""
    submission, archive_fd, channel = Path(argv[0]), int(argv[1]), int(argv[2])
    os.set_inheritable(channel, False)
    make_undumpable()
    with tempfile.TemporaryDirectory(prefix="otter-") as folder:
        notebook = unpack(archive_fd, submission, Path(folder) / "submission")
        executed, scores, failure = grade(notebook, Path(folder) / "scores.json")
    os.write(channel, json.dumps(report(executed, scores, failure)).encode())


if __name__ == "__main__":
    main(sys.argv[1:])
