"""rnnlab.grading.limits against small hostile programs run in the sandbox directly (the
``sandboxed`` fixture): memory in every form the kernel keeps outside a process's private pages,
files deleted while still open, and two thread hogs side by side. Each would pass its cap unseen,
or starve its neighbour, without the matching count; each is stopped with a message. Then the
sizes a teacher types and reads."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from rnnlab.grading import limits, sandbox

MIB = 2**20
MEMORY = limits.Limits(memory=64 * MIB, processes=8, threads=64)
HOLD = "\nimport time\nprint('holding', flush=True)\ntime.sleep(60)\n"  # until the watchdog acts


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
def test_memory_in_every_form_counts_against_the_cap(form, tmp_path, sandboxed):
    usage, said = sandboxed(MEMORY_FORMS[form] + HOLD, tmp_path, MEMORY)
    # stopped while it held the memory (RLIMIT_DATA keeps its private memory below the cap)
    assert usage.message.startswith("stopped: used more than 64 MiB of memory"), (usage, said)
    assert usage.seconds < 15 and usage.peak_memory > 64 * MIB, usage


def test_files_deleted_while_open_count_against_the_box(tmp_path, monkeypatch, sandboxed):
    monkeypatch.setattr(limits, "BOX_BYTES", 64 * MIB)
    monkeypatch.setattr(limits, "BOX_CHECK_S", limits.POLL_S)
    code = (
        "import os\n"
        + CHUNK
        + "files = [open(f'part{i}', 'wb') for i in range(3)]\n"
        # each name goes before a byte is written, so none is left whenever the box is stopped
        + "for f in files:\n    os.unlink(f.name)\n"
        + "for f in files:\n    for _ in range(32):\n        f.write(chunk)\n    f.flush()\n"
    )
    usage, said = sandboxed(code + HOLD, tmp_path, MEMORY)
    # no name left in the box: only the files still open hold its space
    assert not list((tmp_path / "box").glob("part*")), said
    assert usage.message == "stopped: wrote more than 64 MiB of files", (usage, said)


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


def test_each_sandbox_has_its_own_task_budget_and_a_thread_cap(tmp_path, sandboxed):
    caps = limits.Limits(memory=2**30, processes=8, threads=64)
    budget = limits.task_budget(caps)
    with ThreadPoolExecutor(max_workers=2) as pool:
        runs = list(pool.map(lambda i: sandboxed(THREAD_HOG, tmp_path / str(i), caps, 2), range(2)))
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


def test_sizes_read_and_print_in_powers_of_1024():
    assert [limits.parse_size(t) for t in ("4G", "512M", "1.5g", "2048", "3GiB")] == [
        4 * 2**30,
        512 * 2**20,
        3 * 2**29,
        2048,
        3 * 2**30,
    ]
    assert [limits.format_size(n) for n in (4 * 2**30, 512 * 2**20, 100)] == [
        "4 GiB",
        "512 MiB",
        "100 B",
    ]
    with pytest.raises(ValueError, match="size must look like"):
        limits.parse_size("4 gigs")
    with pytest.raises(TypeError, match="size must be a string"):
        limits.parse_size(4)
    with pytest.raises(TypeError, match="memory must be an int"):
        limits.Limits(memory=1.5)
