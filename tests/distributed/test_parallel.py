"""rnnlab.distributed: DDP equals one process, the launcher fails fast and leaves nothing behind, parallel wrappers agree."""

from __future__ import annotations

import os
import socket
import textwrap
import time

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnlab import load_checkpoint
from rnnlab.distributed import LaunchTimeout, WorkerFailed, launch
from rnnlab.distributed import launcher as launcher_module
from rnnlab.distributed.comm import LINKS, all_reduce_seconds, cost_table, ring_all_reduce, ring_bytes_per_worker
from rnnlab.distributed.launcher import check_port, last_traceback
from rnnlab.distributed.parallel import (
    LayerPerDeviceLSTM,
    PackedLSTMEncoder,
    data_parallel_status,
    make_data_parallel,
    scatter_gather,
)
from rnnlab.distributed.pipeline import PipelinedLSTM
from rnnlab.distributed.train import (
    build_model,
    load_model,
    make_loader,
    max_weight_difference,
    parse_args,
    setup,
    split_runs,
    train_reference,
)


def _alive(pid: int, wait: float = 10.0) -> bool:
    """True if ``pid`` still runs after ``wait`` seconds (a killed process needs CPU time to die on a busy machine)."""
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
    """Write a tiny worker module (no torch import, so it starts fast) and return the launch env that finds it."""

    def write(name: str, body: str) -> dict[str, str]:
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(body))
        return {"PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}", "PIDS": str(tmp_path)}

    return write


# --- data parallel: 2 processes with half the batch each == 1 process with the whole batch -------------------

def test_two_gloo_processes_end_with_the_weights_of_one(tmp_path):
    # bucketed batches and a loss averaged over real tokens: the ranks hold different token counts each step
    argv = ["--steps", "6", "--global-batch", "32", "--log-every", "3", "--seed", "3", "--task", "next-word", "--bucket"]
    reference, ref_result = train_reference(argv, world_size=2)
    # two runs in one process group: the default --average global, then each rank's own token mean
    launched = launch(2, args=[*argv, "--save", str(tmp_path / "ddp.pt"), "--then", *argv, "--average", "rank", "--save",
                               str(tmp_path / "rank.pt")], timeout=240, stream=False)
    results = [r["runs"][0] for r in launched]
    assert [r["rank"] for r in results] == [0, 1] and all(r["world_size"] == 2 for r in results)
    assert max_weight_difference(reference, load_model(tmp_path / "rank.pt")) > 1e-4  # per-rank token means drift
    config = torch.load(tmp_path / "ddp.pt", weights_only=True)["state"]["config"]
    plain = build_model(**config)  # a plain model, no DDP wrapper: the checkpoint loads into it
    state = load_checkpoint(tmp_path / "ddp.pt", plain)
    assert state["world_size"] == 2 and config["vocab_size"] == reference.rnn.embed.num_embeddings and config["task"] == "next-word"
    diff = max((a - b).abs().max().item() for a, b in zip(reference.state_dict().values(), plain.state_dict().values(), strict=True))
    assert diff <= 1e-5
    assert results[0]["final_loss"] == pytest.approx(ref_result["final_loss"], abs=1e-5)
    assert results[0]["final_loss"] == results[1]["final_loss"]  # the logged loss is the mean over ranks


