"""rnnlab.grading.sandbox: the mount plan, the bwrap command and the sandbox's uids; then hostile
submissions against the sandbox: each is contained and scored with a message; last, small hostile
programs run in the sandbox directly (the ``sandboxed`` fixture): System V memory and host sockets.

One tiny hand-made autograder (two questions, 3 points, per-case points) and one parallel batch of
tiny notebooks, each trying one attack, graded once (module fixture) under low caps: a 1 GiB memory
cap, 16 processes, 16 MiB per file, short time limits. The assertions then read that one batch.
The batch needs bubblewrap; without it the batch is skipped with the reason bwrap gives.
"""

from __future__ import annotations

import json
import os
import socket
import tempfile
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import psutil
import pytest

from rnnlab.grading import build, gradebook, grader, limits, sandbox

ROOT = Path(__file__).resolve().parents[2]
LIMITS = limits.Limits(memory=2**30, processes=16)
TIMEOUT_S = 90  # generous: a tiny notebook takes ~5 s alone, more while the suite runs in parallel
LOOP_TIMEOUT_S = 10
DAEMON_MARK = "4242.4242"  # a `sleep` argument no other process on the machine uses

TESTS = {
    # q1: 2 points, split per case (the visible case is the smaller share)
    "q1": {
        "name": "q1",
        "points": [0.5, 1.5],
        "suites": [
            {
                "cases": [
                    {"code": ">>> answer() == 42\nTrue\n", "hidden": False, "locked": False},
                    {
                        "code": ">>> all(answer() == 42 for _ in range(3))\nTrue\n",
                        "hidden": True,
                        "locked": False,
                    },
                ],
                "scored": True,
                "setup": "",
                "teardown": "",
                "type": "doctest",
            }
        ],
    },
    "q2": {
        "name": "q2",
        "points": 1,
        "suites": [
            {
                "cases": [
                    {"code": ">>> double(21) == 42\nTrue\n", "hidden": False, "locked": False}
                ],
                "scored": True,
                "setup": "",
                "teardown": "",
                "type": "doctest",
            }
        ],
    },
}
ANSWER = "def answer():\n    return 42\n\ndef double(x):\n    return 2 * x\n"


def _autograder(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("otter_config.json", json.dumps({"lang": "python"}))
        for name, test in TESTS.items():
            archive.writestr(f"tests/{name}.py", f"OK_FORMAT = True\n\ntest = {test!r}\n")
    return path


def _submission(path: Path, *cells: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(
        nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells]), path
    )
    return path


