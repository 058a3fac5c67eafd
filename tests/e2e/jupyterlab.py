"""``jupyter lab`` for a browser test, started and always stopped by the test.

``JupyterLabServer`` starts ``jupyter lab`` from this Python environment on a free localhost port
with a token, in an isolated Jupyter home (settings, workspaces, runtime files in a temporary
folder), and stops it together with its kernels and whatever they started. Subclasses change the
command line (``command``), as the test of ``make lab``'s entry point does.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import psutil

from rnnlab.distributed.launcher import free_port
from tests.e2e.harness import Deadline, HarnessError

# User settings for the isolated JupyterLab: no news/update pop-ups, and every cell attached to the
# DOM (the default windowing leaves cells outside the viewport unrendered, so their outputs would be
# missed).
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}


class JupyterLabServer:
    """``jupyter lab`` on 127.0.0.1 serving ``root_dir``, isolated under ``home``; use as a context
    manager."""

    def __init__(
        self,
        root_dir: Path,
        home: Path,
        env: dict[str, str] | None = None,
        start_timeout: float = 120.0,
    ) -> None:
        if not Path(root_dir).is_dir():
            raise ValueError(f"root_dir must be an existing folder, got {root_dir}")
        self.root_dir = Path(root_dir)
        self.home = Path(home)
        self.extra_env = dict(env or {})
        self.start_timeout = start_timeout
        self.token = os.urandom(16).hex()
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self._stopping = threading.Lock()  # the watchdog may stop the server from another thread
        self.log_path = self.home / "jupyter-lab.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _environment(self) -> dict[str, str]:
        dirs = {
            name: self.home / name
            for name in ("config", "data", "runtime", "settings", "workspaces")
        }
        for folder in dirs.values():
            folder.mkdir(parents=True, exist_ok=True)
        for name, value in LAB_SETTINGS.items():
            target = dirs["settings"] / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(json.dumps(value))
        env = dict(os.environ)
        # A learner's kernel draws figures inline; a test runner's MPLBACKEND=Agg would hide every
        # figure.
        env.pop("MPLBACKEND", None)
        env.update(
            JUPYTER_CONFIG_DIR=str(dirs["config"]),
            JUPYTER_DATA_DIR=str(dirs["data"]),
            JUPYTER_RUNTIME_DIR=str(dirs["runtime"]),
            JUPYTERLAB_SETTINGS_DIR=str(dirs["settings"]),
            JUPYTERLAB_WORKSPACES_DIR=str(dirs["workspaces"]),
            JUPYTER_PLATFORM_DIRS="1",
        )
        env.update(self.extra_env)
        return env

    def command(self) -> list[str]:
        """The server's command line (``self.port`` is already chosen)."""
        command = [
            sys.executable,
            "-m",
            "jupyter",
            "lab",
            "--no-browser",
            f"--port={self.port}",
            "--ServerApp.port_retries=0",
            "--ServerApp.ip=127.0.0.1",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.root_dir}",
            "--LabApp.expose_app_in_browser=True",
            "--ServerApp.open_browser=False",
        ]
        if os.geteuid() == 0:  # CI containers run as root; jupyter refuses that unless told
            command.append("--allow-root")
        return command

    def start(self) -> JupyterLabServer:
        deadline = Deadline(self.start_timeout, "starting jupyter lab")
        self.port = free_port()
        command = self.command()
        self.home.mkdir(parents=True, exist_ok=True)
        with open(
            self.log_path, "wb"
        ) as log:  # a file, not a PIPE: an unread pipe would block the server
            self.process = subprocess.Popen(
                command,
                cwd=self.root_dir,
                env=self._environment(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        while True:
            if self.process.poll() is not None:
                raise HarnessError(
                    f"jupyter lab exited with code {self.process.returncode} before "
                    f"answering:\n{self.log_tail()}"
                )
            with contextlib.suppress(OSError):
                if self.api("GET", "/api/status", timeout=2) is not None:
                    return self
            if deadline.left() <= 0:
                raise HarnessError(
                    f"jupyter lab did not answer on {self.url} within {self.start_timeout:.0f} "
                    f"s:\n{self.log_tail()}"
                )
            time.sleep(0.3)

    def api(self, method: str, path: str, timeout: float = 10) -> Any:
        """One REST call with the token; the decoded JSON (None when the reply has no body)."""
        request = urllib.request.Request(
            self.url + path, method=method, headers={"Authorization": f"token {self.token}"}
        )
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
        """The last ``lines`` lines the server wrote, for an error message."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"

    def stop(self) -> None:
        """Stop the server, its kernels and anything they started; safe to call twice, from any
        thread."""
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
    """Kill the processes whose command line contains ``marker`` (a private temporary path), with
    their descendants."""
    if not marker:
        raise ValueError("marker must be a non-empty string")
    victims: dict[int, psutil.Process] = {}
    for proc in psutil.process_iter(["pid", "cmdline"]):
        with contextlib.suppress(psutil.Error):
            if proc.pid != os.getpid() and any(
                marker in part for part in proc.info["cmdline"] or []
            ):
                victims[proc.pid] = proc
                victims.update({child.pid: child for child in proc.children(recursive=True)})
    for proc in victims.values():
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(list(victims.values()), timeout=10)
    return sorted(victims)
