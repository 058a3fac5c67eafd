"""``python -m rnnlab bench unroll``: five LSTM runners, and three ways to make long sequences fit,
measured.

What is measured, and how:

- time: forward + backward (``outputs.sum() + h_last.sum()``) after warm-up runs, repeated with
  every contestant interleaved (each repeat runs all of them, in a rotating order, so a busy machine
  slows them alike); medians in milliseconds, and ratios as the median of side-by-side (same repeat)
  ratios;
- work: the matrix-multiply floating-point operations of forward + backward, counted by
  ``torch.utils.flop_counter.FlopCounterMode`` with oneDNN and cuDNN switched off for the count
  (their fused LSTM kernels are opaque to it; the ATen fallback runs the same products).
  Deterministic;
- peak memory: the most bytes allocated at once during forward + backward, above what was allocated
  before, recomputation included. CUDA: ``torch.cuda.max_memory_allocated``. CPU (which has no such
  counter): the allocation and free events of the CPU allocator recorded by ``torch.profiler`` with
  ``profile_memory=True``, replayed in time order;
- the strategies against full backpropagation over ``T`` steps with the fused kernel: activation
  checkpointing (segments of ≈ √T steps; the recomputed steps counted), ``save_on_cpu`` (TF1's
  ``swap_memory``: on a CPU it moves nothing), and truncated BPTT (chunks of a fixed length, the
  state carried but detached);
- `tbptt_forecast`: what truncation costs in accuracy, on the shipped monthly sunspot series.

On a GPU, ``python -m rnnlab bench unroll --device cuda --lengths 100 400 1600`` regenerates the
tables.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch._C._profiler import _EventType
from torch.profiler import ProfilerActivity, profile
from torch.utils.flop_counter import FlopCounterMode

from ..checks import check_int, check_number, check_positive
from ..config import pick_device, synchronize
from ..data.sunspots import load_sunspots
from ..models.unroll import (
    RUNNERS,
    NextStepLSTM,
    StaticUnroller,
    StepCounter,
    fit_next_step,
    make_lstm,
    run_checkpointed,
    run_fused,
    runners,
)

__all__ = [
    "STRATEGIES",
    "agreement",
    "beyond_longest",
    "build_times",
    "compare",
    "format_strategies",
    "format_table",
    "main",
    "make_batch",
    "matmul_flops",
    "minor_page_faults",
    "peak_bytes",
    "strategies",
    "sweep",
    "tbptt_forecast",
    "time_steps",
    "training_step",
]

STRATEGIES = ("checkpoint", "save_on_cpu", "tbptt")

Call = Callable[[], tuple[torch.Tensor, torch.Tensor]]
Step = Callable[[], None]


def _nonempty(name: str, values: Sequence[Any]) -> None:
    if not values:
        raise ValueError(f"{name} is empty: give at least one value")


def make_batch(
    batch_size: int,
    max_len: int,
    input_size: int,
    *,
    real_fraction: float = 0.5,
    seed: int = 0,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
) -> tuple[torch.Tensor, torch.Tensor]:
    """A random padded batch ``(x, lengths)`` whose lengths fill about ``real_fraction`` of the
    ``B × T`` grid.

    Lengths are ``T · u^p`` over evenly spaced ``u`` in (0, 1] with ``p = 1/real_fraction − 1`` (so
    their mean is about ``real_fraction · T``, the longest is exactly ``T``), shuffled so they are
    unsorted.
    """
    for name, value in (
        ("batch_size", batch_size),
        ("max_len", max_len),
        ("input_size", input_size),
    ):
        check_int(name, value, minimum=1)
    check_number("real_fraction", real_fraction, above=0, maximum=1)
    generator = torch.Generator().manual_seed(seed)
    u = torch.arange(1, batch_size + 1, dtype=torch.float64) / batch_size
    lengths = (max_len * u ** (1 / real_fraction - 1)).round().clamp(1, max_len).to(torch.int64)
    lengths = lengths[torch.randperm(batch_size, generator=generator)]
    x = torch.randn(batch_size, max_len, input_size, generator=generator, dtype=dtype)
    return x.to(device), lengths


def training_step(call: Call, params: Sequence[nn.Parameter]) -> Step:
    """A step that clears ``params``' gradients, runs ``call()`` and backpropagates
    ``outputs.sum() + h_last.sum()``."""

    def step() -> None:
        for p in params:
            p.grad = None
        outputs, h_last = call()
        (outputs.sum() + h_last.sum()).backward()

    return step


def time_steps(
    steps: Mapping[str, Step],
    *,
    repeats: int = 7,
    warmup: int = 2,
    device: str | torch.device = "cpu",
) -> dict[str, list[float]]:
    """Milliseconds of each step, ``repeats`` times after ``warmup`` untimed rounds.

    Steps are interleaved, in an order that rotates each repeat, so noise from a shared machine
    falls on all of them alike, and timing ``i`` of two steps was taken side by side. Returns name →
    list.
    """
    if not steps:
        raise ValueError("steps is empty: give at least one name → step")
    check_positive(repeats=repeats)
    check_int("warmup", warmup, minimum=0)
    device = torch.device(device)
    names = list(steps)
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(warmup + repeats):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            synchronize(device)
            start = time.perf_counter()
            steps[name]()
            synchronize(device)
            if r >= warmup:
                times[name].append(1000 * (time.perf_counter() - start))
    return times


def _paired_ratio(times: Sequence[float], baseline: Sequence[float]) -> float:
    """Median over repeats of ``times[i] / baseline[i]``: each pair ran side by side, so load drift
    cancels."""
    return statistics.median(t / b for t, b in zip(times, baseline, strict=True))


@contextlib.contextmanager
def _quiet_native_stderr() -> Iterator[None]:
    """Silence what C++ code writes to file descriptor 2 (the profiler logs every start and stop
    there); Python errors still raise."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _cpu_peak_bytes(step: Step) -> int:
    """Peak bytes held by the CPU allocator during ``step()``, above the start, from the profiler's
    allocation events."""
    with (
        _quiet_native_stderr(),
        profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof,
    ):
        step()
    events = []
    stack = list(prof.profiler.kineto_results.experimental_event_tree())
    while stack:
        node = stack.pop()
        stack.extend(node.children)
        if node.typed[0] == _EventType.Allocation and node.typed[1].device.type == "cpu":
            events.append((node.start_time_ns, node.typed[1].ptr, node.typed[1].alloc_size))
    live: dict[int, int] = {}
    held = peak = 0
    for _, ptr, size in sorted(events):
        if size > 0:
            live[ptr] = size
            held += size
        elif ptr in live:  # frees of blocks allocated before the step are not ours
            held -= live.pop(ptr)
        peak = max(peak, held)
    return peak