def _hostile(
    subs: Path, project_file: Path, home_file: Path, autograder: Path
) -> dict[str, tuple[Path, float]]:
    """Every hostile notebook, with its time limit; each also answers correctly after its attack."""
    other = subs / "honest" / "01_tiny.ipynb"
    escape = f"""
import os, subprocess, sys
def attempt(action):
    try:
        action()
        return "done"
    except Exception as error:
        return type(error).__name__
report = {{
    "delete other": attempt(lambda: os.remove({str(other)!r})),
    "write project": attempt(lambda: open({str(project_file)!r}, "w").write("pwned")),
    "write home": attempt(lambda: open({str(home_file)!r}, "w").write("pwned")),
    "write /tmp": attempt(lambda: open("/tmp/pwned", "w").write("pwned")),
    "read autograder": attempt(lambda: open({str(autograder)!r}, "rb").read()),
    "network": attempt(lambda: __import__("socket").create_connection(("1.1.1.1", 53), timeout=2)),
    "64 MB file": attempt(lambda: open("big", "wb").write(bytes(64 * 2**20))),
}}
# a daemon, in a session of its own
subprocess.Popen(["sleep", "{DAEMON_MARK}"], start_new_session=True)
if os.fork() == 0:
    os.setsid()
    os.execvp("sleep", ["sleep", "{DAEMON_MARK}"])
raise RuntimeError(f"escape report {{report}}")
"""
    find_driver = """
import json, os, signal
def driver():  # the otter process this kernel runs under, and its report pipe
    pid = os.getpid()
    while pid > 1:
        pid = int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1])
        argv = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\\0")
        if b"bwrap" not in argv[0] and any(b"CHANNEL_FD" in a for a in argv):
            return pid, int(argv[-2])
pid, channel = driver()
try:  # the driver cannot be inspected (it is undumpable): this fails, nothing forged
    with open(f"/proc/{pid}/fd/{channel}", "w") as pipe:
        pipe.write(json.dumps({"scores": {"q1": 1000, "q2": 1000}, "error": ""}))
finally:
    KILL and os.kill(pid, signal.SIGKILL)
"""
    # otter's own driver unpickles the kernel's results and the log records sent to its port:
    # unpickled there, this writes full marks on the driver's report pipe and exits
    pickled = """
import os, pickle, socket
class Forged:
    def __reduce__(self):
        report = b'{"scores": {"q1": 2, "q2": 1}}'
        code = f"import os, sys; os.write(int(sys.argv[3]), {report!r}); os._exit(0)"
        return (exec, (code,))
payload = pickle.dumps(Forged())
pickle.dump = lambda obj, file, *args, **kwargs: file.write(payload)
for line in open("/proc/net/tcp").readlines()[1:]:  # every listening port in the sandbox
    local, state = line.split()[1], line.split()[3]
    if state == "0A":
        try:
            with socket.create_connection(("127.0.0.1", int(local.split(":")[1], 16)), 1) as port:
                port.sendall(len(payload).to_bytes(4, "big") + payload)
        except OSError:
            pass
"""
    swarm = (
        "import subprocess\nprocs = [subprocess.Popen(['sleep', '60']) for _ in range(40)]\n"
        "import time; time.sleep(60)"
    )
    bloat = (
        "import subprocess, sys, time\ncode = 'import time; x = bytes([1]) * (400 * 2**20); "
        "time.sleep(60)'\n"
        "procs = [subprocess.Popen([sys.executable, '-c', code]) for _ in range(4)]\ntime.sleep(60)"
    )
    cases = {
        # first: their time limits run out while the others are graded
        # no answers: zero, however it stops
        "flood": ("import sys\nwhile True:\n    sys.stdout.write('x' * 2**20)",),
        # endless (asleep: spares the shared cores)
        "loop": (
            "import time\nwhile True:\n    time.sleep(0.1)",
            ANSWER,
        ),
        "honest": (ANSWER,),
        "escape": (escape, ANSWER),
        "forge_and_kill": (
            ANSWER,
            "import os\nos.makedirs('results', exist_ok=True)\n"  # the attack, and more
            'open(\'results/results.json\', \'w\').write(\'{"tests": [{"name": "q1", "score": '
            "1000}]}')\n"
            "KILL = True" + find_driver,
        ),
        "forge_beside": (ANSWER, "KILL = False" + find_driver),
        "hog": ("x = bytearray(3 * 2**30)", ANSWER),
        # reads the hidden tests otter unpacked and raises them, for a gradebook shown to learners
        "leak": (
            ANSWER,
            "import glob, tempfile\n"
            "found = glob.glob(tempfile.gettempdir() + '/**/tests/q1.py', recursive=True)\n"
            "raise RuntimeError(open(found[0]).read() if found else 'no tests found')",
        ),
        "kernel_ir": (ANSWER,),
        "pickled": (pickled,),  # no answers: whatever it forges, it earned nothing
        "bloat": (bloat, ANSWER),
        "swarm": (swarm, ANSWER),
    }
    made = {
        name: (
            _submission(subs / name / "01_tiny.ipynb", *cells),
            LOOP_TIMEOUT_S if name in ("flood", "loop") else TIMEOUT_S,
        )
        for name, cells in cases.items()
    }
    # an editor rewrote its kernelspec to another language's kernel
    renamed = nbformat.read(made["kernel_ir"][0], as_version=4)
    renamed.metadata["kernelspec"] = {"name": "ir", "display_name": "R", "language": "R"}
    nbformat.write(renamed, made["kernel_ir"][0])
    return made


