"""Drive a real JupyterLab in headless Chromium: what a learner sees, checked by a test.

nbval proves that the kernel runs the cells; this module proves that a person opening a notebook in
JupyterLab sees its figures and working widgets. ``JupyterLabServer`` starts ``jupyter lab`` from this
Python environment on a free localhost port with a token, in an isolated Jupyter home (settings,
workspaces, runtime files in a temporary folder), and always stops it together with its kernels.
``open_lab`` starts the system Chromium through Playwright (never a downloaded browser).
``run_notebook`` opens one notebook in a fresh page, runs all cells, waits for the kernel to be idle and
every code cell to be counted, and returns what is on screen; ``interact`` moves a slider, types in a
text box or picks a dropdown option and reports whether the dependent output changed.

Every wait is bounded by a ``Deadline`` so a stuck notebook fails with a message instead of hanging.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
# User settings for the isolated JupyterLab: no news/update pop-ups, and every cell attached to the DOM
# (the default windowing leaves cells outside the viewport unrendered, so their outputs would be missed).
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}
CONTROL_KINDS = ("slider", "text", "dropdown")


class HarnessError(RuntimeError):
    """The server, the browser or a wait inside the harness failed (not a finding about a notebook)."""


class Deadline:
    """A wall-clock budget shared by every wait, so the whole run is bounded."""

    def __init__(self, seconds: float, what: str) -> None:
        if seconds <= 0:
            raise ValueError(f"seconds must be > 0, got {seconds}")
        self.seconds, self.what = seconds, what
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        return self.end - time.monotonic()

    def cap(self, seconds: float) -> float:
        """``seconds``, or less when the budget ends sooner; raise when it is used up."""
        left = self.left()
        if left <= 0:
            raise TimeoutError(f"{self.what}: time budget of {self.seconds:.0f} s used up")
        return min(seconds, left)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class JupyterLabServer:
    """``jupyter lab`` on 127.0.0.1 serving ``root_dir``, isolated under ``home``; use as a context manager."""

    def __init__(self, root_dir: Path, home: Path, env: dict[str, str] | None = None, start_timeout: float = 120.0) -> None:
        if not Path(root_dir).is_dir():
            raise ValueError(f"root_dir must be an existing folder, got {root_dir}")
        self.root_dir, self.home = Path(root_dir), Path(home)
        self.extra_env = dict(env or {})
        self.start_timeout = start_timeout
        self.token = os.urandom(16).hex()
        self.port = 0
        self.process: subprocess.Popen | None = None
        self._stopping = threading.Lock()  # the watchdog may stop the server from another thread
        self.log_path = self.home / "jupyter-lab.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _environment(self) -> dict[str, str]:
        dirs = {name: self.home / name for name in ("config", "data", "runtime", "settings", "workspaces")}
        for folder in dirs.values():
            folder.mkdir(parents=True, exist_ok=True)
        for name, value in LAB_SETTINGS.items():
            target = dirs["settings"] / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(json.dumps(value))
        env = dict(os.environ)
        # A learner's kernel draws figures inline; a test runner's MPLBACKEND=Agg would hide every figure.
        env.pop("MPLBACKEND", None)
        env.update(JUPYTER_CONFIG_DIR=str(dirs["config"]), JUPYTER_DATA_DIR=str(dirs["data"]),
                   JUPYTER_RUNTIME_DIR=str(dirs["runtime"]), JUPYTERLAB_SETTINGS_DIR=str(dirs["settings"]),
                   JUPYTERLAB_WORKSPACES_DIR=str(dirs["workspaces"]), JUPYTER_PLATFORM_DIRS="1")
        env.update(self.extra_env)
        return env

    def command(self) -> list[str]:
        """The server's command line (``self.port`` is already chosen)."""
        command = [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={self.port}", "--ServerApp.port_retries=0",
                   "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={self.root_dir}",
                   "--LabApp.expose_app_in_browser=True", "--ServerApp.open_browser=False"]
        if os.geteuid() == 0:  # CI containers run as root; jupyter refuses that unless told
            command.append("--allow-root")
        return command

    def start(self) -> JupyterLabServer:
        deadline = Deadline(self.start_timeout, "starting jupyter lab")
        self.port = free_port()
        command = self.command()
        self.home.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "wb") as log:  # a file, not a PIPE: an unread pipe would block the server
            self.process = subprocess.Popen(command, cwd=self.root_dir, env=self._environment(), stdout=log,
                                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        while True:
            if self.process.poll() is not None:
                raise HarnessError(f"jupyter lab exited with code {self.process.returncode} before answering:\n{self.log_tail()}")
            with contextlib.suppress(OSError):
                if self.api("GET", "/api/status", timeout=2) is not None:
                    return self
            if deadline.left() <= 0:
                raise HarnessError(f"jupyter lab did not answer on {self.url} within {self.start_timeout:.0f} s:\n{self.log_tail()}")
            time.sleep(0.3)

    def api(self, method: str, path: str, timeout: float = 10) -> object:
        """One REST call with the token; the decoded JSON (None when the reply has no body)."""
        request = urllib.request.Request(self.url + path, method=method, headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=timeout) as reply:
            body = reply.read()
        return json.loads(body) if body else None

    def shutdown_kernels(self) -> None:
        """Stop every kernel through the server (best effort: the server may already be gone)."""
        with contextlib.suppress(OSError, ValueError):
            for kernel in self.api("GET", "/api/kernels") or []:
                with contextlib.suppress(OSError):
                    self.api("DELETE", f"/api/kernels/{kernel['id']}", timeout=15)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"

    def stop(self) -> None:
        """Stop the server, its kernels and anything they started; safe to call twice, from any thread."""
        with self._stopping:
            self._stop()

    def _stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.shutdown_kernels()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        # Kernels run in their own sessions (jupyter_client starts them so), so the server's process
        # group does not cover them: find what is left by our private runtime folder and end it.
        kill_processes_mentioning(str(self.home / "runtime"))
        self.process = None

    def __enter__(self) -> JupyterLabServer:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()


def kill_processes_mentioning(marker: str) -> list[int]:
    """Kill the processes whose command line contains ``marker`` (a private temporary path), with their descendants."""
    if not marker:
        raise ValueError("marker must be a non-empty string")
    victims: dict[int, psutil.Process] = {}
    for proc in psutil.process_iter(["pid", "cmdline"]):
        with contextlib.suppress(psutil.Error):
            if proc.pid != os.getpid() and any(marker in part for part in proc.info["cmdline"] or []):
                victims[proc.pid] = proc
                victims.update({child.pid: child for child in proc.children(recursive=True)})
    for proc in victims.values():
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(list(victims.values()), timeout=10)
    return sorted(victims)


@contextlib.contextmanager
def open_lab(server: JupyterLabServer, viewport: tuple[int, int] = (1280, 1600)) -> Iterator[object]:
    """A Playwright browser context on ``server`` (system Chromium, headless); closed on exit."""
    if not CHROMIUM.exists():
        raise HarnessError(f"{CHROMIUM} not found: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
            context.set_default_timeout(60_000)
            yield context
        finally:
            browser.close()


@contextlib.contextmanager
def watchdog(seconds: float, server: JupyterLabServer) -> Iterator[threading.Event]:
    """The last bound on time, for a hang no other timeout covers: after ``seconds`` stop the server and
    kill the browser this process started, so every pending call fails instead of waiting forever."""
    if seconds <= 0:
        raise ValueError(f"seconds must be > 0, got {seconds}")
    fired = threading.Event()

    def fire() -> None:
        fired.set()
        server.stop()
        for child in psutil.Process().children(recursive=True):
            with contextlib.suppress(psutil.Error):
                if "chrom" in child.name():
                    child.kill()

    timer = threading.Timer(seconds, fire)
    timer.daemon = True
    timer.start()
    try:
        yield fired
    finally:
        timer.cancel()


def evaluate(page: object, script: str, arg: object = None, seconds: float = 60.0) -> object:
    """``page.evaluate`` of an (async) function of one argument, rejected after ``seconds`` (Playwright's
    evaluate has no timeout of its own, and JupyterLab's promises can wait forever on a dialog)."""
    bounded = ("async ([arg, ms]) => Promise.race([(" + script + ")(arg),"
               " new Promise((_, reject) => setTimeout(() => reject(new Error('no answer within ' + ms / 1000 + ' s')), ms))])")
    return page.evaluate(bounded, [arg, int(seconds * 1000)])


# --- what the page is asked (JavaScript run in JupyterLab through window.jupyterapp) -------------------

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
                errors: outs.filter(o => o.output_type === 'error').map(o => o.ename + ': ' + o.evalue),
                views: outs.filter(o => o.data && o.data['application/vnd.jupyter.widget-view+json']).length});
  }
  return {ready: sc.isReady, status: kernel ? kernel.status : null, cells,
          dialog: dialog ? dialog.innerText.slice(0, 500) : null};
}"""

JS_RUN_ALL = """(id) => {
  const app = window.jupyterapp;
  app.shell.activateById(id);
  app.commands.execute('notebook:run-all-cells');  // not awaited: progress is polled from Python
}"""

JS_ACCEPT_DIALOG = "() => { const b = document.querySelector('.jp-Dialog .jp-mod-accept'); if (b) b.click(); return !!b; }"

# Shut down every open notebook's kernel and close it, so the next notebook starts on an empty shell.
JS_CLOSE_ALL = """async () => {
  for (const w of Array.from(window.jupyterapp.shell.widgets('main'))) {
    if (w.sessionContext) await w.sessionContext.shutdown();
    w.dispose();
  }
}"""

# What is on screen: figures (PNG/JPEG/SVG outputs that loaded, also inside widgets), widget views that
# rendered, fallbacks where a widget did not, and tracebacks shown inside widget output areas.
JS_SCREEN = """(widgetNames) => {
  const nb = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook');
  if (!nb) return null;
  const visible = el => { const r = el.getBoundingClientRect(); return r.width > 0 && r.height > 0; };
  const images = [...nb.querySelectorAll('.jp-OutputArea-output img')].filter(i => i.complete && i.naturalWidth > 0 && visible(i));
  const svgs = [...nb.querySelectorAll('.jp-OutputArea-output svg')].filter(s => visible(s) && s.getBoundingClientRect().width > 50);
  const figures = images.length + svgs.length;
  // A widget view is an output node holding a drawn .jupyter-widgets element; a view that failed is
  // an output node that is itself .jupyter-widgets and holds only an error text.
  const rendered = [...nb.querySelectorAll('.jp-OutputArea-output')].filter(v => !v.parentElement.closest('.jupyter-widgets'))
    .filter(v => [...v.children].some(c => c.classList.contains('jupyter-widgets') && visible(c))).length;
  const fallbacks = [];
  const pattern = new RegExp('^(' + widgetNames.join('|') + ')\\\\(');
  for (const el of nb.querySelectorAll('.jp-OutputArea-output')) {
    const text = (el.innerText || '').trim();
    const mime = el.getAttribute('data-mime-type');
    if (/could not be displayed|Error displaying widget|Failed to (load|render) (model|widget)/i.test(text))
      fallbacks.push(text.slice(0, 200));
    else if (mime === 'text/plain' && pattern.test(text)) fallbacks.push('plain-text repr instead of a widget: ' + text.slice(0, 120));
  }
  const tracebacks = [...nb.querySelectorAll('.jupyter-widgets .jp-OutputArea-output')]
    .map(el => el.innerText || '').filter(t => /Traceback \\(most recent call last\\)|^\\w*(Error|Exception)\\b/m.test(t))
    .map(t => t.trim().slice(-2000));
  return {figures, renderedViews: rendered, fallbacks, tracebacks: [...new Set(tracebacks)]};
}"""

# Marks the n-th interactive control of a kind with data-e2e-control and returns how many there are.
JS_MARK_CONTROL = """([kind, n]) => {
  document.querySelectorAll('[data-e2e-control]').forEach(e => e.removeAttribute('data-e2e-control'));
  const nb = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook');
  const selector = {slider: '.widget-slider:not(.mod-disabled)', text: '.widget-text, .widget-textarea',
                    dropdown: '.widget-dropdown'}[kind];
  const found = [...nb.querySelectorAll(selector)].filter(e => e.closest('.jp-OutputArea-output') && e.getBoundingClientRect().width > 0);
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
        """Every way this run falls short of what a learner should see; empty when it is all fine."""
        found = [f"error output: {e}" for e in self.cell_errors]
        found += [f"traceback inside a widget: {t}" for t in self.tracebacks]
        found += [f"widget not displayed: {f}" for f in self.fallbacks]
        if expect_figure and self.figures == 0:
            found.append("no rendered figure (the notebook draws with matplotlib but no image is on screen)")
        if expect_widget:
            if self.rendered_views == 0:
                found.append(f"no widget view rendered ({self.widget_views} widget outputs, none drawn)")
            elif not any(i.startswith("changed") for i in self.interactions):
                found.append(f"widget did not react: {'; '.join(self.interactions) or 'not operated'}")
        return found


def _wait(page: object, predicate, deadline: Deadline, seconds: float, what: str) -> object:
    """Poll ``predicate()`` until it returns something truthy; TimeoutError naming ``what`` otherwise."""
    allowed = deadline.cap(seconds)
    end = time.monotonic() + allowed
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > end:
            cut = f" (the rest of the {deadline.seconds:.0f} s budget for {deadline.what})" if allowed < seconds else ""
            raise TimeoutError(f"timed out after {allowed:.0f} s{cut} waiting for {what}")
        page.wait_for_timeout(250)


def widget_class_names() -> list[str]:
    """Names of ipywidgets' widget classes: their plain-text repr on screen means a view did not render."""
    import ipywidgets

    classes = {name: getattr(ipywidgets, name) for name in dir(ipywidgets)}
    names = {name for name, c in classes.items() if isinstance(c, type) and issubclass(c, ipywidgets.DOMWidget)}
    return sorted(names | {"interactive"})


def open_page(context: object, server: JupyterLabServer, deadline: Deadline) -> object:
    """Load JupyterLab in a new page of ``context`` and wait until the application is restored."""
    page = context.new_page()
    page.goto(f"{server.url}/lab?reset&token={server.token}", timeout=deadline.cap(90) * 1000)
    page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell", timeout=deadline.cap(90) * 1000)
    evaluate(page, "async () => { await window.jupyterapp.restored; }", seconds=deadline.cap(90))
    return page


def run_notebook(page: object, path: str, deadline: Deadline, run_timeout: float = 300.0) -> NotebookRun:
    """Open ``path`` (relative to the server root) in JupyterLab on ``page``, Run All, wait until done.

    Returns what is on screen, with the seconds each phase took. Stops waiting at the first error output
    of a cell not tagged ``raises-exception`` (Run All stops there too). The notebook stays open for
    ``interact`` and ``screenshot``; ``close_notebooks`` ends it.
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
        run.cell_errors = [f"cell {c['index']}: {e}" for c in cells if not c["raises"] for e in c["errors"]]
        if run.cell_errors:
            return True
        todo = [c for c in cells if not c["blank"]]
        counted = [c for c in todo if c["count"] is not None]
        running = [c["index"] for c in todo if c["running"]]
        at = f"cell {running[0]} running, {len(running) - 1} queued" if running else "no cell running"
        progress[0] = f"{len(counted)} of {len(todo)} code cells counted, {at}, kernel {state.get('status')}"
        return len(counted) == len(todo) and not running and state.get("status") == "idle"

    progress = ["not started"]
    try:
        _wait(page, finished, deadline, run_timeout, f"Run All in {path} to finish (kernel idle, every code cell counted)")
    except TimeoutError as error:
        raise TimeoutError(f"{error}; {progress[0]}") from None
    phase("run all")
    settle(page, run, deadline)
    return run


def settle(page: object, run: NotebookRun, deadline: Deadline, seconds: float = 10.0) -> None:
    """Look at the screen until every widget output has drawn (or failed to) and the picture is stable."""
    end = time.monotonic() + deadline.cap(seconds)
    previous = None
    while True:
        page.wait_for_timeout(300)
        look(page, run)
        now = (run.figures, run.rendered_views, len(run.fallbacks), len(run.tracebacks))
        if (now == previous and run.rendered_views + len(run.fallbacks) >= run.widget_views) or time.monotonic() > end:
            return
        previous = now


def look(page: object, run: NotebookRun) -> None:
    """Record figures, widget views, fallbacks and widget tracebacks now on screen into ``run``."""
    screen = page.evaluate(JS_SCREEN, widget_class_names())
    if screen is None:
        raise HarnessError(f"{run.path}: no notebook on screen")
    run.figures, run.rendered_views = screen["figures"], screen["renderedViews"]
    run.fallbacks, run.tracebacks = screen["fallbacks"], [last_error_line(t) for t in screen["tracebacks"]]


def last_error_line(traceback: str) -> str:
    """The line a learner reads first in a traceback: the last "SomeError: message" line."""
    lines = [line.strip() for line in traceback.splitlines() if line.strip()]
    errors = [line for line in lines if re.match(r"^[A-Za-z_][\w.]*(Error|Exception|Interrupt|Exit)\b", line)]
    return (errors or lines or [""])[-1][:300]


def _operate(page: object, kind: str) -> str:
    """Change the marked control once, as a learner would; describe what was done."""
    control = page.locator("[data-e2e-control]")
    control.scroll_into_view_if_needed()
    if kind == "slider":
        handle, track = control.locator(".noUi-handle").first, control.locator(".noUi-base, .slider").first
        h, t = handle.bounding_box(), track.bounding_box()
        if not h or not t:
            raise HarnessError("slider has no visible handle or track")
        x, y = h["x"] + h["width"] / 2, h["y"] + h["height"] / 2
        target = t["x"] + t["width"] * (0.25 if x > t["x"] + t["width"] / 2 else 0.75)
        readout = control.locator(".widget-readout").first

        def value() -> str:  # the readout as the learner reads it ("3"), else the handle's "3.0"
            return readout.inner_text().strip() if readout.count() else str(handle.get_attribute("aria-valuenow"))

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


def interact(page: object, run: NotebookRun, deadline: Deadline, kinds: tuple[str, ...] = CONTROL_KINDS,
             react_timeout: float = 30.0) -> bool:
    """Operate controls (sliders first, then text boxes, then dropdowns) until one changes another output.

    Appends to ``run.interactions`` what was done ("changed: ..." on success) and re-reads the screen, so
    a traceback the interaction produced is caught. Returns whether an output changed.
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
                _wait(page, lambda before=before: page.evaluate(JS_FINGERPRINT) != before, deadline, react_timeout,
                      "an output to change")
            except TimeoutError:
                tried.append(f"{action}: no other output changed within {react_timeout:.0f} s")
                n += 1
                continue
            run.interactions.append(f"changed: {action}")
            settle(page, run, deadline)
            run.phases["interact"] = run.phases.get("interact", 0) + round(time.monotonic() - start, 1)
            return True
    run.interactions.append("; ".join(tried) or f"no {' or '.join(kinds)} found among {run.rendered_views} widget views")
    look(page, run)
    run.phases["interact"] = run.phases.get("interact", 0) + round(time.monotonic() - start, 1)
    return False


def screenshot(page: object, path: Path) -> Path:
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
    page.set_viewport_size({"width": size["width"], "height": int(min(max(height, size["height"]), 16000))})
    try:
        page.wait_for_timeout(300)
        page.screenshot(path=str(path))
    finally:
        page.set_viewport_size(size)
    return path


def close_notebooks(page: object) -> None:
    """Shut down the kernels of the notebooks open on ``page`` and close them."""
    evaluate(page, JS_CLOSE_ALL, seconds=30)


def copy_notebooks(source: Path, target: Path) -> Path:
    """Copy a folder of notebooks (and files beside them) so JupyterLab's saves never touch the originals."""
    if not Path(source).is_dir():
        raise ValueError(f"source must be a folder, got {source}")
    shutil.copytree(source, target, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    return target


IMPORTS_FIGURES = re.compile(r"^\s*(import|from)\s+(matplotlib|rnnlab\.plots)\b|^\s*from\s+rnnlab\s+import\s+[^#\n]*\bplots\b", re.M)
IMPORTS_WIDGETS = re.compile(r"^\s*(import|from)\s+(ipywidgets|rnnlab\.widgets)\b|^\s*from\s+rnnlab\s+import\s+[^#\n]*\bwidgets\b", re.M)


def expectations(notebook: Path) -> tuple[bool, bool]:
    """(expects a figure, expects a widget), read from the notebook's imports."""
    cells = json.loads(Path(notebook).read_text(encoding="utf-8"))["cells"]
    code = "\n".join("".join(c["source"]) if isinstance(c["source"], list) else c["source"] for c in cells if c["cell_type"] == "code")
    return bool(IMPORTS_FIGURES.search(code)), bool(IMPORTS_WIDGETS.search(code))
