"""Run one submission's grading inside a bubblewrap (``bwrap``) sandbox, under memory and process
caps.

Grading executes the learners' code, so the teacher's machine must be protected from it. The
sandbox (Debian's ``bubblewrap`` package) gives the grading process:

- the whole file system read-only, with the teacher's home, the project, the temporary folder (where
  the other submissions are graded), the exercise masters, the autograders and the submissions
  folder hidden behind empty read-only folders; only what Python needs is shown again, read-only
  (its prefix, ``sys.path`` folders outside those hidden ones, the ``rnnlab`` package);
- one writable folder, the submission's own box;
- no network (its own network namespace: loopback only), its own PID namespace (every process it
  starts dies with it), its own IPC and UTS namespaces, a minimal ``/dev`` (no GPU);
- when grading runs as root, the unprivileged user ``nobody`` instead of root.

The caps are process limits set before ``bwrap`` starts (and kept by everything inside) plus a
watchdog in the grading process (:func:`watch`) that measures the whole sandbox:

- memory: ``RLIMIT_DATA`` per process (an allocation past it raises ``MemoryError``), and the
  private resident memory of all the sandbox's processes together (past it, the sandbox is killed);
- processes: the number of processes in the sandbox (past it, the sandbox is killed);
  ``RLIMIT_NPROC`` backs this up against a fork bomb faster than the watchdog (the kernel ignores it
  only for root, which a sandbox never is);
- file size: no single file larger than 256 MiB (``RLIMIT_FSIZE``); the box as a whole at most
  ``BOX_BYTES`` (watchdog); no core dumps.

(Just over 400 lines: the mount plan, the caps and the watchdog make one promise and are read
together.)
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..checks import check_int, check_str

NOBODY = 65534  # the uid/gid grading drops to when it runs as root
FILE_BYTES = 256 * 2**20
BOX_BYTES = 2 * 2**30
# /dev/shm is memory the caps do not see: keep it small (semaphores, small tensors)
SHM_BYTES = 64 * 2**20
THREADS_PER_PROCESS = (
    32  # RLIMIT_NPROC counts threads too: the backstop allows this many per allowed process
)
POLL_S = 0.2
INSTALL_HINT = "install it with: sudo apt-get install bubblewrap"


@dataclass(frozen=True)
class Limits:
    """Caps for one submission: ``memory`` bytes (per process and for all together), ``processes``
    at once."""

    memory: int = 4 * 2**30
    processes: int = 64

    def __post_init__(self) -> None:
        check_int("memory", self.memory)
        check_int("processes", self.processes)
        if self.memory < 64 * 2**20:
            raise ValueError(f"memory must be at least 64 MiB, got {self.memory} bytes")
        if self.processes < 4:
            raise ValueError(
                "processes must be at least 4 (otter, its kernel and the sandbox's own two), got "
                f"{self.processes}"
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


def drops_to_nobody() -> bool:
    """Whether the sandbox runs as ``nobody``: grading as root must not hand root to learners'
    code."""
    return os.geteuid() == 0


def _resolved(paths: Iterable[str | os.PathLike]) -> list[Path]:
    return list(dict.fromkeys(Path(p).resolve() for p in paths if p))


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _python_folders() -> list[Path]:
    """What the sandboxed Python must see: its prefixes and the ``rnnlab`` package."""
    return _resolved(
        [
            sys.prefix,
            sys.exec_prefix,
            sys.base_prefix,
            sys.base_exec_prefix,
            Path(__file__).resolve().parent.parent,
        ]
    )


def mount_plan(
    hidden: Iterable[str | os.PathLike], shown: Iterable[str | os.PathLike] = ()
) -> list[tuple[str, Path]]:
    """``("hide", folder)`` and ``("show", folder)`` steps, parents first, so that the deepest step
    wins.

    Python's folders are always shown; ``shown`` and the ``sys.path`` folders are shown unless they
    are hidden themselves (a project folder on ``sys.path`` does not bring back its masters: they
    are hidden again below it). Only folders inside a hidden one need showing; ``/`` is never
    hidden.
    """
    hide = [p for p in _resolved(hidden) if p.is_dir() and p != Path("/")]
    python = _python_folders()
    extra = [
        p
        for p in _resolved([*shown, *(p for p in sys.path[1:] if p)])
        if p.is_dir() and p not in hide
    ]
    show = [
        p
        for p in dict.fromkeys([*python, *extra])
        if p.exists() and any(_inside(p, h) for h in hide)
    ]
    steps = sorted(
        [("hide", p) for p in hide if p not in python] + [("show", p) for p in show],
        key=lambda step: len(step[1].parts),
    )
    plan: list[tuple[str, Path]] = []
    for (
        kind,
        path,
    ) in steps:  # a show already covered by a show above it, with no hide between, is redundant
        enclosing = [k for k, p in plan if path != p and p in path.parents]
        if not (kind == "show" and enclosing and enclosing[-1] == "show"):
            plan.append((kind, path))
    return plan


# Root's sandbox starts as root (to mount what only root may read, a pyenv under /root say), then
# this drops to nobody before anything else runs: setuid clears every capability, and bwrap has set
# no_new_privs, so nothing inside can become root again.
_DROP_TO_NOBODY = (
    f"import os, sys; os.setgroups([]); os.setgid({NOBODY}); os.setuid({NOBODY}); "
    "os.execv(sys.argv[1], sys.argv[1:])"
)


def bwrap_command(
    command: Sequence[str],
    box: Path,
    hidden: Iterable[str | os.PathLike],
    cwd: Path,
    shown: Iterable[str | os.PathLike] = (),
) -> list[str]:
    """``command`` wrapped in bwrap.

    Namespaces: PID, network, IPC, UTS, cgroup, and user (with no nested ones) unless grading runs
    as root, whose sandbox drops to ``nobody`` instead. Mounts: ``/`` read-only, a minimal ``/dev``
    with a small ``/dev/shm``, the steps of :func:`mount_plan` (a hidden folder is an empty
    read-only tmpfs), ``box`` writable.
    """
    if drops_to_nobody():
        namespaces = [
            "--unshare-pid",
            "--unshare-net",
            "--unshare-ipc",
            "--unshare-uts",
            "--unshare-cgroup-try",
            "--cap-add",
            "CAP_SETUID",
            "--cap-add",
            "CAP_SETGID",
        ]
        command = [sys.executable, "-c", _DROP_TO_NOBODY, *command]
    else:
        namespaces = ["--unshare-all", "--unshare-user", "--disable-userns"]
    args = [
        "bwrap",
        *namespaces,
        "--die-with-parent",
        "--new-session",
        "--hostname",
        "grading",
        "--ro-bind",
        "/",
        "/",
        "--dev",
        "/dev",
        "--proc",
        "/proc",
        "--perms",
        "1777",
        "--size",
        str(SHM_BYTES),
        "--tmpfs",
        "/dev/shm",
    ]
    box = Path(box).resolve()
    hidden_folders: list[Path] = []
    mount_points: list[Path] = []
    mounted: list[Path] = []
    for kind, path in [*mount_plan(hidden, shown), ("box", box)]:
        # bwrap creates the folders down to a mount point inside a hidden one with their owner's
        # modes (0700 for /root): they must let the sandbox through; they hold nothing but the way
        # down.
        if any(h in path.parents for h in hidden_folders):
            for parent in path.parents:
                if parent in hidden_folders or parent in mounted:
                    break
                mount_points.append(parent)
        if kind == "hide":
            args += ["--tmpfs", str(path)]
            hidden_folders.append(path)
        else:
            args += ["--bind" if kind == "box" else "--ro-bind", str(path), str(path)]
            mounted.append(path)
    for path in dict.fromkeys(mount_points):
        args += ["--chmod", "0755", str(path)]
    for path in hidden_folders:  # read-only last: bwrap creates the mount points inside them first
        args += ["--remount-ro", str(path)]
    return [*args, "--chdir", str(cwd), "--", *command]


@functools.lru_cache(maxsize=1)
def why_unavailable() -> str | None:
    """None where bwrap can sandbox this Python (tried once: ``import rnnlab`` in an empty sandbox);
    else why not."""
    with tempfile.TemporaryDirectory(prefix="rnnlab-probe-") as tmp:
        box = Path(tmp) / "box"
        box.mkdir()
        prepare_box(box)
        command = bwrap_command(
            [sys.executable, "-c", "import rnnlab"], box, [tempfile.gettempdir(), Path.home()], box
        )
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=60)
        except FileNotFoundError:
            return f"bubblewrap (bwrap) is not installed; {INSTALL_HINT}"
        except subprocess.TimeoutExpired:
            return "bwrap did not finish a trial run within 60 s"
    if done.returncode != 0:
        last_line = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
        return f"bwrap cannot run here ({last_line})"
    return None


def prepare_box(box: Path) -> None:
    """Hand ``box`` (and all in it) to the sandbox's user."""
    if not drops_to_nobody():
        return
    for root, dirs, files in os.walk(box):
        for name in [root, *(os.path.join(root, n) for n in dirs + files)]:
            os.chown(name, NOBODY, NOBODY, follow_symlinks=False)