def _daemons() -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        if DAEMON_MARK in (proc.info.get("cmdline") or []):
            found.append(proc)
    return found


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    reason = sandbox.why_unavailable()
    if reason:
        pytest.skip(f"the sandbox cannot run here: {reason}")
    tmp = tmp_path_factory.mktemp("sandbox")
    autograder = _autograder(tmp / "autograders" / "01_tiny.zip")
    # what a submission must not create
    project_file = ROOT / "rnnlab" / "grading" / "pwned-by-test.txt"
    home_file = Path.home() / "pwned-by-rnnlab-test.txt"
    subs = _hostile(tmp / "subs", project_file, home_file, autograder)
    old = limits.FILE_BYTES
    limits.FILE_BYTES = 16 * 2**20  # the flood hits the file cap after 16 MB instead of 256 MB
    try:
        with ThreadPoolExecutor(max_workers=2) as pool:
            futures = {
                name: pool.submit(
                    grader.grade_one,
                    name,
                    path,
                    "01_tiny",
                    autograder,
                    timeout_s,
                    limits=LIMITS,
                    parallel=2,
                )
                for name, (path, timeout_s) in subs.items()
            }
            grades = {name: future.result() for name, future in futures.items()}
    finally:
        limits.FILE_BYTES = old
    return {
        "grades": grades,
        "subs": subs,
        "outside": [project_file, home_file, Path("/tmp/pwned")],
        "autograder": autograder,
        "daemons": _daemons(),
    }


def test_an_honest_submission_scores_full_marks_in_the_sandbox(batch):
    grade = batch["grades"]["honest"]
    assert grade.points == {"q1": 2.0, "q2": 1.0} and grade.possible == 3 and grade.message == "", (
        grade
    )


def test_writes_deletes_reads_and_network_outside_the_box_all_fail(batch):
    grade = batch["grades"]["escape"]
    assert grade.total == 3 and "raised RuntimeError" in grade.message, grade
    assert grade.detail.startswith("RuntimeError: escape report"), grade
    for attack in (
        "delete other",
        "write project",
        "write home",
        "write /tmp",
        "read autograder",
        "network",
        "64 MB file",
    ):
        assert f"'{attack}': " in grade.detail and f"'{attack}': 'done'" not in grade.detail, (
            attack,
            grade.detail,
        )
    assert batch["subs"]["honest"][0].is_file()
    assert not any(path.exists() for path in batch["outside"])
    assert batch["autograder"].is_file()


def test_what_a_submission_raises_never_reaches_the_gradebook(batch, tmp_path):
    grade = batch["grades"]["leak"]
    assert "answer() == 42" in grade.detail, grade  # the probe did read the hidden tests ...
    gradebook.write_csv([grade], tmp_path / "g.csv")
    written = (tmp_path / "g.csv").read_text()
    # ... and the gradebook holds the grader's words only
    assert grade.message == "a cell raised RuntimeError" and "answer()" not in written, grade
    assert grade.total == 3


def test_a_notebook_naming_another_kernel_runs_on_the_course_kernel(batch):
    grade = batch["grades"]["kernel_ir"]
    assert grade.points == {"q1": 2.0, "q2": 1.0} and grade.message == "", grade


def test_no_process_outlives_its_grading(batch):
    assert batch["daemons"] == []


def test_forged_reports_score_zero_with_a_message(batch):
    killed = batch["grades"]["forge_and_kill"]
    beside = batch["grades"]["forge_beside"]
    # its results.json is never read
    assert killed.total == 0 and "exit status" in killed.message, killed
    # the report pipe was out of its reach (the driver is undumpable): its own answers count
    assert "PermissionError" in beside.message and beside.points == {"q1": 2.0, "q2": 1.0}, beside
    assert killed.possible == beside.possible == 3


