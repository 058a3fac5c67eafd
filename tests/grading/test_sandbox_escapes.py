"""The sandbox against small hostile programs run in it directly (no otter, no notebook): memory in
every form the kernel keeps outside a process's private pages, files deleted while open, host Unix
sockets, and one sandbox's threads against its neighbour's. Each program would escape a cap or
reach the host without the matching defence; each is stopped with a message or refused.
Needs bubblewrap; without it the module is skipped with the reason bwrap gives."""

from __future__ import annotations

import os
import socket
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from rnnlab.grading import limits, sandbox

MIB = 2**20
MEMORY = limits.Limits(memory=64 * MIB, processes=8, threads=64)
HOLD = "\nimport time\nprint('holding', flush=True)\ntime.sleep(60)\n"  # until the watchdog acts


@pytest.fixture(scope="module", autouse=True)
def _needs_bwrap():
    reason = sandbox.why_unavailable()
    if reason:
        pytest.skip(f"the sandbox cannot run here: {reason}")


def _run(
    code: str, folder: Path, caps: limits.Limits = MEMORY, parallel: int = 1
) -> tuple[limits.Usage, str]:
    """Run ``code`` with Python in a fresh sandbox (box in ``folder``), one of ``parallel`` at
    once: how it ended and its output."""
    box = folder / "box"
    (box / "tmp").mkdir(parents=True)
    log = folder / "log"
    env = {"PATH": os.environ.get("PATH", ""), "TMPDIR": str(box / "tmp"), "HOME": str(box)}
    with log.open("wb") as output:
        usage, _ = sandbox.run(
            [sys.executable, "-c", code],
            box,
            hidden=[folder],
            env=env,
            output=output,
            limits=caps,
            timeout_s=30,
            parallel=parallel,
        )
    return usage, log.read_text(errors="replace")


CHUNK = "chunk = b'x' * 2**20\n"
MEMORY_FORMS = {
    # the probe: memfds written, never mapped
    "memfds held open": "import os\n"
    + CHUNK
    + "fds = [os.memfd_create(f'm{i}') for i in range(3)]\n"
    + "for fd in fds:\n    for _ in range(32):\n        os.write(fd, chunk)\n",
    # mapped with libc (Python's mmap keeps a copy of the descriptor), closed, then filled: only
    # the mapping shows it
    "a memfd mapped, then closed": "import ctypes, os\nlibc = ctypes.CDLL(None)\n"
    + "libc.mmap.restype = ctypes.c_void_p\n"
    + "from ctypes import c_int, c_long, c_size_t, c_void_p\n"
    + "libc.mmap.argtypes = [c_void_p, c_size_t, c_int, c_int, c_int, c_long]\n"
    + "fd = os.memfd_create('m')\nos.ftruncate(fd, 96 * 2**20)\n"
    + "kept = libc.mmap(None, 96 * 2**20, 3, 1, fd, 0)  # read and write, shared\nos.close(fd)\n"
    + "ctypes.memset(kept, 1, 96 * 2**20)\n",
    "shared anonymous memory": "import mmap\n"
    + CHUNK
    + "shared = mmap.mmap(-1, 96 * 2**20, flags=mmap.MAP_SHARED)\n"
    + "for i in range(96):\n    shared[i * 2**20:(i + 1) * 2**20] = chunk\n",
    "files in /dev/shm": CHUNK
    + "with open('/dev/shm/x', 'wb') as f:\n    for _ in range(60):\n        f.write(chunk)\n",
}


@pytest.mark.parametrize("form", MEMORY_FORMS)
def test_memory_in_every_form_counts_against_the_cap(form, tmp_path):
    usage, said = _run(MEMORY_FORMS[form] + HOLD, tmp_path)
    # stopped while it held the memory (RLIMIT_DATA keeps its private memory below the cap)
    assert usage.message.startswith("stopped: used more than 64 MiB of memory"), (usage, said)
    assert usage.seconds < 15 and usage.peak_memory > 64 * MIB, usage


