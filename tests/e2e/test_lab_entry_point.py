"""``make lab`` as a learner runs it: ``python -m rnnlab lab`` starts, prints its URL, serves a
chapter.

The browser test of the chapters starts its own ``jupyter lab`` command line, so it cannot see a
failure of the course's real entry point (as root, Jupyter refuses to start without
``--allow-root``). This test starts the server exactly as ``make lab`` does, from a copy of the
project's folder, reads the URL the learner is told to open from the server's output, opens a
chapter there in headless Chromium, and stops the server.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.browser import CHROMIUM, evaluate, open_lab
from tests.e2e.jupyterlab import JupyterLabServer

ROOT = Path(__file__).resolve().parents[2]
CHAPTER = "01_architectures.ipynb"
URL = re.compile(r"(http://127\.0\.0\.1:\d+/lab\S*\?token=[0-9a-f]+)")


class LabEntryPoint(JupyterLabServer):
    """``python -m rnnlab lab`` (what ``make lab`` runs), in the isolated Jupyter home of the
    harness.

    No token is passed: Jupyter makes one and prints it in the URL, and the harness reads it from
    there, as the learner does (an explicit token would be printed as ``...``).
    """

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "rnnlab",
            "lab",
            "--no-browser",
            f"--port={self.port}",
            "--ServerApp.port_retries=0",
            "--LabApp.expose_app_in_browser=True",
        ]

    def printed_url(self) -> str | None:
        """The URL the server tells the learner to open, once it has printed it."""
        found = (
            URL.search(self.log_path.read_text(errors="replace"))
            if self.log_path.exists()
            else None
        )
        return found.group(1) if found else None

    def api(self, method: str, path: str, timeout: float = 10) -> Any:
        url = self.printed_url()
        if url is None:
            raise OSError("the server has not printed its URL yet")
        self.token = url.rsplit("token=", 1)[1]
        return super().api(method, path, timeout)


@pytest.mark.e2e
@pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason=f"{CHROMIUM} not found; apt-get install chromium to run the browser test",
)
def test_make_lab_entry_point_serves_a_chapter(tmp_path):
    course = tmp_path / "course"  # a copy: JupyterLab may save the files it opens
    shutil.copytree(ROOT / "chapters", course / "chapters")
    with LabEntryPoint(course, tmp_path / "home") as server:
        log = server.log_path.read_text(errors="replace")
        if os.geteuid() == 0:
            assert "running as root" in log and "--allow-root" in log, log
        url = server.printed_url()  # started means: it answered with the token from this URL
        assert url is not None and f"127.0.0.1:{server.port}/lab" in url, server.log_tail()
        with open_lab(server) as context:
            page = context.new_page()
            # the link as printed: lands in chapters/ (the default URL)
            page.goto(url, timeout=90_000)
            page.wait_for_function(
                "() => window.jupyterapp && window.jupyterapp.shell", timeout=90_000
            )
            evaluate(page, "async () => { await window.jupyterapp.restored; }", seconds=90)
            assert page.url.split("?")[0].endswith("/lab/tree/chapters"), page.url
            evaluate(
                page,
                "async (path) => { await window.jupyterapp.commands.execute('docmanager:open', "
                "{path}); }",
                f"chapters/{CHAPTER}",
                seconds=60,
            )
            heading = page.locator(".jp-Notebook .jp-MarkdownOutput h1").first
            heading.wait_for(timeout=60_000)
            assert "Chapter 1" in heading.inner_text()
    assert server.process is None  # stopped, kernels and all