@settings(max_examples=30, deadline=None)
@given(n=st.integers(8, 60), world=st.sampled_from([1, 2, 3, 4]), per_rank=st.integers(1, 4), epoch=st.integers(0, 3))
def test_rank_shards_are_disjoint_and_together_form_the_single_process_batches(n, world, per_rank, epoch):
    samples = [(torch.tensor([i + 1]), i % 2) for i in range(n)]
    global_batch = world * per_rank
    if global_batch > n:
        return
    single, single_sampler = make_loader(samples, global_batch, 0, 1, seed=5)
    single_sampler.set_epoch(epoch)
    expected = [sorted(b[0].flatten().tolist()) for b in single]
    shards, steps = [], []
    for rank in range(world):
        loader, sampler = make_loader(samples, global_batch, rank, world, seed=5)
        sampler.set_epoch(epoch)
        shards.append(set(sampler))
        steps.append([b[0].flatten().tolist() for b in loader][: len(expected)])
    assert all(a.isdisjoint(b) for i, a in enumerate(shards) for b in shards[i + 1:])
    assert len(set().union(*shards)) == n - n % world  # complete: only the remainder of an uneven split is left out
    assert all(len(s) == len(expected) for s in steps)  # every world size takes the same number of steps
    for k, batch in enumerate(expected):
        assert sorted(x for rank in range(world) for x in steps[rank][k]) == batch


def test_make_loader_rejects_bad_splits():
    samples = [(torch.tensor([1]), 0)] * 10
    with pytest.raises(ValueError, match="split evenly"):
        make_loader(samples, 5, 0, 2, seed=0)
    with pytest.raises(ValueError, match="global_batch"):
        make_loader(samples, 12, 0, 2, seed=0)
    with pytest.raises(ValueError, match="rank"):
        make_loader(samples, 4, 2, 2, seed=0)


def test_command_line_checks_its_numbers_and_splits_runs():
    assert parse_args(["--global-batch", "8"]).global_batch == 8
    with pytest.raises(SystemExit):
        parse_args(["--steps", "0"])
    assert split_runs(["--steps", "2", "--then", "--bucket"]) == [["--steps", "2"], ["--bucket"]] and split_runs([]) == [[]]
    with pytest.raises(SystemExit, match="empty run"):
        split_runs(["--steps", "2", "--then"])


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without a GPU")
def test_cuda_on_a_machine_without_gpus_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "1")
    monkeypatch.setenv("LOCAL_RANK", "0")
    with pytest.raises(ValueError, match="no CUDA GPU"):
        setup("cuda", timeout=5)


# --- the launcher ------------------------------------------------------------------------------------------

def test_launch_returns_what_each_worker_reports(worker_module):
    env = worker_module("ok_worker", """
        import importlib.util, os
        spec = importlib.util.spec_from_file_location("launcher", os.environ["LAUNCHER"])  # without importing torch
        launcher = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(launcher)
        report = launcher.report
        print("hello from", os.environ["RANK"])
        report({"rank": int(os.environ["RANK"]), "world": int(os.environ["WORLD_SIZE"]), "port": os.environ["MASTER_PORT"]})
    """)
    results = launch(2, "ok_worker", env={**env, "LAUNCHER": launcher_module.__file__}, timeout=60, stream=False)
    assert [r["rank"] for r in results] == [0, 1] and {r["world"] for r in results} == {2}
    assert len({r["port"] for r in results}) == 1


def test_a_worker_that_raises_fails_the_launch_fast_with_its_traceback(worker_module, tmp_path):
    env = worker_module("crash_worker", """
        import os, time
        folder = os.environ["PIDS"]
        open(os.path.join(folder, f"pid{os.environ['RANK']}"), "w").write(str(os.getpid()))
        if os.environ["RANK"] == "1":
            while not os.path.exists(os.path.join(folder, "pid0")):  # crash only once the peer is up and waiting
                time.sleep(0.01)
            raise ZeroDivisionError("rank one divided by zero")
        time.sleep(600)  # rank 0 would wait forever for its peer
    """)
    tic = time.monotonic()
    with pytest.raises(WorkerFailed, match="rank 1") as info:
        launch(2, "crash_worker", env=env, timeout=120, stream=False)
    assert time.monotonic() - tic < 30  # not the timeout: the failure is seen as it happens
    assert info.value.rank == 1 and info.value.returncode != 0
    assert "ZeroDivisionError: rank one divided by zero" in info.value.traceback
    assert "Traceback (most recent call last)" in str(info.value)
    assert not _alive(int((tmp_path / "pid0").read_text()))  # the waiting peer was killed


