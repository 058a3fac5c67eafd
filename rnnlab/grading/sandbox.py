"""Run one command (a submission's grading) inside a bubblewrap (``bwrap``) sandbox, under the caps
of :mod:`rnnlab.grading.limits`.

Grading executes the learners' code, so the teacher's machine must be protected from it. The
sandbox (Debian's ``bubblewrap`` package) gives the grading process:

- the whole file system read-only, with every top-level folder that holds data rather than the
  system (``/home``, ``/root``, ``/run``, ``/var``, ``/tmp``, ``/srv``, ``/mnt``, any other not in
  `SYSTEM_FOLDERS`), the project, the exercise masters, the autograders and the submissions
  folder hidden behind empty read-only folders; only what Python needs is shown again, read-only
  (its prefix, ``sys.path`` folders outside those hidden ones, the ``rnnlab`` package). So no host
  socket in those folders (D-Bus, a database, a JupyterLab, ``/var/tmp``) can be reached: a network
  namespace does not isolate sockets that live in the file system;
- one writable folder, the submission's own box;
- no network (its own network namespace: loopback only), its own PID namespace (every process it
  starts dies with it), its own IPC namespace with System V shared memory and message queues
  refused (memory no process holds), its own UTS namespace, a minimal ``/dev`` (no GPU) with a
  small ``/dev/shm`` of its own;
- its own task budget: when grading runs as root, a uid of its own (never root, never shared with
  a sandbox running beside it, see :func:`job_uid`); otherwise a user namespace of its own, inside
  which the kernel counts its tasks apart from the teacher's.
"""

from __future__ import annotations

import contextlib
import functools
import os
import pwd
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO

from .limits import Limits, Usage, rlimits, task_budget, watch

# /dev/shm is memory: keep it small (semaphores, small tensors); the watchdog counts what it holds
SHM_BYTES = 64 * 2**20
# top-level folders a sandbox sees (read-only): the system; every other one is hidden
SYSTEM_FOLDERS = frozenset(
    {"bin", "dev", "etc", "lib", "lib32", "lib64", "libx32", "opt", "proc", "sbin", "sys", "usr"}
    | {"nix", "gnu"}  # where NixOS and Guix keep every program and library
)
# uids for sandboxes when grading runs as root: far above any account, one per running sandbox
# (see _sandbox_uids where the user namespace maps fewer)
UID_BASE = 1_500_000_000
UID_SLOTS = 4096
INSTALL_HINT = "install it with: sudo apt-get install bubblewrap"


def drops_privileges() -> bool:
    """Whether the sandbox gives up root for a uid of its own: grading as root must not hand root to
    learners' code."""
    return os.geteuid() == 0


def _uid_in_use(uid: int) -> bool:
    """Whether ``uid`` names an account or runs a process (then no sandbox may take it)."""
    import psutil

    with contextlib.suppress(KeyError):
        pwd.getpwuid(uid)
        return True
    return any(uid in (proc.info.get("uids") or ()) for proc in psutil.process_iter(["uids"]))


def _sandbox_uids(uid_map: str | os.PathLike = "/proc/self/uid_map") -> range:
    """`UID_SLOTS` uids this user namespace can switch to: from `UID_BASE` where it maps them (a
    machine, a rootful container), else the top of its largest range below ``nobody`` (65534; a
    rootless container maps 65,536 uids). Its gids are taken to mirror its uids."""
    wanted = range(UID_BASE, UID_BASE + UID_SLOTS)
    with open(uid_map) as lines:
        mapped = [range(int(f[0]), int(f[0]) + int(f[2])) for f in map(str.split, lines)]
    if any(wanted[0] in r and wanted[-1] in r for r in mapped):
        return wanted
    largest = max(mapped, key=len)
    top = min(largest.stop, 65534)
    return range(max(largest.start, top - UID_SLOTS), top)


@contextlib.contextmanager
def job_uid() -> Iterator[int | None]:
    """A uid no other sandbox, account or process has, held while one sandbox runs; ``None`` when
    grading does not run as root (the sandbox's user namespace keeps its tasks apart instead).

    ``RLIMIT_NPROC`` counts the tasks of a uid: sandboxes sharing one uid would share one budget,
    and one could starve the other. A uid is claimed by binding an abstract Unix socket named after
    it, which the kernel releases when the claim is closed or its process dies, so parallel jobs
    and parallel grading runs never take the same one.
    """
    if not drops_privileges():
        yield None
        return
    candidates = _sandbox_uids()
    for uid in candidates:
        claim = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            claim.bind(f"\0rnnlab-grading-uid-{uid}")
        except OSError:
            claim.close()
            continue
        with claim:
            if not _uid_in_use(uid):
                yield uid
                return
    raise RuntimeError(f"no free uid for a sandbox in {candidates[0]}..{candidates[-1]}")


def _data_folders() -> list[Path]:
    """The top-level folders of ``/`` a sandbox must not see: all but `SYSTEM_FOLDERS`."""
    return [
        p
        for p in Path("/").iterdir()
        if p.name not in SYSTEM_FOLDERS and p.is_dir() and not p.is_symlink()
    ]


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