def test_pickles_for_the_driver_run_nothing_and_earn_nothing(batch):
    grade = batch["grades"]["pickled"]
    # graded as written (no answers), to the end: no forged report, no exit from inside the driver
    assert grade.points == {"q1": 0.0, "q2": 0.0} and grade.message == "", grade


def test_memory_past_the_cap_fails_alone_or_stops_the_sandbox(batch):
    hog, bloat = batch["grades"]["hog"], batch["grades"]["bloat"]
    # one process: its allocation fails
    assert "MemoryError" in hog.message and "cap is 1 GiB" in hog.message and hog.total == 3, hog
    # together: the sandbox stops
    assert bloat.total == 0 and "more than 1 GiB of memory" in bloat.message, bloat


def test_too_many_processes_stop_the_sandbox(batch):
    grade = batch["grades"]["swarm"]
    assert grade.total == 0 and "more than 16 processes" in grade.message, grade


def test_a_flood_of_output_and_an_endless_loop_are_stopped(batch):
    flood, loop = batch["grades"]["flood"], batch["grades"]["loop"]
    # the time limit, the memory cap, a dead kernel or a cell cut short near the cap: each says so
    assert flood.total == 0 and flood.message and flood.usage.seconds < LOOP_TIMEOUT_S + 5, flood
    assert loop.total == 0 and f"time limit of {LOOP_TIMEOUT_S} s" in loop.message, loop


def test_unsandboxed_grading_still_refuses_a_second_report(tmp_path):
    """--unsandboxed drops bwrap only: the caps and the report checks stay (runs where bwrap
    cannot)."""
    autograder = _autograder(tmp_path / "01_tiny.zip")
    cases = _hostile(tmp_path / "subs", tmp_path / "p", tmp_path / "h", autograder)
    with ThreadPoolExecutor(max_workers=2) as pool:
        honest, beside = pool.map(
            lambda name: grader.grade_one(
                name,
                cases[name][0],
                "01_tiny",
                autograder,
                TIMEOUT_S,
                limits=LIMITS,
                sandboxed=False,
            ),
            ["honest", "forge_beside"],
        )
    assert honest.points == {"q1": 2.0, "q2": 1.0} and honest.message == "", honest
    if "PermissionError" in beside.message:  # the undumpable driver: only root reaches its pipe
        assert beside.points == {"q1": 2.0, "q2": 1.0}, beside
    else:  # root's kernel wrote a second report beside the real one: both are refused
        assert beside.total == 0 and "rejected" in beside.message, beside


def test_the_sandbox_hides_the_project_but_shows_its_package_and_python(tmp_path, monkeypatch):
    import sys

    # sys.path as a fresh `python -m rnnlab grade` has it: in the whole suite pytest has put
    # exercises/ (the folder of its conftest.py) on this process's sys.path, which the plan would
    # rightly show.
    monkeypatch.setattr(
        sys, "path", ["", *(p for p in sys.path if p.startswith((sys.prefix, sys.base_prefix)))]
    )
    plan = sandbox.mount_plan([build.ROOT, tmp_path, tmp_path / "missing"])

    def visible(path: Path) -> bool:  # the deepest step above a path decides
        steps = [kind for kind, p in plan if p == path.resolve() or p in path.resolve().parents]
        return not steps or steps[-1] == "show"

    assert [len(p.parts) for _, p in plan] == sorted(len(p.parts) for _, p in plan)  # parents first
    assert (
        not visible(build.ROOT / "exercises" / "source")
        and not visible(tmp_path)
        and not visible(build.ROOT)
    )
    assert (
        visible(build.ROOT / "rnnlab")
        and visible(Path(sys.base_prefix))
        and visible(Path(sys.prefix))
    )
    assert ("hide", (tmp_path / "missing").resolve()) not in plan