def test_a_hung_worker_times_out_and_leaves_no_process_behind(worker_module, tmp_path):
    env = worker_module("hang_worker", """
        import os, subprocess, sys, time
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        open(os.path.join(os.environ["PIDS"], "child"), "w").write(str(child.pid))
        print("waiting forever", flush=True)
        time.sleep(600)
    """)
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
        env = worker_module("port_worker", """
            import os
            open(os.path.join(os.environ["PIDS"], "port"), "w").write(os.environ["MASTER_PORT"])
        """)
        launch(1, "port_worker", env=env, timeout=60, stream=False)
        assert int((tmp_path / "port").read_text()) != port


# --- model parallel, pipeline, DataParallel pitfalls, the teaching all-reduce ---------------------------------

def test_one_layer_per_device_equals_the_single_device_stack():
    torch.manual_seed(0)
    stack = torch.nn.LSTM(6, 8, num_layers=3, batch_first=True)
    x = torch.randn(5, 7, 6)
    split = LayerPerDeviceLSTM.from_stacked(stack, ["cpu", "cpu", "cpu"])
    assert [str(p.device) for p in split.parameters()][:1] == ["cpu"] and len(split.layers) == 3
    torch.testing.assert_close(split(x), stack(x)[0], rtol=0, atol=1e-6)


def test_devices_that_do_not_exist_are_named():
    with pytest.raises(ValueError, match=r"devices\[1\]"):
        LayerPerDeviceLSTM(4, 4, ["cpu", "cuda:7"])
    with pytest.raises(ValueError, match="devices"):
        LayerPerDeviceLSTM(4, 4, "cpu")
    with pytest.raises(ValueError, match="devices"):
        LayerPerDeviceLSTM(4, 4, [])
    with pytest.raises(ValueError, match="layers"):
        LayerPerDeviceLSTM.from_stacked(torch.nn.LSTM(4, 4, num_layers=2, batch_first=True), ["cpu"])
    with pytest.raises(ValueError, match=r"\(B, T, 4\)"):
        LayerPerDeviceLSTM(4, 4, ["cpu"])(torch.zeros(2, 3, 5))


def test_data_parallel_gather_needs_total_length():
    torch.manual_seed(2)
    x, lengths = torch.randn(4, 6, 3), torch.tensor([6, 5, 2, 1])
    fixed = PackedLSTMEncoder(3, 5)
    whole = fixed(x, lengths)
    torch.testing.assert_close(scatter_gather(fixed, x, lengths, replicas=2), whole, rtol=0, atol=1e-6)
    buggy = PackedLSTMEncoder(3, 5, keep_total_length=False)
    buggy.load_state_dict(fixed.state_dict())
    with pytest.raises(ValueError, match="total_length"):
        scatter_gather(buggy, x, lengths, replicas=2)
    usable, why = data_parallel_status()
    assert usable == (torch.cuda.device_count() >= 2) and "GPU" in why
    if not usable:
        with pytest.raises(ValueError, match="at least 2 GPUs"):
            make_data_parallel(fixed)


@settings(max_examples=40, deadline=None)
@given(workers=st.integers(1, 6), size=st.integers(1, 23), seed=st.integers(0, 10_000))
def test_ring_all_reduce_sums_and_sends_2_n_minus_1_over_n_of_the_bytes(workers, size, seed):
    generator = torch.Generator().manual_seed(seed)
    tensors = [torch.randn(size, generator=generator, dtype=torch.float64) for _ in range(workers)]
    results, sent = ring_all_reduce(tensors)
    total = torch.stack(tensors).sum(0)
    for result in results:
        torch.testing.assert_close(result, total)
    if size % workers == 0:
        assert sent == ring_bytes_per_worker(size * 8, workers)


