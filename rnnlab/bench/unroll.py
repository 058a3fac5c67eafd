"""``python -m rnnlab bench unroll``: static vs dynamic unrolling, packed and fused LSTMs, timed and weighed.

What is measured, and how:

- time: forward + backward of ``outputs.sum() + h_last.sum()``, after warm-up runs, repeated with the
  runners interleaved (each repeat runs every runner once, in a rotating order, so a busy machine slows
  them alike); reported as medians in milliseconds and as ratios to the fused kernel;
- activation memory: the bytes autograd keeps for the backward pass, counted with
  ``torch.autograd.graph.saved_tensors_hooks`` over distinct storages (this works on every device and is
  what grows with sequence length); on CUDA also the peak of ``torch.cuda.max_memory_allocated`` above
  what was allocated before the forward pass;
- build time: how long the static runner takes to build its unrolled graph, per length (the dynamic
  runners build nothing ahead);
- checkpointing: activation memory and time of the fused kernel with and without
  ``torch.utils.checkpoint`` over time segments.

On a GPU, regenerate the chapter's table with
``python -m rnnlab bench unroll --device cuda --lengths 50 100 200 400``.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from ..config import pick_device
from ..models.unroll import RUNNERS, StaticUnroller, make_lstm, run_checkpointed, run_fused, runners

__all__ = ["activation_bytes", "agreement", "build_times", "checkpoint_tradeoff", "compare", "cuda_peak_bytes", "format_table", "main",
           "make_batch", "sweep", "time_calls"]

Call = Callable[[], tuple[torch.Tensor, torch.Tensor]]


def _positive(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{name} must be ≥ 1, got {value}")
    return value


def make_batch(batch: int, max_len: int, input_size: int, *, real_fraction: float = 0.5, seed: int = 0,
               device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """A random padded batch ``(x, lengths)`` whose lengths fill about ``real_fraction`` of the ``B × T`` grid.

    Lengths are ``T · u^p`` over evenly spaced ``u`` in (0, 1] with ``p = 1/real_fraction − 1`` (so their
    mean is about ``real_fraction · T``, the longest is exactly ``T``), shuffled so they are unsorted.
    """
    for name, value in (("batch", batch), ("max_len", max_len), ("input_size", input_size)):
        _positive(name, value)
    if isinstance(real_fraction, bool) or not isinstance(real_fraction, (int, float)) or not 0 < real_fraction <= 1:
        raise ValueError(f"real_fraction must be a number in (0, 1], got {real_fraction!r}")
    generator = torch.Generator().manual_seed(seed)
    u = torch.arange(1, batch + 1, dtype=torch.float64) / batch
    lengths = (max_len * u ** (1 / real_fraction - 1)).round().clamp(1, max_len).to(torch.int64)
    lengths = lengths[torch.randperm(batch, generator=generator)]
    x = torch.randn(batch, max_len, input_size, generator=generator, dtype=dtype)
    return x.to(device), lengths


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _forward_backward(call: Call, params: Sequence[nn.Parameter]) -> None:
    for p in params:
        p.grad = None
    outputs, h_last = call()
    (outputs.sum() + h_last.sum()).backward()


def time_calls(calls: Mapping[str, Call], params: Sequence[nn.Parameter], *, repeats: int = 7, warmup: int = 2,
               device: str | torch.device = "cpu") -> dict[str, list[float]]:
    """Milliseconds of forward + backward for each call, ``repeats`` times after ``warmup`` untimed runs.

    Calls are interleaved, in an order that rotates each repeat, so noise from a shared machine falls
    on all of them alike. Returns name → list of ``repeats`` timings.
    """
    if not calls:
        raise ValueError("calls is empty: give at least one name → call")
    _positive("repeats", repeats)
    if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
        raise ValueError(f"warmup must be an int ≥ 0, got {warmup!r}")
    device = torch.device(device)
    names = list(calls)
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(warmup + repeats):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            _sync(device)
            start = time.perf_counter()
            _forward_backward(calls[name], params)
            _sync(device)
            if r >= warmup:
                times[name].append(1000 * (time.perf_counter() - start))
    return times


def activation_bytes(call: Call) -> int:
    """Bytes autograd saves for the backward pass during ``call()`` (distinct storages, any device)."""
    storages: dict[tuple[str, int], int] = {}

    def pack_hook(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        storages[(str(tensor.device), storage.data_ptr())] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack_hook, lambda tensor: tensor):
        outputs, h_last = call()
    del outputs, h_last
    return sum(storages.values())


def cuda_peak_bytes(call: Call, params: Sequence[nn.Parameter], device: str | torch.device) -> int | None:
    """Peak CUDA memory allocated during forward + backward, above what was held before; None off CUDA."""
    device = torch.device(device)
    if device.type != "cuda":
        return None
    torch.cuda.synchronize(device)
    before = torch.cuda.memory_allocated(device)
    torch.cuda.reset_peak_memory_stats(device)
    _forward_backward(call, params)
    torch.cuda.synchronize(device)
    return torch.cuda.max_memory_allocated(device) - before


def _setup(batch: int, max_len: int, hidden: int, input_size: int, real_fraction: float, seed: int,
           device: str | torch.device | None) -> tuple[nn.LSTM, torch.Tensor, torch.Tensor, torch.device]:
    device = pick_device(device)
    lstm = make_lstm(input_size, _positive("hidden", hidden), seed=seed, device=device)
    x, lengths = make_batch(batch, max_len, input_size, real_fraction=real_fraction, seed=seed, device=device)
    return lstm, x, lengths, device


def agreement(bound: Mapping[str, Callable[[torch.Tensor, Any], tuple[torch.Tensor, torch.Tensor]]], x: torch.Tensor,
              lengths: Any) -> dict[str, float]:
    """Largest absolute difference of each runner's outputs and final states from the ``fused`` runner's.

    ``bound`` is `rnnlab.models.unroll.runners` of one LSTM. Checked in full float32 precision: on recent
    GPUs cuDNN may otherwise use TF32 for its RNN kernels, which differs from float32 by about 1e-3.
    """
    if "fused" not in bound:
        raise ValueError(f"bound must include a 'fused' runner to compare against, got {sorted(bound)}")
    with torch.no_grad(), torch.backends.cudnn.flags(enabled=torch.backends.cudnn.enabled, allow_tf32=False):
        results = {name: run(x, lengths) for name, run in bound.items()}
    return {name: max(float((a - b).abs().max()) for a, b in zip(out, results["fused"], strict=True)) for name, out in results.items()}


def _measure(setting: Mapping[str, Any], device: torch.device) -> dict[str, Any]:
    """Everything about one batch that is not a timing: the runners, their agreement, memory and build time."""
    lstm, x, lengths, device = _setup(setting["batch"], setting["max_len"], setting["hidden"], setting["input_size"],
                                      setting["real_fraction"], setting["seed"], device)
    bound = runners(lstm)
    static: StaticUnroller = bound["static"]  # type: ignore[assignment]
    static.build(setting["max_len"])
    calls = {name: (lambda run=bound[name]: run(x, lengths)) for name in RUNNERS}
    params = list(lstm.parameters())
    peaks = {name: cuda_peak_bytes(call, params, device) for name, call in calls.items()}
    return {
        "device": str(device), "threads": torch.get_num_threads(), **{k: setting[k] for k in ("batch", "max_len", "hidden", "input_size")},
        "real_fraction": float(lengths.sum()) / (setting["batch"] * setting["max_len"]),
        "max_abs_diff": max(agreement(bound, x, lengths).values()),
        "activation_mb": {name: activation_bytes(call) / 2**20 for name, call in calls.items()},
        "cuda_peak_mb": {name: None if p is None else p / 2**20 for name, p in peaks.items()},
        "static_build_s": static.build_seconds[setting["max_len"]], "_calls": calls, "_params": params,
    }


def sweep(values: Sequence[Any], *, over: str, batch: int = 64, max_len: int = 100, hidden: int = 128, input_size: int = 32,
          real_fraction: float = 0.5, repeats: int = 7, warmup: int = 2, seed: int = 0,
          device: str | torch.device | None = None) -> list[dict[str, Any]]:
    """`compare` for each value of the setting named ``over`` (``"max_len"`` or ``"real_fraction"``).

    All settings' runners are timed in one interleaved session, so a change in the machine's load
    falls on every setting alike rather than on whichever ran last.
    """
    if over not in ("max_len", "real_fraction"):
        raise ValueError(f"over must be 'max_len' or 'real_fraction', got {over!r}")
    if not values:
        raise ValueError("values is empty: give at least one value to sweep over")
    dev = pick_device(device)
    base = {"batch": batch, "max_len": max_len, "hidden": hidden, "input_size": input_size, "real_fraction": real_fraction, "seed": seed}
    rows = [_measure({**base, over: value}, dev) for value in values]
    calls = {f"{i}/{name}": call for i, row in enumerate(rows) for name, call in row["_calls"].items()}
    times = time_calls(calls, [p for row in rows for p in row.pop("_params")], repeats=repeats, warmup=warmup, device=dev)
    for i, row in enumerate(rows):
        del row["_calls"]
        row["repeats"], row["times_ms"] = repeats, {name: times[f"{i}/{name}"] for name in RUNNERS}
        row["median_ms"] = {name: statistics.median(values) for name, values in row["times_ms"].items()}
        row["ratio_to_fused"] = {name: m / row["median_ms"]["fused"] for name, m in row["median_ms"].items()}
    return rows


def compare(*, max_len: int = 100, **settings: Any) -> dict[str, Any]:
    """Run the four runners of `RUNNERS` on one random batch and measure them side by side.

    Settings as in `sweep`. Returns a dict with ``max_abs_diff`` (largest output or final-state difference
    from the fused runner), ``median_ms`` and ``ratio_to_fused`` (runner → number), ``times_ms`` (runner →
    every timed run, in interleaved order, so run ``i`` of two runners ran side by side),
    ``activation_mb`` (saved for backward), ``cuda_peak_mb`` (None off CUDA), ``static_build_s`` and the
    measured ``real_fraction``.
    """
    return sweep([max_len], over="max_len", **settings)[0]


def build_times(lengths: Sequence[int], *, hidden: int = 128, input_size: int = 32, repeats: int = 3) -> dict[str, list[float]]:
    """Seconds to build the static graph for each length (median of ``repeats`` fresh builds) and its size.

    Returns ``{"max_len": [...], "build_s": [...], "graph_nodes": [...]}``. The dynamic runners have no
    build step: their cost is all paid while running.
    """
    if not lengths:
        raise ValueError("lengths is empty: give at least one length")
    _positive("repeats", repeats)
    lstm = make_lstm(input_size, hidden)
    StaticUnroller(lstm).build(1)  # the first trace also pays for FX's own warm-up; keep that out
    out: dict[str, list[float]] = {"max_len": [], "build_s": [], "graph_nodes": []}
    for steps in lengths:
        _positive("lengths[i]", steps)
        builders = [StaticUnroller(lstm) for _ in range(repeats)]
        for builder in builders:
            builder.build(steps)
        seconds = [builder.build_seconds[steps] for builder in builders]
        out["max_len"].append(steps)
        out["build_s"].append(statistics.median(seconds))
        out["graph_nodes"].append(builders[0].graph_nodes(steps))
    return out


def checkpoint_tradeoff(lengths: Sequence[int], *, batch: int = 64, hidden: int = 128, input_size: int = 32, real_fraction: float = 0.5,
                        repeats: int = 5, warmup: int = 1, seed: int = 0, device: str | torch.device | None = None) -> list[dict[str, Any]]:
    """Activation memory and time of the fused kernel with and without checkpointing (segments of ≈ √T steps)."""
    if not lengths:
        raise ValueError("lengths is empty: give at least one length")
    rows = []
    for max_len in lengths:
        lstm, x, lens, dev = _setup(batch, max_len, hidden, input_size, real_fraction, seed, device)
        segment = max(1, math.isqrt(max_len))
        calls: dict[str, Call] = {"fused": lambda lstm=lstm, x=x, lens=lens: run_fused(lstm, x, lens),
                                  "checkpointed": lambda lstm=lstm, x=x, lens=lens, s=segment: run_checkpointed(lstm, x, lens, segment=s)}
        params = list(lstm.parameters())
        times = time_calls(calls, params, repeats=repeats, warmup=warmup, device=dev)
        ms = {name: statistics.median(values) for name, values in times.items()}
        mb = {name: activation_bytes(call) / 2**20 for name, call in calls.items()}
        rows.append({"max_len": max_len, "segment": segment, "fused_mb": mb["fused"], "checkpointed_mb": mb["checkpointed"],
                     "memory_ratio": mb["fused"] / mb["checkpointed"], "fused_ms": ms["fused"], "checkpointed_ms": ms["checkpointed"],
                     "time_ratio": ms["checkpointed"] / ms["fused"]})
    return rows


def format_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """One line per `compare` result: median ms (and ratio to fused) and activation MB for each runner."""
    if not rows:
        raise ValueError("rows is empty: nothing to tabulate")
    head = f"{'T':>5} {'real':>5} " + " ".join(f"{name + ' ms (×fused)':>22}" for name in RUNNERS)
    head += " " + " ".join(f"{name + ' MB':>11}" for name in RUNNERS) + f" {'build s':>8}"
    lines = [head]
    for r in rows:
        cells = " ".join(f"{r['median_ms'][n]:>13.1f} ({r['ratio_to_fused'][n]:4.2f}×)" for n in RUNNERS)
        memory = " ".join(f"{r['activation_mb'][n]:>11.1f}" for n in RUNNERS)
        lines.append(f"{r['max_len']:>5} {r['real_fraction']:>5.2f} {cells} {memory} {r['static_build_s']:>8.3f}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: compare the four runners at one length (and, with ``--lengths``, a sweep table)."""
    parser = argparse.ArgumentParser(prog="python -m rnnlab bench unroll", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:N (default: CUDA if present)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--max-len", type=int, default=100)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--input-size", type=int, default=32)
    parser.add_argument("--fraction", type=float, default=0.5, help="share of real (non-padding) tokens")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lengths", type=int, nargs="*", default=[], help="also sweep these max lengths")
    args = parser.parse_args(argv)
    settings = {"batch": args.batch, "hidden": args.hidden, "input_size": args.input_size, "real_fraction": args.fraction,
                "repeats": args.repeats, "warmup": args.warmup, "seed": args.seed, "device": args.device}
    try:
        result = compare(max_len=args.max_len, **settings)
        if args.lengths:
            result["sweep"] = sweep(args.lengths, over="max_len", **settings)
            result["checkpointing"] = checkpoint_tradeoff(args.lengths, **{k: v for k, v in settings.items() if k != "warmup"})
    except (TypeError, ValueError) as err:
        parser.error(str(err))
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"device {result['device']} ({result['threads']} threads), B={args.batch}, H={args.hidden}, "
          f"medians of {args.repeats} forward+backward runs; max abs diff among runners {result['max_abs_diff']:.2e}")
    print(format_table(result.get("sweep", [result])))
    for row in result.get("checkpointing", []):
        print(f"checkpointing T={row['max_len']} (segments of {row['segment']}): activations {row['fused_mb']:.1f} → "
              f"{row['checkpointed_mb']:.1f} MB ({row['memory_ratio']:.1f}× less), time ×{row['time_ratio']:.2f}")
    return 0
