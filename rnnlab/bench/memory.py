"""``bench unroll``'s second table: three ways to make long sequences fit in memory, against full
backpropagation over ``T`` steps with the fused kernel: activation checkpointing (segments of
≈ √T steps; the recomputed steps counted), ``save_on_cpu`` (TF1's ``swap_memory``: on a CPU it
moves nothing) and truncated BPTT (chunks of a fixed length, the state carried but detached).
Measured with `rnnlab.bench.measure` (time, peak memory, page faults)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from ..checks import check_int, check_nonempty, check_positive
from ..config import pick_device
from ..models.unroll import (
    StepCounter,
    make_lstm,
    run_checkpointed,
    run_fused,
)
from .measure import (
    Step,
    make_batch,
    minor_page_faults,
    paired_ratio,
    peak_bytes,
    time_steps,
    training_step,
)

__all__ = ["STRATEGIES", "format_strategies", "strategies"]


STRATEGIES = ("checkpoint", "save_on_cpu", "tbptt")


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
    check_nonempty("lengths", lengths)
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
            time_ratio=paired_ratio(mine, base),
            ms=statistics.median(mine),
            baseline_ms=statistics.median(base),
            device=str(dev),
            threads=torch.get_num_threads(),
        )
        if row["name"] == "checkpoint":
            row["recompute_time_ratio"] = paired_ratio(mine, times[f"{row['max_len']}/segmented"])
    return rows


def format_strategies(rows: Sequence[Mapping[str, Any]]) -> str:
    """Strategies × lengths: peak MB against full BPTT's, time ratio, page faults, and what
    checkpointing recomputed."""
    check_nonempty("rows", rows)
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