def peak_bytes(step: Step, device: str | torch.device = "cpu") -> int:
    """Most bytes allocated at once on ``device`` during ``step()``, above what was allocated
    before.

    Counts everything the step allocates, what recomputation allocates during backward included
    (which ``saved_tensors_hooks`` would miss). CUDA: ``max_memory_allocated``; CPU: profiler
    events.
    """
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        before = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        step()
        torch.cuda.synchronize(device)
        return torch.cuda.max_memory_allocated(device) - before
    if device.type != "cpu":
        raise ValueError(f"device must be 'cpu' or 'cuda[:N]' to measure peak memory, got {device}")
    return _cpu_peak_bytes(step)


def minor_page_faults(step: Step) -> int | None:
    """Minor page faults of this process during ``step()`` (fresh memory pages the OS had to map);
    None on Windows.

    Large blocks freed back to the OS and allocated again are touched page by page, each a fault:
    part of what memory costs in time on a CPU.
    """
    if sys.platform == "win32":
        return None
    import resource

    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    step()
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


@contextlib.contextmanager
def _fused_kernels_off() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="TF32 acceleration on top of oneDNN")
        with torch.backends.mkldnn.flags(enabled=False), torch.backends.cudnn.flags(enabled=False):
            yield


def matmul_flops(step: Step) -> int:
    """Matrix-multiply FLOPs of ``step()``, counted op by op (oneDNN and cuDNN off, so the fused
    LSTM's products show)."""
    with _fused_kernels_off(), FlopCounterMode(display=False) as counter:
        step()
    return int(counter.get_total_flops())


