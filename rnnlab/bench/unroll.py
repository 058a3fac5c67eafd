"""``python -m rnnlab bench unroll``: five LSTM runners, and three ways to make long sequences fit,
measured.

The runners (`rnnlab.models.unroll`) are compared on the same batch for agreement, time, work and
peak memory (`compare`, and `sweep` over lengths or padding shares; `beyond_longest`: a batch
padded past its longest sequence; `build_times`: what a static graph costs to build), with the
primitives of `rnnlab.bench.measure`; the memory strategies come from `rnnlab.bench.memory` and
the truncation experiment from `rnnlab.bench.truncation`.

On a GPU, ``python -m rnnlab bench unroll --device cuda --lengths 100 400 1600`` regenerates the
tables.
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F

from ..checks import check_int, check_nonempty, check_positive
from ..config import pick_device
from ..models.unroll import (
    RUNNERS,
    StaticUnroller,
    make_lstm,
    runners,
)
from .measure import (
    make_batch,
    matmul_flops,
    paired_ratio,
    peak_bytes,
    time_steps,
    training_step,
)
from .memory import format_strategies, strategies

__all__ = ["agreement", "beyond_longest", "build_times", "compare", "format_table", "main", "sweep"]


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
    check_nonempty("values", values)
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
            name: paired_ratio(row["times_ms"][name], row["times_ms"]["fused"]) for name in RUNNERS
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
    check_nonempty("lengths", lengths)
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


def format_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """Runners × settings: one line per `sweep` row with each runner's median ms (×fused, side by
    side) and work."""
    check_nonempty("rows", rows)
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