def test_all_reduce_cost_arithmetic():
    assert ring_bytes_per_worker(1000, 1) == 0 and ring_bytes_per_worker(1000, 2) == 1000
    assert all_reduce_seconds(10**9, 8, bandwidth=1e9, latency=0.0) == pytest.approx(1.75)
    rows = cost_table(4 * 10**6, 0.01, world_sizes=(2, 8))
    assert len(rows) == 2 * len(LINKS) and all(0 < r.comm_share < 1 for r in rows)
    slow = [r for r in rows if r.link.startswith("10 Gb/s")]
    assert slow[1].comm_ms > slow[0].comm_ms
    with pytest.raises(ValueError, match="tensors"):
        ring_all_reduce([])
    with pytest.raises(ValueError, match=r"tensors\[1\]"):
        ring_all_reduce([torch.zeros(3), torch.zeros(4)])


def test_last_traceback_drops_torch_rank_prefixes():
    output = "step 1\n[rank1]: Traceback (most recent call last):\n[rank1]:   File \"x.py\"\n[rank1]: ValueError: boom\n"
    assert last_traceback(output) == 'Traceback (most recent call last):\n  File "x.py"\nValueError: boom'
    assert last_traceback("") == "(the worker printed nothing)"


def test_bucketed_rank_loaders_are_disjoint_and_take_the_same_number_of_steps():
    samples = [(torch.arange(1, 2 + i % 9), i % 2) for i in range(40)]
    loaders = [make_loader(samples, 8, rank, 2, seed=1, bucket=True) for rank in range(2)]
    for _, sampler in loaders:
        sampler.set_epoch(3)
    seen = [[sorted(b) for b in sampler] for _, sampler in loaders]
    assert len(seen[0]) == len(seen[1]) > 0 and all(len(b) == 4 for rank in seen for b in rank)
    flat = [i for rank in seen for b in rank for i in b]
    assert len(flat) == len(set(flat))
    tokens, lengths, labels = next(iter(loaders[0][0]))
    assert tokens.shape[0] == 4 and int(lengths.max()) - int(lengths.min()) <= 2  # neighbouring lengths


def test_comm_widget_logic_and_bench_and_plot_inputs():
    from rnnlab.bench.ddp import format_rows, main, measure
    from rnnlab.plots.distributed import plot_comm_share, plot_drift, plot_step_split, plot_timeline
    from rnnlab.widgets.distributed import comm_explorer, comm_summary

    slow, fast = comm_summary(160.0, 16, "10 Gb/s network", 50.0), comm_summary(160.0, 16, "NVLink (one 8-GPU server)", 50.0)
    assert slow["verdict"] == "communication-bound" and fast["verdict"] == "compute-bound" and slow["sent_mb"] == 300.0
    with pytest.raises(ValueError, match="link"):
        comm_summary(1.0, 2, "carrier pigeon", 1.0)
    ui = comm_explorer()
    ui.children[1].value = 2  # the GPUs slider
    row = {"workers": 2, "samples_per_second": 500.0, "step_ms": 64.0, "compute_ms": 60.0, "comm_ms": 3.0, "grad_mb": 0.6}
    assert "500" in format_rows([row])
    assert plot_step_split([row]) is not None and plot_comm_share(cost_table(10**6, 0.01)) is not None
    pipe = PipelinedLSTM(3, 4, ["cpu", "cpu"], micro_batches=2)
    pipe.train_step(torch.zeros(4, 2, 3), lambda out: out.sum())
    assert len(plot_timeline(pipe.timeline).patches) == 8  # 2 stages × 2 micro-batches × (forward, backward)
    assert len(plot_drift({"exact": 0.0, "dropout": 0.1}, 1e-5).patches) == 2
    for bad in (lambda: plot_step_split([]), lambda: plot_timeline([]), lambda: plot_drift({}, 1e-5), lambda: measure(workers=[0]),
                lambda: measure(timing=0)):
        with pytest.raises(ValueError):
            bad()
    with pytest.raises(SystemExit):
        main(["--help"])