def agreement(
    bound: Mapping[str, Callable[[torch.Tensor, Any], tuple[torch.Tensor, torch.Tensor]]],
    x: torch.Tensor,
    lengths: Any,
) -> dict[str, float]:
    """Largest absolute difference of each runner's outputs and final states from the ``fused``
    runner's.

    ``bound`` is `rnnlab.models.unroll.runners` of one LSTM. Checked in full float32 precision: on
    recent GPUs cuDNN may otherwise use TF32 for its RNN kernels, which differs from float32 by
    about 1e-3.
    """
    if "fused" not in bound:
        raise ValueError(
            f"bound must include a 'fused' runner to compare against, got {sorted(bound)}"
        )
    with (
        torch.no_grad(),
        torch.backends.cudnn.flags(enabled=torch.backends.cudnn.enabled, allow_tf32=False),
    ):
        results = {name: run(x, lengths) for name, run in bound.items()}
    return {
        name: max(float((a - b).abs().max()) for a, b in zip(out, results["fused"], strict=True))
        for name, out in results.items()
    }


def _measure(setting: Mapping[str, Any], device: torch.device) -> dict[str, Any]:
    """Everything about one batch that is not a timing: agreement, work, peak memory, build time;
    and its steps."""
    hidden_size = check_int("hidden_size", setting["hidden_size"], minimum=1)
    lstm = make_lstm(setting["input_size"], hidden_size, seed=setting["seed"], device=device)
    x, lengths = make_batch(
        setting["batch_size"],
        setting["max_len"],
        setting["input_size"],
        real_fraction=setting["real_fraction"],
        seed=setting["seed"],
        device=device,
    )
    bound = runners(lstm)
    static: StaticUnroller = bound["static"]  # type: ignore[assignment]
    static.build(setting["max_len"])
    params = list(lstm.parameters())
    steps = {
        name: training_step(lambda run=bound[name]: run(x, lengths), params) for name in RUNNERS
    }
    flops = {name: matmul_flops(step) for name, step in steps.items()}
    real = float(lengths.sum()) / (setting["batch_size"] * setting["max_len"])
    return {
        "device": str(device),
        "threads": torch.get_num_threads(),
        **{k: setting[k] for k in ("batch_size", "max_len", "hidden_size", "input_size")},
        "real_fraction": real,
        "padding_share": 1 - real,
        "longest": int(lengths.max()),
        "max_abs_diff": max(agreement(bound, x, lengths).values()),
        "gflop": {name: f / 1e9 for name, f in flops.items()},
        "work_vs_fused": {name: f / flops["fused"] for name, f in flops.items()},
        "peak_mb": {name: peak_bytes(step, device) / 2**20 for name, step in steps.items()},
        "static_build_s": static.build_seconds[setting["max_len"]],
        "_steps": steps,
    }


def sweep(
    values: Sequence[Any],
    *,
    over: str,
    batch_size: int = 64,
    max_len: int = 100,
    hidden_size: int = 128,
    input_size: int = 32,
    real_fraction: float = 0.5,
    repeats: int = 7,
    warmup: int = 2,
    seed: int = 0,
    device: str | torch.device | None = None,
) -> list[dict[str, Any]]:
    """`compare` for each value of the setting named ``over`` (``"max_len"`` or
    ``"real_fraction"``).

    All settings' runners are timed in one interleaved session, so a change in the machine's load
    falls on every setting alike rather than on whichever ran last.
    """
    if over not in ("max_len", "real_fraction"):
        raise ValueError(f"over must be 'max_len' or 'real_fraction', got {over!r}")
    _nonempty("values", values)
    dev = pick_device(device)
    base = {
        "batch_size": batch_size,
        "max_len": max_len,
        "hidden_size": hidden_size,
        "input_size": input_size,
        "real_fraction": real_fraction,
        "seed": seed,
    }
    rows = [_measure({**base, over: value}, dev) for value in values]
    steps = {
        f"{i}/{name}": step
        for i, row in enumerate(rows)
        for name, step in row.pop("_steps").items()
    }
    times = time_steps(steps, repeats=repeats, warmup=warmup, device=dev)
    for i, row in enumerate(rows):
        row["repeats"] = repeats
        row["times_ms"] = {name: times[f"{i}/{name}"] for name in RUNNERS}
        row["median_ms"] = {
            name: statistics.median(values) for name, values in row["times_ms"].items()
        }
        row["ratio_to_fused"] = {
            name: _paired_ratio(row["times_ms"][name], row["times_ms"]["fused"]) for name in RUNNERS
        }
    return rows


