"""The caps on one grading sandbox and the watchdog that enforces them.

Two layers (:mod:`rnnlab.grading.sandbox` sets up the rest of the sandbox):

- process limits set before the sandbox starts and kept by everything in it (:func:`rlimits`):
  ``RLIMIT_DATA`` per process (an allocation past it raises ``MemoryError``), no file over
  ``FILE_BYTES``, no core dumps, and a task budget (``RLIMIT_NPROC``, which counts threads) of
  :func:`task_budget` per sandbox;
- a watchdog in the grading process (:func:`watch`) that measures the whole sandbox every
  ``POLL_S`` seconds and kills it at the first cap it passes, saying which.

Memory is counted whatever form it takes: the private resident memory of every process (anonymous
pages), plus the shared memory the kernel keeps outside any process's private pages (memfds,
shared anonymous mappings, attached System V segments: every object of the kernel's internal
shared-memory file system that a process holds open or maps, each counted once), plus what the
sandbox's own ``/dev/shm`` holds. The box's size is what its files hold plus the files in it that
were deleted while still open or mapped (they keep their disk space).
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import resource
import stat
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ..checks import check_int, check_str

FILE_BYTES = 256 * 2**20
BOX_BYTES = 2 * 2**30
# the kernel refuses a sandbox's tasks this far past its thread cap, so that a submission holding
# more threads than the cap is seen by the watchdog (and stopped with a message) rather than only
# failing its own thread starts
THREAD_MARGIN = 32
POLL_S = 0.2
BOX_CHECK_S = 2.0  # walking the box's names is slower: done less often


@dataclass(frozen=True)
class Limits:
    """Caps for one submission: ``memory`` bytes (per process and for all together),
    ``processes`` at once, ``threads`` at once (of all its processes together)."""

    memory: int = 4 * 2**30
    processes: int = 64
    threads: int = 2048

    def __post_init__(self) -> None:
        check_int("memory", self.memory)
        check_int("processes", self.processes)
        check_int("threads", self.threads)
        if self.memory < 64 * 2**20:
            raise ValueError(f"memory must be at least 64 MiB, got {self.memory} bytes")
        if self.processes < 4:
            raise ValueError(
                "processes must be at least 4 (otter, its kernel and the sandbox's own two), got "
                f"{self.processes}"
            )
        if self.threads < self.processes:
            raise ValueError(
                f"threads must be at least processes ({self.processes}), got {self.threads}"
            )


def parse_size(text: str) -> int:
    """Bytes in a size such as ``"4G"``, ``"512M"`` or ``"1048576"`` (K, M, G, T are powers of
    1024)."""
    check_str("size", text)
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?\s*", text, re.IGNORECASE)
    if not match:
        raise ValueError(f"size must look like 4G, 512M or a number of bytes, got {text!r}")
    return int(float(match.group(1)) * 1024 ** " KMGT".index(match.group(2).upper() or " "))


def format_size(n: int) -> str:
    """``4 GiB``, ``512 MiB``: a byte count as a teacher reads it."""
    for unit, power in (("TiB", 4), ("GiB", 3), ("MiB", 2), ("KiB", 1)):
        if n >= 1024**power:
            return f"{n / 1024**power:.3g} {unit}"
    return f"{n} B"


def task_budget(limits: Limits) -> int:
    """The tasks (processes and threads) the kernel lets one sandbox run: its thread cap and a
    margin (`THREAD_MARGIN`)."""
    return limits.threads + THREAD_MARGIN


def _tasks_of_user(uid: int) -> int:
    import psutil

    total = 0
    for proc in psutil.process_iter(["uids", "num_threads"]):
        with_info = proc.info
        if with_info.get("uids") and with_info["uids"].real == uid:
            total += with_info.get("num_threads") or 1
    return total


def rlimits(limits: Limits, parallel: int = 1, own_uid: bool = False) -> Callable[[], None]:
    """A ``preexec_fn`` that sets the per-process caps (memory, file size, no core dumps, tasks).

    ``RLIMIT_NPROC`` counts every task of a user. A sandbox under a uid of its own (``own_uid``)
    gets its `task_budget`; otherwise the user's pool must hold what the user runs already and the
    ``parallel`` sandboxes' budgets (each sandbox in a user namespace of its own is held to its own
    budget inside it: :func:`rnnlab.grading.sandbox.bwrap_command`).
    """
    budget = task_budget(limits)
    tasks = budget if own_uid else _tasks_of_user(os.getuid()) + parallel * budget
    caps = [
        (resource.RLIMIT_DATA, limits.memory),
        (resource.RLIMIT_FSIZE, FILE_BYTES),
        (resource.RLIMIT_CORE, 0),
        (resource.RLIMIT_NPROC, tasks),
    ]

    def apply() -> None:  # runs in the child between fork and exec: no imports, no locks
        for which, value in caps:
            soft, hard = resource.getrlimit(which)
            value = value if hard == resource.RLIM_INFINITY else min(value, hard)
            resource.setrlimit(which, (value, value))

    return apply


@functools.cache
def _shmem_device() -> int:
    """The device of the kernel's internal shared-memory file system, where memfds, shared
    anonymous mappings and System V segments live (found from a memfd of this process's own)."""
    fd = os.memfd_create("rnnlab-probe")
    try:
        return os.fstat(fd).st_dev
    finally:
        os.close(fd)


@dataclass
class _Sample:
    """One look at a sandbox: its processes and threads, memory, and the bytes of deleted files
    in its box that some process still holds."""

    processes: int = 0
    threads: int = 0
    memory: int = 0
    deleted_box_bytes: int = 0


def _status(pid: int) -> tuple[int, int]:
    """``(private resident bytes, threads)`` of one process, from ``/proc/PID/status``."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    anon = int(fields.get("RssAnon", "0 kB").split()[0]) * 1024
    return anon, int(fields.get("Threads", "1"))


def _held_files(pid: int) -> Iterator[tuple[tuple[int, int], int]]:
    """``((device, inode), bytes)`` of every unlinked file one process holds open or maps.

    Mappings are read from ``/proc/PID/maps``; their files are measured through
    ``/proc/PID/map_files`` where the grader may (root), else a mapping counts its own length.
    """
    fds = f"/proc/{pid}/fd"
    for name in os.listdir(fds):
        with contextlib.suppress(OSError):
            info = os.stat(f"{fds}/{name}")
            if stat.S_ISREG(info.st_mode) and info.st_nlink == 0:
                yield (info.st_dev, info.st_ino), info.st_blocks * 512
    with open(f"/proc/{pid}/maps") as maps:
        for line in maps:
            if not line.endswith(" (deleted)\n"):
                continue
            span, _, _, device, inode = line.split(maxsplit=5)[:5]
            try:
                info = os.stat(f"/proc/{pid}/map_files/{span}")
                yield (info.st_dev, info.st_ino), info.st_blocks * 512
            except PermissionError:
                major, minor = (int(part, 16) for part in device.split(":"))
                start, end = (int(part, 16) for part in span.split("-"))
                yield (os.makedev(major, minor), int(inode)), end - start
            except OSError:
                continue


def _own_shm_bytes(pid: int) -> int:
    """Bytes used in the ``/dev/shm`` of one process's sandbox (0 where it sees the host's own,
    unsandboxed, or cannot be looked into)."""
    shm = f"/proc/{pid}/root/dev/shm"
    try:
        if os.stat(shm).st_dev == os.stat("/dev/shm").st_dev:
            return 0
        usage = os.statvfs(shm)
    except OSError:
        return 0
    return (usage.f_blocks - usage.f_bfree) * usage.f_frsize


def _sample(pids: list[int], box_dev: int | None) -> _Sample:
    """Measure the sandbox made of ``pids``; the first is inside its mounts (for ``/dev/shm``)."""
    seen = _Sample(processes=len(pids), memory=_own_shm_bytes(pids[0]))
    held: dict[tuple[int, int], int] = {}
    for pid in pids:
        try:
            anon, threads = _status(pid)
            for key, size in _held_files(pid):
                held[key] = max(held.get(key, 0), size)
        except (OSError, ValueError):
            continue  # a process that ended meanwhile
        seen.memory += anon
        seen.threads += threads
    for (device, _), size in held.items():
        if device == _shmem_device():
            seen.memory += size
        elif device == box_dev:
            seen.deleted_box_bytes += size
    return seen


def _box_bytes(box: Path) -> int:
    total = 0
    for root, _, files in os.walk(box, onerror=lambda error: None):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
    return total


@dataclass(frozen=True)
class Usage:
    """How a sandbox ended: ``message`` ("" when it ended by itself in time) and what it used at its
    peak."""

    message: str
    seconds: float
    peak_memory: int
    peak_processes: int
    peak_threads: int = 0


def _broken_cap(seen: _Sample, limits: Limits) -> str:
    """The message for the first cap ``seen`` passes, or ""."""
    if seen.processes > limits.processes:
        return f"stopped: started more than {limits.processes} processes (the process cap)"
    if seen.threads > limits.threads:
        return f"stopped: ran more than {limits.threads} threads at once (the thread cap)"
    if seen.memory > limits.memory:
        return f"stopped: used more than {format_size(limits.memory)} of memory (the memory cap)"
    return ""


def watch(
    process: subprocess.Popen, limits: Limits, timeout_s: float, box: Path | None = None
) -> Usage:
    """Wait for ``process`` (the sandbox); kill its whole tree at the first broken limit and say
    which.

    Every ``POLL_S`` seconds: its processes, threads and memory (see the module's docstring); the
    box's size every ``BOX_CHECK_S`` seconds.
    """
    import psutil

    start = time.monotonic()
    box_dev = os.stat(box).st_dev if box is not None else None
    next_box_check = 0.0
    message = ""
    peak = _Sample()
    while process.poll() is None:
        now = time.monotonic()
        if now >= start + timeout_s:
            message = (
                f"stopped at the time limit of {timeout_s:g} s "
                "(an endless loop, or too much training?)"
            )
            break
        try:
            root = psutil.Process(process.pid)
            pids = [root.pid, *(p.pid for p in root.children(recursive=True))]
        except psutil.NoSuchProcess:
            continue
        # bwrap's own first process stays outside the sandbox's mounts: measure from its child
        seen = _sample(pids[1:] + pids[:1], box_dev)
        peak = _Sample(**{name: max(value, vars(seen)[name]) for name, value in vars(peak).items()})
        message = _broken_cap(seen, limits)
        if message:
            break
        if box is not None and now >= next_box_check:
            next_box_check = now + BOX_CHECK_S
            if _box_bytes(box) + seen.deleted_box_bytes > BOX_BYTES:
                message = f"stopped: wrote more than {format_size(BOX_BYTES)} of files"
                break
        time.sleep(POLL_S)
    kill_tree(process.pid)
    process.wait()
    return Usage(message, time.monotonic() - start, peak.memory, peak.processes, peak.threads)


def _kill(procs: list) -> None:
    """SIGKILL each of ``procs`` (psutil processes) and wait for them to be gone."""
    import psutil

    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
    psutil.wait_procs(procs, timeout=10)


def kill_tree(pid: int) -> None:
    """Kill a process and everything below it (a kernel runs in a session of its own: a process
    group is not enough): its descendants first, while it still lives to reap them (left to the
    machine's init instead, a killed process can linger for seconds), then the process itself."""
    import psutil

    try:
        root = psutil.Process(pid)
        below = root.children(recursive=True)
    except psutil.NoSuchProcess:
        return
    _kill(below)
    _kill([root])