def test_bwrap_command_opens_only_the_way_down_inside_hidden_folders(tmp_path):
    box = tmp_path / "a" / "b" / "box"
    box.mkdir(parents=True)
    uid = sandbox.UID_BASE if sandbox.drops_privileges() else None
    args = sandbox.bwrap_command(["true"], box, [tmp_path], box, uid=uid)
    flagged = {
        flag: [args[i + 1] for i, a in enumerate(args) if a == flag]
        for flag in ("--tmpfs", "--bind", "--ro-bind", "--remount-ro")
    }
    chmods = [Path(args[i + 2]) for i, a in enumerate(args) if a == "--chmod"]
    root = tmp_path.resolve()
    assert (
        flagged["--tmpfs"][-1] == str(root)
        and flagged["--bind"] == [str(box.resolve())]
        and str(root) in flagged["--remount-ro"]
    )
    # the data folders are hidden too (the temporary folder, /run, /var, homes), the system not
    assert {"/run", "/var", "/tmp", "/home"} & set(flagged["--tmpfs"]) == {
        p for p in ("/run", "/var", "/tmp", "/home") if Path(p).is_dir()
    }
    assert not {"/usr", "/etc"} & set(flagged["--tmpfs"])
    # only the way down: folders inside a hidden one above a folder shown or bound
    hidden = [Path(p) for p in flagged["--tmpfs"]]
    mounted = [Path(p) for p in flagged["--bind"] + flagged["--ro-bind"]]
    assert all(
        any(h in c.parents for h in hidden) and any(c in m.parents for m in mounted) for c in chmods
    ), chmods
    assert sorted(c for c in chmods if root in c.parents) == [root / "a", root / "a" / "b"]
    assert min(i for i, a in enumerate(args) if a == "--remount-ro") > max(
        i for i, a in enumerate(args) if a in ("--bind", "--chmod")
    )
    namespaces = (
        {"--unshare-all"} if "--unshare-all" in args else {"--unshare-net", "--unshare-pid"}
    )
    assert {"--die-with-parent", "--new-session", *namespaces} <= set(args)
    assert args[args.index("--") + 1 :][-1] == "true"


def test_sandbox_uids_lie_far_above_accounts_or_at_the_top_of_a_containers_range(tmp_path):
    machine, rootless = tmp_path / "machine", tmp_path / "rootless"
    machine.write_text("         0          0 4294967295\n")
    rootless.write_text("0 1000 1\n1 100000 65536\n")  # a rootless container's map
    slots = sandbox.UID_SLOTS
    assert sandbox._sandbox_uids(machine) == range(sandbox.UID_BASE, sandbox.UID_BASE + slots)
    assert sandbox._sandbox_uids(rootless) == range(65534 - slots, 65534)  # below nobody


def test_system_v_shared_memory_and_queues_are_refused(tmp_path, sandboxed):
    code = (
        "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
        "print('shm', libc.shmget(0, 96 * 2**20, 0o1600), 'msg', libc.msgget(0, 0o1600))\n"
    )
    usage, said = sandboxed(code, tmp_path)
    assert usage.message == "" and "shm -1 msg -1" in said, (usage, said)


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


def test_no_host_unix_socket_is_reachable(host_sockets, tmp_path, sandboxed):
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
    usage, said = sandboxed(code, tmp_path)
    assert usage.message == "" and "connected" not in said, said
    assert said.count("refused") == len(host_sockets), said


def test_the_command_starts_with_no_capability_and_never_as_root(tmp_path, sandboxed):
    # bwrap hands the prelude the capabilities it needs for the IPC settings and the uid: none
    # may reach the submission
    code = "print(open('/proc/self/status').read())"
    usage, said = sandboxed(code, tmp_path)
    status = dict(line.split(":\t", 1) for line in said.splitlines() if ":\t" in line)
    assert usage.message == "", usage
    for field in ("CapEff", "CapPrm", "CapAmb"):
        assert int(status[field], 16) == 0, (field, status[field])
    assert status["NoNewPrivs"].strip() == "1"
    assert all(int(uid) != 0 for uid in status["Uid"].split()), status["Uid"]