def _tasks_of_user(uid: int) -> int:
    import psutil

    total = 0
    for proc in psutil.process_iter(["uids", "num_threads"]):
        with_info = proc.info
        if with_info.get("uids") and with_info["uids"].real == uid:
            total += with_info.get("num_threads") or 1
    return total


def rlimits(limits: Limits, parallel: int = 1) -> Callable[[], None]:
    """A ``preexec_fn`` that sets the per-process caps (memory, file size, no core dumps, a task
    backstop).

    ``RLIMIT_NPROC`` counts every task of the user, so the backstop adds room for the ``parallel``
    sandboxes on top of what the user runs already.
    """
    uid = NOBODY if drops_to_nobody() else os.getuid()
    tasks = _tasks_of_user(uid) + parallel * limits.processes * THREADS_PER_PROCESS
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


def watch(
    process: subprocess.Popen, limits: Limits, timeout_s: float, box: Path | None = None
) -> Usage:
    """Wait for ``process`` (the sandbox); kill its whole tree at the first broken limit and say
    which.

    Memory counted is the private resident memory (RSS less shared pages) of all its processes
    together, sampled every ``POLL_S`` seconds; the box's size every 2 s.
    """
    import psutil

    start = time.monotonic()
    next_box_check = 0.0
    message = ""
    peak_memory = peak_processes = 0
    while process.poll() is None:
        now = time.monotonic()
        if now >= start + timeout_s:
            message = (
                f"stopped at the time limit of {timeout_s:g} s "
                "(an endless loop, or too much training?)"
            )
            break
        try:
            family = [
                psutil.Process(process.pid),
                *psutil.Process(process.pid).children(recursive=True),
            ]
        except psutil.NoSuchProcess:
            continue
        private = 0
        for proc in family:
            try:
                info = proc.memory_info()
            except psutil.Error:
                continue
            private += info.rss - getattr(info, "shared", 0)
        peak_memory, peak_processes = max(peak_memory, private), max(peak_processes, len(family))
        if len(family) > limits.processes:
            message = f"stopped: started more than {limits.processes} processes (the process cap)"
            break
        if private > limits.memory:
            message = (
                f"stopped: used more than {format_size(limits.memory)} of memory (the memory cap)"
            )
            break
        if box is not None and now >= next_box_check:
            next_box_check = now + 2.0
            if _box_bytes(box) > BOX_BYTES:
                message = f"stopped: wrote more than {format_size(BOX_BYTES)} of files"
                break
        time.sleep(POLL_S)
    kill_tree(process.pid)
    process.wait()
    return Usage(message, time.monotonic() - start, peak_memory, peak_processes)


def kill_tree(pid: int) -> None:
    """Kill a process and everything below it (a kernel runs in a session of its own: a process
    group is not enough)."""
    import psutil

    try:
        family = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return
    for proc in family:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
    psutil.wait_procs(family, timeout=10)
