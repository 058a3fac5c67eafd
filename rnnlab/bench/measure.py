"""How chapter 4's benchmarks measure a training step: time, work and peak memory.

- time (`time_steps`): forward + backward after warm-up runs, repeated with every contestant
  interleaved (each repeat runs all of them, in a rotating order, so a busy machine slows them
  alike); medians in milliseconds, and ratios as the median of side-by-side (same repeat) ratios
  (`paired_ratio`). Hand-timed on purpose: ``torch.utils.benchmark.Timer`` times one statement
  after another, and on a shared laptop the drift between them is larger than the differences
  measured here;
- work (`matmul_flops`): the matrix-multiply floating-point operations of forward + backward,
  counted by ``torch.utils.flop_counter.FlopCounterMode`` with oneDNN and cuDNN switched off for the
  count (their fused LSTM kernels are opaque to it; the ATen fallback runs the same products).
  Deterministic;
- peak memory (`peak_bytes`): the most bytes allocated at once during forward + backward, above
  what was allocated before, recomputation included. CUDA: ``torch.cuda.max_memory_allocated``. CPU
  (which has no such counter): the allocation and free events of the CPU allocator recorded by
  ``torch.profiler`` with ``profile_memory=True``, replayed in time order (the public
  ``key_averages()`` gives only net totals, not the peak, hence the event list).
"""

from __future__ import annotations

import contextlib
import os
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence

import torch
from torch import nn
from torch._C._profiler import _EventType
from torch.profiler import ProfilerActivity, profile
from torch.utils.flop_counter import FlopCounterMode

from ..checks import check_int, check_number, check_positive
from ..config import synchronize

__all__ = [
    "make_batch",
    "matmul_flops",
    "minor_page_faults",
    "paired_ratio",
    "peak_bytes",
    "time_steps",
    "training_step",
]


Call = Callable[[], tuple[torch.Tensor, torch.Tensor]]


Step = Callable[[], None]


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


def paired_ratio(times: Sequence[float], baseline: Sequence[float]) -> float:
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
