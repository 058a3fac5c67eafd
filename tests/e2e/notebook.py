"""A notebook in JupyterLab as a learner sees it: Run All, what is on screen, widgets operated.

nbval proves that the kernel runs the cells; this module proves that a person opening a notebook in
JupyterLab sees its figures and working widgets. ``run_notebook`` opens one notebook on a JupyterLab
page, runs all cells, waits for the kernel to be idle and every code cell to be counted, and returns
what is on screen; ``interact`` moves a slider, types in a text box or picks a dropdown option and
reports whether the dependent output changed. The page is asked through JavaScript run in JupyterLab
(``window.jupyterapp``): the ``JS_*`` functions below.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from playwright.sync_api import Page

from tests.e2e.browser import evaluate
from tests.e2e.harness import Deadline, HarnessError

CONTROL_KINDS = ("slider", "text", "dropdown")
T = TypeVar("T")


JS_OPEN = """async (path) => {
  const app = window.jupyterapp;
  await app.restored;
  const panel = await app.commands.execute('docmanager:open', {path, factory: 'Notebook'});
  await panel.context.ready;
  app.shell.activateById(panel.id);
  return panel.id;
}"""


JS_STATE = """(id) => {
  const panel = Array.from(window.jupyterapp.shell.widgets('main')).find(w => w.id === id);
  const dialog = document.querySelector('.jp-Dialog');
  if (!panel) return {missing: true, dialog: dialog ? dialog.innerText : null};
  const sc = panel.sessionContext;
  const kernel = sc.session ? sc.session.kernel : null;
  const cells = [];
  const list = panel.content.model.cells;
  for (let i = 0; i < list.length; i++) {
    const c = list.get(i);
    if (c.type !== 'code') continue;
    const tags = (c.getMetadata ? c.getMetadata('tags') : (c.metadata || {}).tags) || [];
    const outs = c.outputs.toJSON();
    cells.push({index: i, blank: c.sharedModel.getSource().trim() === '', count: c.executionCount,
                running: c.executionState === 'running', raises: tags.includes('raises-exception'),
                errors: outs.filter(o => o.output_type === 'error')
                  .map(o => o.ename + ': ' + o.evalue),
                views: outs.filter(o => (o.data || {})['application/vnd.jupyter.widget-view+json'])
                  .length});
  }
  return {ready: sc.isReady, status: kernel ? kernel.status : null, cells,
          dialog: dialog ? dialog.innerText.slice(0, 500) : null};
}"""


JS_RUN_ALL = """(id) => {
  const app = window.jupyterapp;
  app.shell.activateById(id);
  app.commands.execute('notebook:run-all-cells');  // not awaited: progress is polled from Python
}"""


JS_ACCEPT_DIALOG = """() => {
  const b = document.querySelector('.jp-Dialog .jp-mod-accept');
  if (b) b.click();
  return !!b;
}"""


# Shut down every open notebook's kernel and close it, so the next notebook starts on an empty
# shell.
JS_CLOSE_ALL = """async () => {
  for (const w of Array.from(window.jupyterapp.shell.widgets('main'))) {
    if (w.sessionContext) await w.sessionContext.shutdown();
    w.dispose();
  }
}"""


# What is on screen: figures (PNG/JPEG/SVG outputs that loaded, also inside widgets), widget views
# that rendered, fallbacks where a widget did not, and tracebacks shown inside widget output areas.
JS_SCREEN = """(widgetNames) => {
  const nb = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook');
  if (!nb) return null;
  const visible = el => {
    const r = el.getBoundingClientRect();
    return r.width > 0 && r.height > 0;
  };
  const images = [...nb.querySelectorAll('.jp-OutputArea-output img')]
    .filter(i => i.complete && i.naturalWidth > 0 && visible(i));
  const svgs = [...nb.querySelectorAll('.jp-OutputArea-output svg')]
    .filter(s => visible(s) && s.getBoundingClientRect().width > 50);
  const figures = images.length + svgs.length;
  // A widget view is an output node holding a drawn .jupyter-widgets element; a view that failed is
  // an output node that is itself .jupyter-widgets and holds only an error text.
  const rendered = [...nb.querySelectorAll('.jp-OutputArea-output')]
    .filter(v => !v.parentElement.closest('.jupyter-widgets'))
    .filter(v => [...v.children].some(c => c.classList.contains('jupyter-widgets') && visible(c)))
    .length;
  const fallbacks = [];
  const pattern = new RegExp('^(' + widgetNames.join('|') + ')\\\\(');
  for (const el of nb.querySelectorAll('.jp-OutputArea-output')) {
    const text = (el.innerText || '').trim();
    const mime = el.getAttribute('data-mime-type');
    const failed =
      /could not be displayed|Error displaying widget|Failed to (load|render) (model|widget)/i;
    if (failed.test(text))
      fallbacks.push(text.slice(0, 200));
    else if (mime === 'text/plain' && pattern.test(text))
      fallbacks.push('plain-text repr instead of a widget: ' + text.slice(0, 120));
  }
  const tracebacks = [...nb.querySelectorAll('.jupyter-widgets .jp-OutputArea-output')]
    .map(el => el.innerText || '')
    .filter(t => /Traceback \\(most recent call last\\)|^\\w*(Error|Exception)\\b/m.test(t))
    .map(t => t.trim().slice(-2000));
  return {figures, renderedViews: rendered, fallbacks, tracebacks: [...new Set(tracebacks)]};
}"""


# Marks the n-th interactive control of a kind with data-e2e-control and returns how many there are.
JS_MARK_CONTROL = """([kind, n]) => {
  document.querySelectorAll('[data-e2e-control]')
    .forEach(e => e.removeAttribute('data-e2e-control'));
  const nb = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook');
  const selector = {slider: '.widget-slider:not(.mod-disabled)',
                    text: '.widget-text, .widget-textarea',
                    dropdown: '.widget-dropdown'}[kind];
  const found = [...nb.querySelectorAll(selector)]
    .filter(e => e.closest('.jp-OutputArea-output') && e.getBoundingClientRect().width > 0);
  if (n < found.length) found[n].setAttribute('data-e2e-control', kind);
  return found.length;
}"""


# A fingerprint of every output in the notebook except the marked control (whose own readout changes
# when it is moved): text, image sources and form values.
JS_FINGERPRINT = """() => {
  const nb = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook');
  const skip = document.querySelector('[data-e2e-control]');
  const parts = [];
  for (const area of nb.querySelectorAll('.jp-Cell .jp-Cell-outputArea')) {
    const walker = document.createTreeWalker(area, NodeFilter.SHOW_ELEMENT | NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      if (skip && skip.contains(node)) continue;
      if (node.nodeType === Node.TEXT_NODE) parts.push(node.nodeValue);
      else if (node.tagName === 'IMG') parts.push(node.src);
      else if (node.tagName === 'svg') parts.push(node.outerHTML);
      else if ('value' in node && typeof node.value === 'string') parts.push(node.value);
    }
  }
  const text = parts.join('\\u0001');
  let h = 5381;
  for (let i = 0; i < text.length; i++) h = ((h * 33) ^ text.charCodeAt(i)) >>> 0;
  return text.length + ':' + h;
}"""


@dataclass
class NotebookRun:
    """What a learner would see after Run All in one notebook (and after operating its widgets)."""

    path: str
    cell_errors: list[str] = field(default_factory=list)
    figures: int = 0
    widget_views: int = 0
    rendered_views: int = 0
    fallbacks: list[str] = field(default_factory=list)
    tracebacks: list[str] = field(default_factory=list)
    interactions: list[str] = field(default_factory=list)
    phases: dict[str, float] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        return sum(self.phases.values())

    def problems(self, expect_figure: bool, expect_widget: bool) -> list[str]:
        """Every way this run falls short of what a learner should see; empty when it is all
        fine."""
        found = [f"error output: {e}" for e in self.cell_errors]
        found += [f"traceback inside a widget: {t}" for t in self.tracebacks]
        found += [f"widget not displayed: {f}" for f in self.fallbacks]
        if expect_figure and self.figures == 0:
            found.append(
                "no rendered figure (the notebook draws with matplotlib but no image is on screen)"
            )
        if expect_widget:
            if self.rendered_views == 0:
                found.append(
                    f"no widget view rendered ({self.widget_views} widget outputs, none drawn)"
                )
            elif not any(i.startswith("changed") for i in self.interactions):
                found.append(
                    f"widget did not react: {'; '.join(self.interactions) or 'not operated'}"
                )
        return found


def _wait(
    page: Page, predicate: Callable[[], T], deadline: Deadline, seconds: float, what: str
) -> T:
    """Poll ``predicate()`` until it returns something truthy; TimeoutError naming ``what``
    otherwise."""
    allowed = deadline.cap(seconds)
    end = time.monotonic() + allowed
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > end:
            cut = (
                f" (the rest of the {deadline.seconds:.0f} s budget for {deadline.what})"
                if allowed < seconds
                else ""
            )
            raise TimeoutError(f"timed out after {allowed:.0f} s{cut} waiting for {what}")
        page.wait_for_timeout(250)


def widget_class_names() -> list[str]:
    """Names of ipywidgets' widget classes: their plain-text repr on screen means a view did not
    render."""
    import ipywidgets

    classes = {name: getattr(ipywidgets, name) for name in dir(ipywidgets)}
    names = {
        name
        for name, c in classes.items()
        if isinstance(c, type) and issubclass(c, ipywidgets.DOMWidget)
    }
    return sorted(names | {"interactive"})


def run_notebook(
    page: Page, path: str, deadline: Deadline, run_timeout: float = 300.0
) -> NotebookRun:
    """Open ``path`` (relative to the server root) in JupyterLab on ``page``, Run All, wait until
    done.

    Returns what is on screen, with the seconds each phase took. Stops waiting at the first error
    output of a cell not tagged ``raises-exception`` (Run All stops there too). The notebook stays
    open for ``interact`` and ``screenshot``; ``close_notebooks`` ends it.
    """
    if not isinstance(path, str) or not path.endswith(".ipynb"):
        raise ValueError(f"path must be a notebook path ending in .ipynb, got {path!r}")
    run = NotebookRun(path=path)
    clock = time.monotonic()

    def phase(name: str) -> None:
        nonlocal clock
        run.phases[name] = round(time.monotonic() - clock, 1)
        clock = time.monotonic()

    panel_id = evaluate(page, JS_OPEN, path, seconds=deadline.cap(90))

    def kernel_idle() -> bool:
        state = page.evaluate(JS_STATE, panel_id)
        if state.get("dialog"):  # e.g. "Select Kernel": take the default, as a learner would
            page.evaluate(JS_ACCEPT_DIALOG)
            return False
        return bool(state.get("ready") and state.get("status") == "idle")

    _wait(page, kernel_idle, deadline, 120, f"the kernel of {path} to start and be idle")
    phase("kernel start")
    page.evaluate(JS_RUN_ALL, panel_id)

    def finished() -> bool:
        state = page.evaluate(JS_STATE, panel_id)
        if state.get("dialog"):  # e.g. "Kernel Restarting: the kernel appears to have died"
            raise AssertionError(f"{path}: a dialog appeared during Run All: {state['dialog']}")
        if state.get("missing") or state.get("status") == "dead":
            raise AssertionError(f"{path}: the notebook closed or its kernel died during Run All")
        cells = state["cells"]
        run.widget_views = sum(c["views"] for c in cells)
        run.cell_errors = [
            f"cell {c['index']}: {e}" for c in cells if not c["raises"] for e in c["errors"]
        ]
        if run.cell_errors:
            return True
        todo = [c for c in cells if not c["blank"]]
        counted = [c for c in todo if c["count"] is not None]
        running = [c["index"] for c in todo if c["running"]]
        at = (
            f"cell {running[0]} running, {len(running) - 1} queued"
            if running
            else "no cell running"
        )
        progress[0] = (
            f"{len(counted)} of {len(todo)} code cells counted, {at}, kernel {state.get('status')}"
        )
        return len(counted) == len(todo) and not running and state.get("status") == "idle"

    progress = ["not started"]
    try:
        _wait(
            page,
            finished,
            deadline,
            run_timeout,
            f"Run All in {path} to finish (kernel idle, every code cell counted)",
        )
    except TimeoutError as error:
        raise TimeoutError(f"{error}; {progress[0]}") from None
    phase("run all")
    settle(page, run, deadline)
    return run


def settle(page: Page, run: NotebookRun, deadline: Deadline, seconds: float = 10.0) -> None:
    """Look at the screen until every widget output has drawn (or failed to) and the picture is
    stable."""
    end = time.monotonic() + deadline.cap(seconds)
    previous = None
    while True:
        page.wait_for_timeout(300)
        look(page, run)
        now = (run.figures, run.rendered_views, len(run.fallbacks), len(run.tracebacks))
        if (
            now == previous and run.rendered_views + len(run.fallbacks) >= run.widget_views
        ) or time.monotonic() > end:
            return
        previous = now


def look(page: Page, run: NotebookRun) -> None:
    """Record figures, widget views, fallbacks and widget tracebacks now on screen into ``run``."""
    screen = page.evaluate(JS_SCREEN, widget_class_names())
    if screen is None:
        raise HarnessError(f"{run.path}: no notebook on screen")
    run.figures = screen["figures"]
    run.rendered_views = screen["renderedViews"]
    run.fallbacks = screen["fallbacks"]
    run.tracebacks = [last_error_line(t) for t in screen["tracebacks"]]


def last_error_line(traceback: str) -> str:
    """The line a learner reads first in a traceback: the last "SomeError: message" line."""
    lines = [line.strip() for line in traceback.splitlines() if line.strip()]
    errors = [
        line
        for line in lines
        if re.match(r"^[A-Za-z_][\w.]*(Error|Exception|Interrupt|Exit)\b", line)
    ]
    return (errors or lines or [""])[-1][:300]


def _operate(page: Page, kind: str) -> str:
    """Change the marked control once, as a learner would; describe what was done."""
    control = page.locator("[data-e2e-control]")
    control.scroll_into_view_if_needed()
    if kind == "slider":
        handle = control.locator(".noUi-handle").first
        track = control.locator(".noUi-base, .slider").first
        h, t = handle.bounding_box(), track.bounding_box()
        if not h or not t:
            raise HarnessError("slider has no visible handle or track")
        x, y = h["x"] + h["width"] / 2, h["y"] + h["height"] / 2
        target = t["x"] + t["width"] * (0.25 if x > t["x"] + t["width"] / 2 else 0.75)
        readout = control.locator(".widget-readout").first

        def value() -> str:  # the readout as the learner reads it ("3"), else the handle's "3.0"
            return (
                readout.inner_text().strip()
                if readout.count()
                else str(handle.get_attribute("aria-valuenow"))
            )

        before = value()
        page.mouse.move(x, y)
        page.mouse.down()
        page.mouse.move(target, y, steps=8)
        page.mouse.up()
        return f"moved slider from {before} to {value()}"
    if kind == "text":
        box = control.locator("input, textarea").first
        old = box.input_value()
        box.click()
        box.press("End")
        box.press("Backspace") if old else box.type("1")
        box.press("Enter") if box.evaluate("e => e.tagName") == "INPUT" else None
        return f"edited text box {old!r} -> {box.input_value()!r}"
    if kind == "dropdown":
        select = control.locator("select").first
        options = select.locator("option").all_text_contents()
        old = select.input_value()
        values = select.evaluate("s => [...s.options].map(o => o.value)")
        choice = next((v for v in values if v != old), None)
        if choice is None:
            return "dropdown has a single option"
        select.select_option(choice)
        return f"picked dropdown option {options[values.index(choice)]!r}"
    raise ValueError(f"kind must be one of {CONTROL_KINDS}, got {kind!r}")


def interact(
    page: Page,
    run: NotebookRun,
    deadline: Deadline,
    kinds: tuple[str, ...] = CONTROL_KINDS,
    react_timeout: float = 30.0,
) -> bool:
    """Operate controls (sliders first, then text boxes, then dropdowns) until one changes another
    output.

    Appends to ``run.interactions`` what was done ("changed: ..." on success) and re-reads the
    screen, so a traceback the interaction produced is caught. Returns whether an output changed.
    """
    bad = [k for k in kinds if k not in CONTROL_KINDS]
    if bad or not kinds:
        raise ValueError(f"kinds must be a non-empty tuple from {CONTROL_KINDS}, got {kinds!r}")
    tried: list[str] = []
    start = time.monotonic()
    for kind in kinds:
        n = 0
        while n < page.evaluate(JS_MARK_CONTROL, [kind, n]):
            before = page.evaluate(JS_FINGERPRINT)
            action = _operate(page, kind)
            try:
                _wait(
                    page,
                    lambda before=before: page.evaluate(JS_FINGERPRINT) != before,
                    deadline,
                    react_timeout,
                    "an output to change",
                )
            except TimeoutError:
                tried.append(f"{action}: no other output changed within {react_timeout:.0f} s")
                n += 1
                continue
            run.interactions.append(f"changed: {action}")
            settle(page, run, deadline)
            run.phases["interact"] = run.phases.get("interact", 0) + round(
                time.monotonic() - start, 1
            )
            return True
    run.interactions.append(
        "; ".join(tried) or f"no {' or '.join(kinds)} found among {run.rendered_views} widget views"
    )
    look(page, run)
    run.phases["interact"] = run.phases.get("interact", 0) + round(time.monotonic() - start, 1)
    return False


def screenshot(page: Page, path: Path) -> Path:
    """Save the whole notebook as one image: grow the viewport to the notebook's height first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    height = page.evaluate("""() => {
      const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
      const outer = panel && panel.querySelector('.jp-WindowedPanel-outer');
      const inner = panel && panel.querySelector('.jp-WindowedPanel-inner');
      if (!outer || !inner) return 0;
      outer.scrollTop = 0;
      return inner.getBoundingClientRect().top + inner.scrollHeight + 120; }""")
    size = page.viewport_size
    page.set_viewport_size(
        {"width": size["width"], "height": int(min(max(height, size["height"]), 16000))}
    )
    try:
        page.wait_for_timeout(300)
        page.screenshot(path=str(path))
    finally:
        page.set_viewport_size(size)
    return path


def close_notebooks(page: Page) -> None:
    """Shut down the kernels of the notebooks open on ``page`` and close them."""
    evaluate(page, JS_CLOSE_ALL, seconds=30)


def copy_notebooks(source: Path, target: Path) -> Path:
    """Copy a folder of notebooks (and files beside them) so JupyterLab's saves never touch the
    originals."""
    if not Path(source).is_dir():
        raise ValueError(f"source must be a folder, got {source}")
    shutil.copytree(
        source, target, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__")
    )
    return target


IMPORTS_FIGURES = re.compile(
    r"^\s*(import|from)\s+(matplotlib|rnnlab\.plots)\b"
    r"|^\s*from\s+rnnlab\s+import\s+[^#\n]*\bplots\b",
    re.M,
)


IMPORTS_WIDGETS = re.compile(
    r"^\s*(import|from)\s+(ipywidgets|rnnlab\.widgets)\b"
    r"|^\s*from\s+rnnlab\s+import\s+[^#\n]*\bwidgets\b",
    re.M,
)


def expectations(notebook: Path) -> tuple[bool, bool]:
    """(expects a figure, expects a widget), read from the notebook's imports."""
    cells = json.loads(Path(notebook).read_text(encoding="utf-8"))["cells"]
    code = "\n".join(
        "".join(c["source"]) if isinstance(c["source"], list) else c["source"]
        for c in cells
        if c["cell_type"] == "code"
    )
    return bool(IMPORTS_FIGURES.search(code)), bool(IMPORTS_WIDGETS.search(code))
