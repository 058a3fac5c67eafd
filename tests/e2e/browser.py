"""Headless Chromium through Playwright: the system Chromium only, never a downloaded browser.

``chromium`` gives a browser context for any page (the course site), ``open_lab`` one on a
JupyterLab server and ``open_page`` a page of it with JupyterLab loaded; ``evaluate`` is
``page.evaluate`` with a time limit, and ``watchdog`` the last bound on a hang nothing else catches.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
from playwright.sync_api import BrowserContext, Page, sync_playwright

from tests.e2e.harness import Deadline, HarnessError
from tests.e2e.jupyterlab import JupyterLabServer

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@contextlib.contextmanager
def chromium(viewport: tuple[int, int], timeout_ms: float) -> Iterator[BrowserContext]:
    """A context of a headless system Chromium with a ``viewport`` of (width, height) and a default
    timeout of ``timeout_ms`` for every Playwright call; the browser is closed on exit."""
    if not CHROMIUM.exists():
        raise HarnessError(f"{CHROMIUM} not found: apt-get install chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
            context.set_default_timeout(timeout_ms)
            yield context
        finally:
            browser.close()


@contextlib.contextmanager
def open_lab(
    server: JupyterLabServer, viewport: tuple[int, int] = (1280, 1600)
) -> Iterator[BrowserContext]:
    """A browser context for pages of ``server`` (system Chromium, headless); closed on exit."""
    with chromium(viewport, timeout_ms=60_000) as context:
        yield context


@contextlib.contextmanager
def watchdog(seconds: float, server: JupyterLabServer) -> Iterator[threading.Event]:
    """The last bound on time, for a hang no other timeout covers: after ``seconds`` stop the server
    and kill the browser this process started, so every pending call fails instead of waiting
    forever."""
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


def evaluate(page: Page, script: str, arg: object = None, seconds: float = 60.0) -> Any:
    """``page.evaluate`` of an (async) function of one argument, rejected after ``seconds``
    (Playwright's evaluate has no timeout of its own, and JupyterLab's promises can wait forever on
    a dialog)."""
    bounded = (
        "async ([arg, ms]) => Promise.race([(" + script + ")(arg),"
        " new Promise((_, reject) => setTimeout(() => reject(new Error('no answer within ' + ms / "
        "1000 + ' s')), ms))])"
    )
    return page.evaluate(bounded, [arg, int(seconds * 1000)])


def open_page(context: BrowserContext, server: JupyterLabServer, deadline: Deadline) -> Page:
    """Load JupyterLab in a new page of ``context`` and wait until the application is restored."""
    page = context.new_page()
    page.goto(f"{server.url}/lab?reset&token={server.token}", timeout=deadline.cap(90) * 1000)
    page.wait_for_function(
        "() => window.jupyterapp && window.jupyterapp.shell", timeout=deadline.cap(90) * 1000
    )
    evaluate(page, "async () => { await window.jupyterapp.restored; }", seconds=deadline.cap(90))
    return page
