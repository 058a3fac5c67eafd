"""Start N training workers from a notebook (or a test) and get their results back, or a clear
error.

``torchrun`` is the tool for real jobs; inside Jupyter we need something that behaves well in a
cell: ``mp.spawn`` of a function defined in a notebook fails (the workers cannot import
``__main__``), so the workers are modules of this package started as subprocesses
(``python -m MODULE``), each with the environment torchrun would give it (RANK, LOCAL_RANK,
WORLD_SIZE, MASTER_ADDR, MASTER_PORT).

`launch` streams every worker's output prefixed by its rank, returns what each worker passed to
`report`, and turns a crashed worker into `WorkerFailed` carrying that worker's traceback, and a
hung one into `LaunchTimeout`. Each worker runs in its own process group, and every group is killed
on any failure, timeout or interrupt, so no stray process outlives the call.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

RESULT_DIR_ENV = "RNNLAB_RESULT_DIR"
_KEEP_LINES = 400
_PEER_ERRORS = (
    "DistBackendError",
    "Connection closed by peer",
    "Connection reset by peer",
    "ProcessGroupGloo",
)


class LaunchError(RuntimeError):
    """A launch did not finish: a worker failed or the launch timed out. ``outputs[rank]`` is its
    last output."""

    def __init__(self, message: str, outputs: Mapping[int, str]):
        super().__init__(message)
        self.outputs = dict(outputs)


class WorkerFailed(LaunchError):
    """A worker exited with a non-zero code; ``rank``, ``returncode`` and ``traceback`` say which
    and why."""

    def __init__(self, rank: int, returncode: int, traceback: str, outputs: Mapping[int, str]):
        self.rank = rank
        self.returncode = returncode
        self.traceback = traceback
        super().__init__(
            f"worker rank {rank} failed (exit code {returncode}); its traceback:\n{traceback}",
            outputs,
        )


class LaunchTimeout(LaunchError, TimeoutError):
    """Workers were still running after the timeout (a hang, e.g. a rank waiting for a peer that
    never comes)."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free right now on ``host`` (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def check_port(port: Any) -> int:
    """Return ``port`` if it is an int in [1, 65535] that nothing is listening on; else raise
    TypeError or ValueError."""
    # here, not at the top: workers load this file on its own, outside the package
    from ..checks import (
        check_int,
    )

    port = check_int("port", port, minimum=1, maximum=65535)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("", port))
        except OSError as err:
            raise ValueError(
                f"port {port} is in use ({err.strerror}); pass port=None to pick a free one"
            ) from err
    return port


def report(result: Mapping[str, Any]) -> None:
    """Called inside a worker: hand ``result`` (JSON-serialisable) back to `launch`. A no-op outside
    `launch`."""
    if not isinstance(result, Mapping):
        raise TypeError(
            f"result must be a dict of JSON-serialisable values, got {type(result).__name__}"
        )
    folder = os.environ.get(RESULT_DIR_ENV)
    if not folder:
        return
    rank = int(os.environ.get("RANK", "0"))
    path = Path(folder) / f"rank{rank}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(dict(result)))
    os.replace(tmp, path)


def last_traceback(output: str) -> str:
    """The last Python traceback in a worker's output (or its last lines when there is none).

    torch.distributed prefixes a worker's error lines with ``[rankN]:``; the prefixes are dropped.
    """
    output = re.sub(r"(?m)^\[rank\d+\]: ?", "", output)
    start = output.rfind("Traceback (most recent call last)")
    if start >= 0:
        return output[start:].rstrip()
    return "\n".join(output.rstrip().splitlines()[-20:]) or "(the worker printed nothing)"


def _check_launch_args(
    nprocs: Any, module: Any, args: Any, timeout: Any, threads_per_worker: Any
) -> None:
    # here, not at the top: see check_port
    from ..checks import (
        check_number,
        check_positive,
        check_str,
    )

    check_positive(nprocs=nprocs)  # the number of worker processes
    if not check_str("module", module) or module.startswith("-"):
        raise ValueError(
            f"module must be a module name such as 'rnnlab.distributed.train', got {module!r}"
        )
    if isinstance(args, str) or not all(isinstance(a, str) for a in args):
        raise TypeError(f"args must be a list of strings (command-line arguments), got {args!r}")
    check_number("timeout", timeout, above=0)  # seconds
    check_positive(threads_per_worker=threads_per_worker)


def _kill(procs: Sequence[subprocess.Popen], grace: float = 3.0) -> None:
    """Terminate each worker's whole process group (its children too), then kill what is left after
    ``grace`` seconds."""
    for sig in (signal.SIGTERM, signal.SIGKILL if hasattr(signal, "SIGKILL") else signal.SIGTERM):
        for proc in procs:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                if hasattr(os, "killpg"):
                    os.killpg(proc.pid, sig)  # also reaches children a finished worker left behind
                elif proc.poll() is None:  # Windows: no process groups; the worker alone
                    proc.kill()
        deadline = time.monotonic() + grace
        for proc in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))


