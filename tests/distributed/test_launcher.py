"""rnnlab.distributed.launcher: workers report back, a failure is fast and named, nothing is left
behind."""

from __future__ import annotations

import os
import socket
import textwrap
import time

import pytest

from rnnlab.distributed import LaunchTimeout, WorkerFailed, launch
from rnnlab.distributed import launcher as launcher_module
from rnnlab.distributed.launcher import check_port, last_traceback


def _alive(pid: int, wait: float = 10.0) -> bool:
    """True if ``pid`` still runs after ``wait`` seconds (a killed process needs CPU time to die on
    a busy machine)."""
    deadline = time.monotonic() + wait
    while True:
        try:
            os.kill(pid, 0)
            with open(f"/proc/{pid}/stat") as handle:  # a zombie is dead too
                if handle.read().split(")")[-1].split()[0] == "Z":
                    return False
        except (ProcessLookupError, FileNotFoundError):
            return False
        if time.monotonic() > deadline:
            return True
        time.sleep(0.05)


@pytest.fixture
def worker_module(tmp_path):
    """Write a tiny worker module (no torch import, so it starts fast) and return the launch env
    that finds it."""

    def write(name: str, body: str) -> dict[str, str]:
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(body))
        return {
            "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
            "PIDS": str(tmp_path),
        }

    return write


def test_launch_returns_what_each_worker_reports(worker_module):
    env = worker_module(
        "ok_worker",
        """
        import importlib.util, os
        # without importing torch
        spec = importlib.util.spec_from_file_location("launcher", os.environ["LAUNCHER"])
        launcher = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(launcher)
        report = launcher.report
        print("hello from", os.environ["RANK"])
        world = int(os.environ["WORLD_SIZE"])
        report({"rank": int(os.environ["RANK"]), "world": world, "port": os.environ["MASTER_PORT"]})
    """,
    )
    results = launch(
        2, "ok_worker", env={**env, "LAUNCHER": launcher_module.__file__}, timeout=60, stream=False
    )
    assert [r["rank"] for r in results] == [0, 1] and {r["world"] for r in results} == {2}
    assert len({r["port"] for r in results}) == 1


def test_a_worker_that_raises_fails_the_launch_fast_with_its_traceback(worker_module, tmp_path):
    env = worker_module(
        "crash_worker",
        """
        import os, time
        folder = os.environ["PIDS"]
        open(os.path.join(folder, f"pid{os.environ['RANK']}"), "w").write(str(os.getpid()))
        if os.environ["RANK"] == "1":
            # crash only once the peer is up and waiting
            while not os.path.exists(os.path.join(folder, "pid0")):
                time.sleep(0.01)
            raise ZeroDivisionError("rank one divided by zero")
        time.sleep(600)  # rank 0 would wait forever for its peer
    """,
    )
    tic = time.monotonic()
    with pytest.raises(WorkerFailed, match="rank 1") as info:
        launch(2, "crash_worker", env=env, timeout=120, stream=False)
    assert time.monotonic() - tic < 30  # not the timeout: the failure is seen as it happens
    assert info.value.rank == 1 and info.value.returncode != 0
    assert "ZeroDivisionError: rank one divided by zero" in info.value.traceback
    assert "Traceback (most recent call last)" in str(info.value)
    assert not _alive(int((tmp_path / "pid0").read_text()))  # the waiting peer was killed


def test_a_hung_worker_times_out_and_leaves_no_process_behind(worker_module, tmp_path):
    env = worker_module(
        "hang_worker",
        """
        import os, subprocess, sys, time
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        open(os.path.join(os.environ["PIDS"], "child"), "w").write(str(child.pid))
        print("waiting forever", flush=True)
        time.sleep(600)
    """,
    )
    with pytest.raises(LaunchTimeout, match="still running") as info:
        launch(1, "hang_worker", env=env, timeout=3, stream=False)
    assert isinstance(info.value, TimeoutError) and "waiting forever" in info.value.outputs[0]
    assert not _alive(int((tmp_path / "child").read_text()))  # even the worker's own child is gone


def test_bad_launch_arguments_are_clear_errors():
    with pytest.raises(ValueError, match="nprocs"):
        launch(0)
    with pytest.raises(TypeError, match="nprocs"):
        launch("2")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="timeout"):
        launch(1, timeout=0)
    with pytest.raises(TypeError, match="args"):
        launch(1, args="--steps 3")  # type: ignore[arg-type]


def test_a_port_in_use_is_named_and_the_default_picks_a_free_one(worker_module, tmp_path):
    with socket.socket() as busy:
        busy.bind(("", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(ValueError, match=f"port {port} is in use"):
            launch(1, port=port)
        with pytest.raises(ValueError, match="port must be"):
            check_port(70000)
        env = worker_module(
            "port_worker",
            """
            import os
            open(os.path.join(os.environ["PIDS"], "port"), "w").write(os.environ["MASTER_PORT"])
        """,
        )
        launch(1, "port_worker", env=env, timeout=60, stream=False)
        assert int((tmp_path / "port").read_text()) != port


def test_last_traceback_drops_torch_rank_prefixes():
    output = (
        "step 1\n[rank1]: Traceback (most recent call last):\n"
        '[rank1]:   File "x.py"\n[rank1]: ValueError: boom\n'
    )
    assert (
        last_traceback(output)
        == 'Traceback (most recent call last):\n  File "x.py"\nValueError: boom'
    )
    assert last_traceback("") == "(the worker printed nothing)"