# Runs first in every sandbox (``python -I -S``: nothing from the box or the environment is
# imported), with the capabilities bwrap added for it, then becomes the command: System V shared
# memory and message queues off in the sandbox's own IPC namespace; the task budget; when grading
# runs as root, the sandbox's own uid (setuid clears every capability); no ambient capability left,
# so the command starts with none (bwrap has set no_new_privs: nothing inside can gain any again).
_PRELUDE = """\
import ctypes, os, resource, sys
tasks, uid = int(sys.argv[1]), int(sys.argv[2])
for name in ("shmmni", "msgmni"):
    with open(f"/proc/sys/kernel/{name}", "w") as setting:
        setting.write("0")
resource.setrlimit(resource.RLIMIT_NPROC, (tasks, tasks))
if uid >= 0:
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)
if ctypes.CDLL(None, use_errno=True).prctl(47, 4, 0, 0, 0) != 0:  # PR_CAP_AMBIENT_CLEAR_ALL
    sys.exit("the sandbox could not drop its capabilities")
os.execv(sys.argv[3], sys.argv[3:])
"""


def bwrap_command(
    command: Sequence[str],
    box: Path,
    hidden: Iterable[str | os.PathLike],
    cwd: Path,
    shown: Iterable[str | os.PathLike] = (),
    uid: int | None = None,
    tasks: int = task_budget(Limits()),
) -> list[str]:
    """``command`` wrapped in bwrap, run as ``uid`` (when grading as root) within ``tasks`` tasks.

    Namespaces: PID, network, IPC, UTS, cgroup, and user (with no nested ones) unless grading runs
    as root, whose sandbox takes ``uid`` instead. Mounts: ``/`` read-only, a minimal ``/dev`` with
    a small ``/dev/shm``, the steps of :func:`mount_plan` for ``hidden`` and the data folders (a
    hidden folder is an empty read-only tmpfs), ``box`` writable.
    """
    if uid is None and drops_privileges():
        raise ValueError("grading as root needs a uid for the sandbox (see job_uid)")
    caps = ["--cap-add", "CAP_SYS_ADMIN"]  # for the prelude's IPC settings only
    if uid is not None:
        namespaces = [
            "--unshare-pid",
            "--unshare-net",
            "--unshare-ipc",
            "--unshare-uts",
            "--unshare-cgroup-try",
            *caps,
            "--cap-add",
            "CAP_SETUID",
            "--cap-add",
            "CAP_SETGID",
        ]
    else:
        namespaces = ["--unshare-all", "--unshare-user", "--disable-userns", *caps]
    prelude = [
        sys.executable,
        "-I",
        "-S",
        "-c",
        _PRELUDE,
        str(tasks),
        str(-1 if uid is None else uid),
    ]
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
    for kind, path in [*mount_plan([*_data_folders(), *hidden], shown), ("box", box)]:
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
    return [*args, "--chdir", str(cwd), "--", *prelude, *command]


def prepare_box(box: Path, uid: int | None) -> None:
    """Hand ``box`` (and all in it) to the sandbox's ``uid`` (None: the grader's own user)."""
    if uid is None:
        return
    for root, dirs, files in os.walk(box):
        for name in [root, *(os.path.join(root, n) for n in dirs + files)]:
            os.chown(name, uid, uid, follow_symlinks=False)


def _close(fds: list[int]) -> None:
    """Close and forget every descriptor in ``fds``."""
    while fds:
        os.close(fds.pop())


def run(
    command: Sequence[str],
    box: Path,
    *,
    hidden: Iterable[str | os.PathLike],
    env: dict[str, str],
    output: IO[bytes],
    limits: Limits,
    timeout_s: float,
    parallel: int = 1,
    pass_fds: Sequence[int] = (),
    sandboxed: bool = True,
) -> tuple[Usage, int]:
    """Run ``command`` in a sandbox whose only writable folder is ``box`` (also its working folder),
    under ``limits`` and ``timeout_s``: how it ended (:func:`rnnlab.grading.limits.watch`) and its
    exit status.

    Its output goes to ``output``; ``pass_fds`` are handed over: the sandbox inherits them and this
    process closes them once it started. ``parallel`` is how many sandboxes run at once (for the
    task pool of a user that runs them all). ``sandboxed=False`` runs ``command`` without bwrap,
    under the caps only: for code the teacher trusts.
    """
    box = Path(box)
    handed = list(pass_fds)
    try:
        with job_uid() if sandboxed else contextlib.nullcontext() as uid:
            if sandboxed:
                prepare_box(box, uid)
                command = bwrap_command(
                    command, box, hidden, cwd=box, uid=uid, tasks=task_budget(limits)
                )
            process = subprocess.Popen(
                command,
                cwd=box,
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                pass_fds=handed,
                preexec_fn=rlimits(limits, parallel, own_uid=uid is not None),
            )
            _close(handed)
            usage = watch(process, limits, timeout_s, box)
    finally:
        _close(handed)
    return usage, process.returncode


@functools.lru_cache(maxsize=1)
def why_unavailable() -> str | None:
    """None where bwrap can sandbox this Python (tried once: ``import rnnlab`` in an empty sandbox);
    else why not."""
    with tempfile.TemporaryDirectory(prefix="rnnlab-probe-") as tmp:
        box = Path(tmp) / "box"
        box.mkdir()
        log = Path(tmp) / "log"
        try:
            with log.open("wb") as output:
                usage, status = run(
                    [sys.executable, "-c", "import rnnlab"],
                    box,
                    hidden=[Path.home()],
                    env={k: v for k, v in os.environ.items() if k in ("PATH", "PYTHONPATH")},
                    output=output,
                    limits=Limits(),
                    timeout_s=60,
                )
        except FileNotFoundError:
            return f"bubblewrap (bwrap) is not installed; {INSTALL_HINT}"
        said = log.read_text(errors="replace").strip().splitlines()
    if usage.message:
        return f"bwrap did not finish a trial run ({usage.message})"
    if status != 0:
        return f"bwrap cannot run here ({(said or [f'exit status {status}'])[-1]})"
    return None