def _pump(rank: int, stream: Any, lines: queue.Queue) -> None:
    for line in iter(stream.readline, ""):
        lines.put((rank, line.rstrip("\n")))
    stream.close()


def launch(
    nprocs: int,
    module: str = "rnnlab.distributed.train",
    args: Sequence[str] = (),
    *,
    timeout: float = 300.0,
    port: int | None = None,
    env: Mapping[str, str] | None = None,
    threads_per_worker: int = 1,
    stream: bool = True,
) -> list[dict[str, Any]]:
    """Run ``python -m module *args`` as ``nprocs`` workers of one process group on this machine.

    Returns one dict per rank: what that worker passed to `report` (empty if it reported nothing).
    ``port`` is the rendezvous port (None: a free one is picked). ``env`` adds environment
    variables. ``threads_per_worker`` sets OMP_NUM_THREADS so N workers do not fight over the cores.
    Raises `WorkerFailed` as soon as any worker exits non-zero and `LaunchTimeout` after ``timeout``
    seconds; in both cases (and on Ctrl-C) every worker's process group is killed first.
    """
    _check_launch_args(nprocs, module, args, timeout, threads_per_worker)
    port = free_port() if port is None else check_port(port)
    outputs: dict[int, deque[str]] = {rank: deque(maxlen=_KEEP_LINES) for rank in range(nprocs)}
    lines: queue.Queue = queue.Queue()
    procs: list[subprocess.Popen] = []
    pumps: list[threading.Thread] = []
    with tempfile.TemporaryDirectory(prefix="rnnlab-launch-") as results:
        base = {
            **os.environ,
            **(env or {}),
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(port),
            "WORLD_SIZE": str(nprocs),
            "LOCAL_WORLD_SIZE": str(nprocs),
            "OMP_NUM_THREADS": str(threads_per_worker),
            "PYTHONUNBUFFERED": "1",
            RESULT_DIR_ENV: results,
        }
        try:
            for rank in range(nprocs):
                proc = subprocess.Popen(
                    [sys.executable, "-m", module, *args],
                    env={**base, "RANK": str(rank), "LOCAL_RANK": str(rank)},
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    text=True,
                    bufsize=1,
                    start_new_session=True,
                )
                procs.append(proc)
                pumps.append(
                    threading.Thread(target=_pump, args=(rank, proc.stdout, lines), daemon=True)
                )
                pumps[-1].start()
            _watch(procs, pumps, lines, outputs, timeout, stream)
        finally:
            _kill(procs)
        return [_read_result(Path(results) / f"rank{rank}.json") for rank in range(nprocs)]


def _watch(
    procs: list[subprocess.Popen],
    pumps: list[threading.Thread],
    lines: queue.Queue,
    outputs: dict[int, deque[str]],
    timeout: float,
    stream: bool,
) -> None:
    """Print worker output as it comes; return when all exit 0, raise on the first failure or the
    timeout."""
    deadline = time.monotonic() + timeout
    while True:
        _drain(lines, outputs, stream, wait=0.05)
        codes = [p.poll() for p in procs]
        failed = [rank for rank, code in enumerate(codes) if code not in (None, 0)]
        if failed:
            for rank in failed:  # let the failed workers' last lines arrive
                pumps[rank].join(timeout=1.0)
            _drain(lines, outputs, stream, wait=0.0)
            texts = {rank: "\n".join(out) for rank, out in outputs.items()}
            # a rank that failed only because a peer vanished is a symptom; report the cause
            cause = min(
                failed, key=lambda r: (any(e in last_traceback(texts[r]) for e in _PEER_ERRORS), r)
            )
            raise WorkerFailed(cause, codes[cause], last_traceback(texts[cause]), texts)
        if all(code == 0 for code in codes):
            for pump in pumps:  # a pipe closes when its worker exits; wait for the last lines
                pump.join(timeout=2.0)
            _drain(lines, outputs, stream, wait=0.0)
            return
        if time.monotonic() > deadline:
            running = [rank for rank, code in enumerate(codes) if code is None]
            texts = {rank: "\n".join(out) for rank, out in outputs.items()}
            tails = "\n".join(
                f"--- rank {r}, last lines ---\n" + "\n".join(list(outputs[r])[-5:])
                for r in running
            )
            raise LaunchTimeout(
                f"workers {running} still running after {timeout:g} s (hung?); killed "
                f"them.\n{tails}",
                texts,
            )


def _drain(lines: queue.Queue, outputs: dict[int, deque[str]], stream: bool, wait: float) -> None:
    try:
        item = lines.get(timeout=wait) if wait > 0 else lines.get_nowait()
        while True:
            rank, line = item
            outputs[rank].append(line)
            if stream:
                print(f"[rank {rank}] {line}", flush=True)
            item = lines.get_nowait()
    except queue.Empty:
        return


def _read_result(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.exists() else {}
