"""The course in a real JupyterLab, seen through headless Chromium (browser tests marked ``e2e``).

nbval proves the kernel runs every cell; this proves a learner who opens a chapter in JupyterLab and
chooses Run All sees no error, sees its figures, and gets widgets that render and react. One server
and one browser serve every notebook here (a temporary copy of chapters/, in quick mode, without the
model cache). What each chapter must show is read from its imports (matplotlib or rnnlab.plots: a
figure; ipywidgets or rnnlab.widgets: a widget that reacts). The harness is first proven on
notebooks generated here: a good one must pass, and a broken one must be caught. Screenshots go to
build/screenshots/.

Run it alone: ``.venv/bin/python -m pytest -m e2e tests/e2e/test_browser.py``. Needs Debian's
``chromium`` at /usr/bin/chromium (the browser tests are skipped otherwise); ``RNNLAB_E2E_BUDGET``
(seconds, default
420) bounds them all together, half of it any one notebook's Run All.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
import psutil
import pytest
from playwright.sync_api import BrowserContext, Page

from tests.e2e.browser import CHROMIUM, open_lab, open_page, watchdog
from tests.e2e.harness import Deadline
from tests.e2e.jupyterlab import JupyterLabServer, kill_processes_mentioning
from tests.e2e.notebook import (
    CONTROL_KINDS,
    NotebookRun,
    close_notebooks,
    copy_notebooks,
    expectations,
    interact,
    last_error_line,
    run_notebook,
    screenshot,
)

ROOT = Path(__file__).resolve().parents[2]
CHAPTERS = sorted((ROOT / "chapters").glob("[0-9]*.ipynb"))
SCREENSHOTS = ROOT / "build" / "screenshots"
BUDGET_SECONDS = float(os.environ.get("RNNLAB_E2E_BUDGET", "420"))
# one notebook's Run All (quick mode aims at ~20 s on an idle machine)
NOTEBOOK_SECONDS = BUDGET_SECONDS / 2
# only for a hang that no timeout inside the harness catches
WATCHDOG_SECONDS = BUDGET_SECONDS + 120

needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason=f"{CHROMIUM} not found; apt-get install chromium to run the browser test",
)

KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}

GOOD_CELLS = [
    "import matplotlib.pyplot as plt\nimport ipywidgets as widgets",
    "fig, ax = plt.subplots(figsize=(4, 2))\nax.plot([0, 1, 4, 9])\nplt.show()",
    "def square(n):\n    print(f'{n} squared is {n * n}')\n\nwidgets.interact(square, "
    "n=widgets.IntSlider(value=3, min=0, max=10));",
    "widgets.interact(lambda word: print(word.upper()), word='hello');",
    "widgets.interact(lambda colour: print('picked', colour), colour=['red', 'green', 'blue']);",
]
# Each way a widget can be broken for a learner, plus a cell that must raise (tagged) and one that
# must not.
BROKEN_CELLS = [
    ("import ipywidgets as widgets\nfrom IPython.display import display", []),
    ("raise RuntimeError('meant to raise: tagged, so not an error')", ["raises-exception"]),
    (
        "display({'application/vnd.jupyter.widget-view+json': {'model_id': 'no-such-model', "
        "'version_major': 2, 'version_minor': 0},\n"
        "         'text/plain': 'IntSlider(value=3)'}, raw=True)",
        [],
    ),
    ("widgets.interact(lambda n: print('always the same'), n=(0, 10));", []),
    (
        "def shout(word):\n    if word != 'abc':\n        raise ValueError('broken on purpose')\n  "
        "  print(word)\n\n"
        "widgets.interact(shout, word='abc');",
        [],
    ),
    ("1 / 0", []),
]


def write_notebook(path: Path, cells: list[tuple[str, list[str]]], markdown: str = "") -> Path:
    """A notebook of code cells (source, tags), after a markdown cell when ``markdown`` is given."""
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": KERNELSPEC})
    nb.cells = [nbformat.v4.new_markdown_cell(markdown)] if markdown else []
    nb.cells += [
        nbformat.v4.new_code_cell(source, metadata={"tags": tags} if tags else {})
        for source, tags in cells
    ]
    nbformat.write(nb, path)
    return path


@dataclass
class Lab:
    """One server, one browser, one JupyterLab page for every notebook of this module."""

    server: JupyterLabServer
    context: BrowserContext
    deadline: Deadline
    stopped: threading.Event  # set by the watchdog when it had to stop everything
    page: Page | None = None

    def check(
        self,
        path: str,
        name: str,
        operate: tuple[tuple[str, ...], ...] = (CONTROL_KINDS,),
        react_timeout: float = 30.0,
    ) -> NotebookRun:
        """Run All in ``path``; operate a widget once per tuple of control kinds; screenshot;
        close."""
        self.alive()
        self.deadline.cap(1)  # fail at once, before touching the page, when the budget is spent
        loaded = time.monotonic()
        if self.page is None or self.page.is_closed():
            self.page = open_page(self.context, self.server, self.deadline)
        loaded = round(time.monotonic() - loaded, 1)
        page = self.page
        try:
            run = run_notebook(page, path, self.deadline, run_timeout=NOTEBOOK_SECONDS)
            run.phases = {"page load": loaded, **run.phases}
            for kinds in operate if run.rendered_views else ():
                interact(page, run, self.deadline, kinds=kinds, react_timeout=react_timeout)
            return run
        except Exception:
            self.alive()
            raise
        finally:
            try:
                print(f"screenshot: {screenshot(page, SCREENSHOTS / f'{name}.png')}")
                close_notebooks(page)
            except (
                Exception
            ) as error:  # never hide the test's own failure; the next notebook gets a fresh page
                print(f"could not take a screenshot or close {path}: {error}")
                with contextlib.suppress(Exception):
                    page.close()
                self.page = None

    def alive(self) -> None:
        if self.stopped.is_set():
            raise TimeoutError(
                f"the watchdog stopped JupyterLab and the browser after {WATCHDOG_SECONDS:.0f} s"
            )


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    base = tmp_path_factory.mktemp("e2e")
    root = base / "root"
    copy_notebooks(ROOT / "chapters", root / "chapters")
    (root / "harness").mkdir()
    write_notebook(root / "harness" / "good.ipynb", [(c, []) for c in GOOD_CELLS])
    write_notebook(root / "harness" / "broken.ipynb", BROKEN_CELLS)
    deadline = Deadline(BUDGET_SECONDS, "the browser test (raise RNNLAB_E2E_BUDGET to allow more)")
    with (
        JupyterLabServer(
            root, base / "jupyter", env={"RNNLAB_QUICK": "1", "RNNLAB_CACHE": "0"}
        ) as server,
        watchdog(WATCHDOG_SECONDS, server) as stopped,
        open_lab(server) as context,
    ):
        yield Lab(server, context, deadline, stopped)


@pytest.mark.e2e
@needs_chromium
def test_harness_sees_figure_and_reacting_widgets(lab):
    run = lab.check(
        "harness/good.ipynb", "harness_good", operate=(("slider",), ("text",), ("dropdown",))
    )
    assert run.problems(expect_figure=True, expect_widget=True) == []
    assert run.figures >= 1 and run.rendered_views == 3
    slider, text, dropdown = run.interactions
    assert slider.startswith("changed: moved slider from 3 to "), slider
    assert text == "changed: edited text box 'hello' -> 'hell'", text
    assert dropdown == "changed: picked dropdown option 'green'", dropdown


@pytest.mark.e2e
@needs_chromium
def test_harness_catches_broken_widgets(lab):
    run = lab.check(
        "harness/broken.ipynb", "harness_broken", operate=(("slider",), ("text",)), react_timeout=5
    )
    frozen, shouted = run.interactions
    assert frozen.startswith("moved slider from 5 to ") and frozen.endswith(
        "no other output changed within 5 s"
    ), frozen
    assert shouted == "changed: edited text box 'abc' -> 'ab'", shouted
    problems = run.problems(expect_figure=True, expect_widget=True)
    assert "error output: cell 5: ZeroDivisionError: division by zero" in problems, problems
    assert not any("RuntimeError" in p for p in problems), (
        "a cell tagged raises-exception counted as an error"
    )
    assert "widget not displayed: Error displaying widget: model not found" in problems, problems
    assert "traceback inside a widget: ValueError: broken on purpose" in problems, problems
    assert "no rendered figure" in " ".join(problems)
    # had the text box not been operated, the frozen slider alone
    run.interactions = run.interactions[:1]
    assert any(
        p.startswith("widget did not react: moved slider") for p in run.problems(False, True)
    )


@pytest.mark.e2e
@needs_chromium
@pytest.mark.parametrize("notebook", CHAPTERS, ids=lambda p: p.name)
def test_chapter_in_jupyterlab(lab, notebook, capsys):
    expect_figure, expect_widget = expectations(notebook)
    run = lab.check(f"chapters/{notebook.name}", notebook.stem)
    with capsys.disabled():
        phases = ", ".join(f"{k} {v:.0f} s" for k, v in run.phases.items())
        operated = "; ".join(run.interactions) or "no interaction"
        print(
            f"\n  {notebook.name}: {run.figures} figures, {run.rendered_views} widget views, "
            f"{operated}"
            f"\n    {phases}; screenshot {SCREENSHOTS / (notebook.stem + '.png')}"
        )
    problems = run.problems(expect_figure=expect_figure, expect_widget=expect_widget)
    assert not problems, f"{notebook.name} in JupyterLab:\n  " + "\n  ".join(problems)


# --- the harness's own logic, without a browser ----------------------------------------------


@pytest.mark.parametrize(
    ("sources", "expected"),
    [
        (["from rnnlab.plots.video import plot_frames"], (True, False)),
        (["import matplotlib.pyplot as plt", "import ipywidgets as w"], (True, True)),
        (["from rnnlab import budget, plots, widgets"], (True, True)),
        (["import rnnlab.widgets.translation as tw"], (False, True)),
        (["# import matplotlib\nprint('ipywidgets')", "x = 1"], (False, False)),
    ],
)
def test_expectations_come_from_code_imports(tmp_path, sources, expected):
    path = write_notebook(
        tmp_path / "nb.ipynb",
        [(s, []) for s in sources],
        markdown="We use `import matplotlib` and ipywidgets.",
    )
    assert expectations(path) == expected


def test_problems_name_each_shortfall():
    run = NotebookRun(
        path="x.ipynb",
        cell_errors=["cell 2: ValueError: bad"],
        figures=0,
        widget_views=2,
        rendered_views=1,
        fallbacks=["Error displaying widget: model not found"],
        tracebacks=["KeyError: 'a'"],
        interactions=["moved slider from 1 to 5: no other output changed within 30 s"],
    )
    assert run.problems(expect_figure=False, expect_widget=False) == [
        "error output: cell 2: ValueError: bad",
        "traceback inside a widget: KeyError: 'a'",
        "widget not displayed: Error displaying widget: model not found",
    ]
    both = run.problems(expect_figure=True, expect_widget=True)
    assert both[3].startswith("no rendered figure") and both[4].startswith(
        "widget did not react: moved slider from 1 to 5"
    )
    run.interactions.append("changed: edited text box 'a' -> ''")
    assert len(run.problems(expect_figure=True, expect_widget=True)) == 4
    assert NotebookRun(path="y.ipynb", figures=1, widget_views=1).problems(True, True) == [
        "no widget view rendered (1 widget outputs, none drawn)"
    ]


def test_last_error_line_is_what_the_learner_reads():
    traceback = (
        "-----\nValueError                Traceback (most recent call last)\n"
        "Cell In[3], line 2\n----> 2 f()\nValueError: broken"
    )
    assert last_error_line(traceback) == "ValueError: broken"
    assert last_error_line("no error word here\nlast line") == "last line"


def test_bad_inputs_are_refused_before_any_browser_work(tmp_path):
    with pytest.raises(ValueError, match="seconds"):
        Deadline(0, "x")
    with pytest.raises(TimeoutError, match="time budget of 0 s used up"):
        Deadline(1e-9, "the check").cap(5)
    with pytest.raises(ValueError, match="path must be a notebook path"):
        run_notebook(None, "chapters/01.py", Deadline(5, "x"))
    with pytest.raises(ValueError, match="kinds must be"):
        interact(None, NotebookRun(path="x.ipynb"), Deadline(5, "x"), kinds=("knob",))
    with pytest.raises(ValueError, match="root_dir"):
        JupyterLabServer(tmp_path / "missing", tmp_path)
    with pytest.raises(ValueError, match="marker"):
        kill_processes_mentioning("")


def test_kill_processes_mentioning_ends_only_the_marked_process(tmp_path):
    marker = str(tmp_path / "runtime-marker")
    marked = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", marker])
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert kill_processes_mentioning(marker) == [marked.pid]
        marked.wait(timeout=10)  # already reaped by the killer; returns at once
        assert not psutil.pid_exists(marked.pid) and other.poll() is None
    finally:
        other.kill()
        other.wait()