def test_system_v_shared_memory_and_queues_are_refused(tmp_path):
    code = (
        "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
        "print('shm', libc.shmget(0, 96 * 2**20, 0o1600), 'msg', libc.msgget(0, 0o1600))\n"
    )
    usage, said = _run(code, tmp_path)
    assert usage.message == "" and "shm -1 msg -1" in said, (usage, said)


def test_files_deleted_while_open_count_against_the_box(tmp_path, monkeypatch):
    monkeypatch.setattr(limits, "BOX_BYTES", 64 * MIB)
    monkeypatch.setattr(limits, "BOX_CHECK_S", limits.POLL_S)
    code = (
        "import os\n"
        + CHUNK
        + "files = [open(f'part{i}', 'wb') for i in range(3)]\n"
        + "for f in files:\n    for _ in range(32):\n        f.write(chunk)\n"
        + "    f.flush()\n    os.unlink(f.name)\n"
    )
    usage, said = _run(code + HOLD, tmp_path)
    # no name left in the box: only the files still open hold its space
    assert not list((tmp_path / "box").glob("part*")), said
    assert usage.message == "stopped: wrote more than 64 MiB of files", (usage, said)


@pytest.fixture
def host_sockets():
    """Unix sockets this (host) process listens on, each in a new folder under /var/tmp, /run and
    the host's /dev/shm, open to every user (as D-Bus's or a database's are)."""
    listening, folders = [], []
    for parent in ("/var/tmp", "/run", "/dev/shm"):
        if not os.access(parent, os.W_OK):
            continue
        folder = tempfile.mkdtemp(prefix="rnnlab-test-", dir=parent)
        os.chmod(folder, 0o755)
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(os.path.join(folder, "s"))
        os.chmod(os.path.join(folder, "s"), 0o777)
        server.listen()
        listening.append(server)
        folders.append(folder)
    yield [s.getsockname() for s in listening]
    for server, folder in zip(listening, folders, strict=True):
        server.close()
        os.unlink(os.path.join(folder, "s"))
        os.rmdir(folder)


def test_no_host_unix_socket_is_reachable(host_sockets, tmp_path):
    assert len(host_sockets) >= 2, host_sockets
    for path in host_sockets:  # each is reachable from outside the sandbox
        with socket.socket(socket.AF_UNIX) as client:
            client.connect(path)
    code = (
        "import socket\n"
        f"for path in {host_sockets!r}:\n"
        "    try:\n"
        "        socket.socket(socket.AF_UNIX).connect(path)\n"
        "        print('connected', path)\n"
        "    except OSError as error:\n"
        "        print('refused', path, type(error).__name__)\n"
    )
    usage, said = _run(code, tmp_path)
    assert usage.message == "" and "connected" not in said, said
    assert said.count("refused") == len(host_sockets), said


THREAD_HOG = (
    """
import os, threading
stop = threading.Event()
started = 0
try:
    for _ in range(1000):
        threading.Thread(target=stop.wait).start()
        started += 1
except RuntimeError:
    pass
print('uid', os.getuid(), 'started', started, flush=True)
"""
    + HOLD
)


def test_each_sandbox_has_its_own_task_budget_and_a_thread_cap(tmp_path):
    caps = limits.Limits(memory=2**30, processes=8, threads=64)
    budget = limits.task_budget(caps)
    with ThreadPoolExecutor(max_workers=2) as pool:
        runs = list(pool.map(lambda i: _run(THREAD_HOG, tmp_path / str(i), caps, 2), range(2)))
    uids, counts = set(), []
    for usage, said in runs:
        words = said.split()
        uids.add(words[words.index("uid") + 1])
        counts.append(int(words[words.index("started") + 1]))
        assert usage.message == "stopped: ran more than 64 threads at once (the thread cap)", usage
    # each got its own whole budget, and no more: neither could take the other's
    assert all(caps.threads <= n < budget for n in counts), counts
    if sandbox.drops_privileges():  # graded as root: a uid of its own each, never nobody's
        assert len(uids) == 2 and "65534" not in uids, uids