def compare(*, max_len: int = 100, **settings: Any) -> dict[str, Any]:
    """Run the five runners of `RUNNERS` on one random batch and measure them side by side.

    Settings as in `sweep`. Returns a dict with ``max_abs_diff`` (largest output or final-state
    difference from the fused runner), per runner (name → number): ``median_ms``, ``ratio_to_fused``
    (median of side-by-side ratios), ``times_ms`` (every timed run), ``gflop`` and ``work_vs_fused``
    (matrix-multiply work), ``peak_mb``; and ``static_build_s``, the measured ``real_fraction`` and
    ``padding_share``.
    """
    return sweep([max_len], over="max_len", **settings)[0]


def beyond_longest(
    longest: int,
    *,
    batch_size: int = 64,
    max_len: int = 100,
    hidden_size: int = 128,
    input_size: int = 32,
    real_fraction: float = 0.5,
    repeats: int = 7,
    warmup: int = 2,
    seed: int = 0,
    device: str | torch.device | None = None,
) -> dict[str, Any]:
    """One batch whose longest sequence has ``longest`` steps, run by each runner twice: padded
    to its longest, and padded further to ``max_len`` (zeros appended, lengths unchanged).

    `sweep`'s batches always fill ``T`` with their longest sequence, so they cannot tell a loop
    that stops at the batch's longest (TF1's later ``dynamic_rnn``, ``masked`` here) from one that
    runs every padded step (``fused``, ``static``). Returns ``longest``, ``max_len``, ``device``
    and, for each padding (``"to longest"``, ``"to max_len"``), runner → ``gflop`` (matrix-multiply
    work of forward + backward) and ``median_ms``, all timed in one interleaved session.
    """
    check_int("longest", longest, minimum=1)
    check_int("max_len", max_len, minimum=longest)
    dev = pick_device(device)
    lstm = make_lstm(input_size, hidden_size, seed=seed, device=dev)
    x, lengths = make_batch(
        batch_size, longest, input_size, real_fraction=real_fraction, seed=seed, device=dev
    )
    # (B, longest, I) -> (B, max_len, I): zeros after every sequence's end
    batches = {"to longest": x, "to max_len": F.pad(x, (0, 0, 0, max_len - longest))}
    bound = runners(lstm)
    params = list(lstm.parameters())
    steps = {
        (padding, name): training_step(lambda run=bound[name], b=batch: run(b, lengths), params)
        for padding, batch in batches.items()
        for name in RUNNERS
    }
    flops = {key: matmul_flops(step) for key, step in steps.items()}
    times = time_steps(
        {f"{p}/{n}": step for (p, n), step in steps.items()},
        repeats=repeats,
        warmup=warmup,
        device=dev,
    )
    return {
        "longest": longest,
        "max_len": max_len,
        "device": str(dev),
        "gflop": {p: {n: flops[p, n] / 1e9 for n in RUNNERS} for p in batches},
        "median_ms": {
            p: {n: statistics.median(times[f"{p}/{n}"]) for n in RUNNERS} for p in batches
        },
    }


def build_times(
    lengths: Sequence[int], *, hidden_size: int = 128, input_size: int = 32, repeats: int = 3
) -> dict[str, list[float]]:
    """Seconds to build the static graph for each length (median of ``repeats`` fresh builds) and
    its size.

    Returns ``{"max_len": [...], "build_s": [...], "graph_nodes": [...]}``. The other runners have
    no build step: their cost is all paid while running.
    """
    _nonempty("lengths", lengths)
    check_positive(repeats=repeats)
    lstm = make_lstm(input_size, hidden_size)
    StaticUnroller(lstm).build(1)  # the first trace also pays for FX's own warm-up; keep that out
    out: dict[str, list[float]] = {"max_len": [], "build_s": [], "graph_nodes": []}
    for i, steps in enumerate(lengths):
        check_int(f"lengths[{i}]", steps, minimum=1)
        builders = [StaticUnroller(lstm) for _ in range(repeats)]
        for builder in builders:
            builder.build(steps)
        out["max_len"].append(steps)
        out["build_s"].append(
            statistics.median(builder.build_seconds[steps] for builder in builders)
        )
        out["graph_nodes"].append(builders[0].graph_nodes(steps))
    return out


def _tbptt_step(lstm: nn.LSTM, x: torch.Tensor, chunk: int) -> Step:
    """Forward + backward over all of ``x`` ``chunk`` steps at a time, the state carried but
    detached between chunks."""
    params = list(lstm.parameters())

    def step() -> None:
        for p in params:
            p.grad = None
        state = None
        for start in range(0, x.shape[1], chunk):
            outputs, state = lstm(x[:, start : start + chunk], state)
            (outputs.sum() + state[0].sum()).backward()
            state = tuple(s.detach() for s in state)

    return step


def _segmented(
    lstm: nn.LSTM, x: torch.Tensor, lengths: torch.Tensor, segment: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Full BPTT with the fused kernel called one segment at a time, no checkpointing:
    checkpointing's calls without its recomputation."""
    state, outputs = None, []
    for start in range(0, x.shape[1], segment):
        out, state = lstm(x[:, start : start + segment], state)
        outputs.append(out)
    return torch.cat(outputs, dim=1), state[0][0]


def _saved_on_cpu(
    lstm: nn.LSTM, x: torch.Tensor, lengths: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """`run_fused` with every tensor saved for backward kept in host memory (pinned on CUDA); on a
    CPU, nothing moves."""
    with torch.autograd.graph.save_on_cpu(pin_memory=x.device.type == "cuda"):
        return run_fused(lstm, x, lengths)


def strategies(
    lengths: Sequence[int],
    *,
    chunk: int = 25,
    batch_size: int = 64,
    hidden_size: int = 128,
    input_size: int = 32,
    repeats: int = 5,
    warmup: int = 1,
    seed: int = 0,
    device: str | torch.device | None = None,
) -> list[dict[str, Any]]:
    """Checkpointing, ``save_on_cpu`` and truncated BPTT (chunks of ``chunk`` steps) against full
    BPTT, per length.

    Every sequence is ``T`` steps long (no padding); the baseline is the fused kernel over all
    ``T``. Returns one row per strategy and length: ``name``, ``max_len``, ``peak_mb``,
    ``baseline_peak_mb``, ``time_ratio`` (median of side-by-side ratios to the baseline, all lengths
    interleaved in one session), ``ms``, ``baseline_ms``, ``page_faults`` and
    ``baseline_page_faults`` (minor page faults of one step, warm; None on Windows). Checkpoint rows
    add ``segment`` (≈ √T), ``recomputed_steps`` (counted) and ``recompute_time_ratio``: time over
    the same segmented fused calls without checkpointing, side by side (what the recomputation
    itself costs). Tbptt rows add ``chunk``.
    """
    _nonempty("lengths", lengths)
    check_positive(chunk=chunk)
    dev = pick_device(device)
    steps: dict[str, Step] = {}
    rows: list[dict[str, Any]] = []
    baseline_mb: dict[int, float] = {}
    for i, max_len in enumerate(lengths):
        check_int(f"lengths[{i}]", max_len, minimum=1)
        lstm = make_lstm(
            input_size, check_int("hidden_size", hidden_size, minimum=1), seed=seed, device=dev
        )
        x, lens = make_batch(
            batch_size, max_len, input_size, real_fraction=1.0, seed=seed, device=dev
        )
        params = list(lstm.parameters())
        segment = max(1, math.isqrt(max_len))
        counter = StepCounter()
        steps[f"{max_len}/baseline"] = training_step(
            lambda lstm=lstm, x=x, lens=lens: run_fused(lstm, x, lens), params
        )
        steps[f"{max_len}/checkpoint"] = training_step(
            lambda lstm=lstm, x=x, lens=lens, s=segment, c=counter: run_checkpointed(
                lstm, x, lens, segment=s, counter=c
            ),
            params,
        )
        steps[f"{max_len}/save_on_cpu"] = training_step(
            lambda lstm=lstm, x=x, lens=lens: _saved_on_cpu(lstm, x, lens), params
        )
        steps[f"{max_len}/tbptt"] = _tbptt_step(lstm, x, min(chunk, max_len))
        steps[f"{max_len}/segmented"] = training_step(
            lambda lstm=lstm, x=x, lens=lens, s=segment: _segmented(lstm, x, lens, s), params
        )
        baseline_mb[max_len] = peak_bytes(steps[f"{max_len}/baseline"], dev) / 2**20
        baseline_faults = minor_page_faults(steps[f"{max_len}/baseline"])
        for name in STRATEGIES:
            step = steps[f"{max_len}/{name}"]
            row = {
                "name": name,
                "max_len": max_len,
                "peak_mb": peak_bytes(step, dev) / 2**20,
                "baseline_peak_mb": baseline_mb[max_len],
            }
            counter.steps = 0
            # warm: the peak run came first
            row.update(page_faults=minor_page_faults(step), baseline_page_faults=baseline_faults)
            if name == "checkpoint":
                row.update(segment=segment, recomputed_steps=counter.recomputed(max_len))
            if name == "tbptt":
                row["chunk"] = min(chunk, max_len)
            rows.append(row)
    times = time_steps(steps, repeats=repeats, warmup=warmup, device=dev)
    for row in rows:
        mine = times[f"{row['max_len']}/{row['name']}"]
        base = times[f"{row['max_len']}/baseline"]
        row.update(
            time_ratio=_paired_ratio(mine, base),
            ms=statistics.median(mine),
            baseline_ms=statistics.median(base),
            device=str(dev),
            threads=torch.get_num_threads(),
        )
        if row["name"] == "checkpoint":
            row["recompute_time_ratio"] = _paired_ratio(mine, times[f"{row['max_len']}/segmented"])
    return rows


def _streams(series: np.ndarray, count: int) -> torch.Tensor:
    """``series`` cut into ``count`` contiguous pieces of equal length, one per row:
    ``(count, len // count)``."""
    length = len(series) // count
    kept = torch.as_tensor(series[len(series) - count * length :], dtype=torch.float32)
    return kept.view(count, length)  # (count * length,) -> (count, length)


def _one_update(model: NextStepLSTM, streams: torch.Tensor, chunk: int | None, lr: float) -> Step:
    """One epoch of `fit_next_step` over ``streams`` cut to a single update's span: what one update
    holds in memory."""

    def step() -> None:
        fit_next_step(model, streams, chunk=chunk, epochs=1, lr=lr)

    return step


def tbptt_forecast(
    chunks: Sequence[int | None],
    *,
    epochs: int = 60,
    streams: int = 16,
    hidden_size: int = 32,
    lr: float = 1e-2,
    test_months: int = 240,
    scale: float = 100.0,
    seed: int = 0,
) -> dict[str, Any]:
    """Full vs truncated BPTT on the monthly sunspot series: one-month-ahead error on the last
    ``test_months``.

    The months before the test period are cut into ``streams`` contiguous pieces (one batch row
    each). For each entry of ``chunks`` (``None``: full BPTT through each whole piece, one update
    per epoch; ``k``: truncated BPTT, ``k`` steps per update, the state carried and detached) a
    fresh `NextStepLSTM` with the same seed trains for ``epochs`` passes over the same data. It is
    then run over the whole series (so the state entering the test period has seen all earlier
    months) and scored by the mean absolute error of its one-month-ahead forecasts in the test
    period, in sunspot units. Also returns the persistence error (next month = this month) and, per
    chunk, the peak memory of one update (CPU), the number of updates and the training seconds.
    """
    _nonempty("chunks", chunks)
    check_positive(test_months=test_months)
    _, values = load_sunspots()
    series = values / scale
    if test_months >= len(series) - streams * 2:
        raise ValueError(f"test_months={test_months} leaves too few months to train on")
    train = _streams(series[:-test_months], check_int("streams", streams, minimum=1))
    whole = torch.as_tensor(series[:-1], dtype=torch.float32).unsqueeze(0)  # (1, months - 1)
    truth = series[-test_months:]
    rows = []
    for chunk in chunks:
        model = NextStepLSTM(hidden_size, seed=seed)
        span = train.shape[1] if chunk is None else chunk + 1
        peak = peak_bytes(
            _one_update(NextStepLSTM(hidden_size, seed=seed), train[:, :span], chunk, lr)
        )
        info = fit_next_step(model, train, chunk=chunk, epochs=epochs, lr=lr)
        with torch.no_grad():
            predicted = model(whole)[0][0, -test_months:].numpy()
        rows.append(
            {
                "chunk": chunk,
                "steps_per_update": train.shape[1] - 1 if chunk is None else chunk,
                "updates": info["updates"],
                "seconds": info["seconds"],
                "update_peak_mb": peak / 2**20,
                "test_mae": float(np.abs(predicted - truth).mean() * scale),
            }
        )
    persistence = float(np.abs(series[-test_months - 1 : -1] - truth).mean() * scale)
    return {
        "rows": rows,
        "persistence_mae": persistence,
        "train_months": int(train.numel()),
        "streams": streams,
        "stream_length": int(train.shape[1]),
        "test_months": test_months,
        "epochs": epochs,
        "hidden_size": hidden_size,
    }


def format_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """Runners × settings: one line per `sweep` row with each runner's median ms (×fused, side by
    side) and work."""
    _nonempty("rows", rows)
    head = f"{'T':>4} {'padding':>7} " + " ".join(
        f"{name + ' ms (×fused)':>22}" for name in RUNNERS
    )
    head += "   work ×fused: " + " ".join(f"{name:>9}" for name in RUNNERS)
    lines = [head]
    for r in rows:
        cells = " ".join(
            f"{r['median_ms'][n]:>13.1f} ({r['ratio_to_fused'][n]:4.2f}×)" for n in RUNNERS
        )
        work = " ".join(f"{r['work_vs_fused'][n]:>9.2f}" for n in RUNNERS)
        lines.append(f"{r['max_len']:>4} {r['padding_share']:>7.0%} {cells}   {'':>13}{work}")
    return "\n".join(lines)


def format_strategies(rows: Sequence[Mapping[str, Any]]) -> str:
    """Strategies × lengths: peak MB against full BPTT's, time ratio, page faults, and what
    checkpointing recomputed."""
    _nonempty("rows", rows)
    lines = [
        f"{'strategy':>12} {'T':>5} {'peak MB':>8} {'full BPTT MB':>12} {'memory ×':>8} "
        f"{'time ×':>7} {'ms':>7} "
        f"{'full ms':>7} {'faults':>7} {'full faults':>11}  notes"
    ]
    for r in rows:
        note = (
            f"segments of {r['segment']}, {r['recomputed_steps']} steps recomputed, "
            f"×{r['recompute_time_ratio']:.2f} the time of the "
            "same segments without checkpointing"
            if r["name"] == "checkpoint"
            else f"chunks of {r['chunk']}"
            if r["name"] == "tbptt"
            else ""
        )
        faults = " ".join(
            f"{'n/a' if f is None else f:>{w}}"
            for f, w in ((r["page_faults"], 7), (r["baseline_page_faults"], 11))
        )
        lines.append(
            f"{r['name']:>12} {r['max_len']:>5} {r['peak_mb']:>8.2f} "
            f"{r['baseline_peak_mb']:>12.2f} "
            f"{r['peak_mb'] / r['baseline_peak_mb']:>8.2f} {r['time_ratio']:>7.2f} {r['ms']:>7.1f} "
            f"{r['baseline_ms']:>7.1f} "
            f"{faults}  {note}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: the five runners at one length (``--lengths``: also a sweep) and the memory
    strategies."""
    parser = argparse.ArgumentParser(
        prog="python -m rnnlab bench unroll",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--device", default=None, help="cpu, cuda, cuda:N (default: CUDA if present)"
    )
    parser.add_argument(
        "--json", action="store_true", help="print one JSON object instead of tables"
    )
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--max-len", type=int, default=100)
    parser.add_argument("--hidden-size", type=int, default=128)
    parser.add_argument("--input-size", type=int, default=32)
    parser.add_argument(
        "--fraction", type=float, default=0.5, help="share of real (non-padding) tokens"
    )
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--chunk", type=int, default=25, help="truncated BPTT: steps per chunk")
    parser.add_argument(
        "--lengths",
        type=int,
        nargs="*",
        default=[],
        help=(
            "sweep the runners over these lengths and measure the strategies at each "
            "(default: --max-len)"
        ),
    )
    args = parser.parse_args(argv)
    settings = {
        "batch_size": args.batch_size,
        "hidden_size": args.hidden_size,
        "input_size": args.input_size,
        "repeats": args.repeats,
        "warmup": args.warmup,
        "seed": args.seed,
        "device": args.device,
    }
    try:
        result = compare(max_len=args.max_len, real_fraction=args.fraction, **settings)
        if args.lengths:
            result["sweep"] = sweep(
                args.lengths, over="max_len", real_fraction=args.fraction, **settings
            )
        result["strategies"] = strategies(
            args.lengths or [args.max_len], chunk=args.chunk, **settings
        )
    except (TypeError, ValueError) as err:
        parser.error(str(err))
    if args.json:
        print(json.dumps(result))
        return 0
    print(
        f"device {result['device']} ({result['threads']} threads), B={args.batch_size}, "
        f"H={args.hidden_size}, "
        f"medians of {args.repeats} forward+backward runs; max abs diff among runners "
        f"{result['max_abs_diff']:.2e}"
    )
    print(format_table(result.get("sweep", [result])))
    print(format_strategies(result["strategies"]))
    return 0
