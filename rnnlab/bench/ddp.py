"""``python -m rnnlab bench ddp``: throughput of 1 vs N CPU workers of the DDP script, with compute
and communication apart.

Each world size is one launch of ``rnnlab.distributed.train`` (gloo, one thread per worker) with the
same global batch. A worker reports its median step time (DDP overlaps the all-reduce with
backward), the compute alone (forward+backward with gradient sync switched off) and the
communication alone (an all-reduce of a buffer as large as all the gradients). On a shared 2-core
machine these numbers are noisy and 2 workers can at best double the throughput; the same script on
GPUs is the real use.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP

from ..checks import check_int, check_positive
from ..config import synchronize
from ..distributed.launcher import launch
from ..train import to_device


def measure(
    workers: Sequence[int] = (1, 2),
    args: Sequence[str] = ("--steps", "30", "--global-batch", "32"),
    *,
    timing: int = 5,
    save_dir: str | Path | None = None,
    stream: bool = False,
    timeout: float = 300.0,
) -> list[dict[str, Any]]:
    """Launch the DDP script once per entry of ``workers`` with the same ``args``; one row per
    launch.

    Rows hold ``workers``, ``samples_per_second``, ``step_ms``, ``compute_ms``, ``comm_ms``,
    ``grad_mb``, ``final_loss``; with ``save_dir`` each run also writes ``save_dir/ddp{N}.pt`` (row
    key ``checkpoint``).
    """
    if not workers:
        raise ValueError(f"workers must be a non-empty list of positive ints, got {workers!r}")
    for i, n in enumerate(workers):
        check_int(f"workers[{i}]", n, minimum=1)
    check_positive(timing=timing)  # steps timed for the compute/communication split
    rows = []
    for n in workers:
        extra = ["--timing", str(timing)]
        checkpoint = None
        if save_dir is not None:
            checkpoint = str(Path(save_dir) / f"ddp{n}.pt")
            extra += ["--save", checkpoint]
        results = launch(n, args=[*args, *extra], timeout=timeout, stream=stream)
        # a step ends when the slowest rank ends it
        slowest = max(results, key=lambda r: r["step_seconds"])
        rows.append(
            {
                "workers": n,
                "samples_per_second": slowest["samples_per_second"],
                "step_ms": 1e3 * slowest["step_seconds"],
                "compute_ms": 1e3 * max(r["compute_seconds"] for r in results),
                "comm_ms": 1e3 * max(r["comm_seconds"] for r in results),
                "grad_mb": results[0]["grad_bytes"] / 1e6,
                "final_loss": results[0]["final_loss"],
                "checkpoint": checkpoint,
            }
        )
    return rows


def measure_split(
    ddp: DDP,
    optimizer: torch.optim.Optimizer,
    data: Iterator[Any],
    loss: Callable[[nn.Module, Any], torch.Tensor],
    rounds: int,
    device: torch.device,
) -> dict[str, float]:
    """Median seconds of a step's compute alone (forward, backward, optimizer step, gradient sync
    switched off) and of its communication alone (an all-reduce of a buffer as big as all the
    gradients), over ``rounds`` steps of ``data`` after one to warm up; ``loss(model, batch)`` is
    the step's loss. Run after training: the ranks drift apart."""
    flat = torch.zeros(sum(p.numel() for p in ddp.parameters()), device=device)
    compute, comm = [], []
    for _ in range(rounds + 1):  # the first round warms up
        batch = to_device(next(data), device)
        synchronize(device)
        tic = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        with ddp.no_sync():
            loss(ddp, batch).backward()
        optimizer.step()
        synchronize(device)
        compute.append(time.perf_counter() - tic)
        dist.barrier()
        tic = time.perf_counter()
        dist.all_reduce(flat)
        synchronize(device)
        comm.append(time.perf_counter() - tic)
    return {
        "compute_seconds": statistics.median(compute[1:]),
        "comm_seconds": statistics.median(comm[1:]),
    }


def format_rows(rows: Sequence[dict[str, Any]]) -> str:
    """A small text table of `measure`'s rows."""
    lines = [
        f"{'workers':>7} {'samples/s':>10} {'step ms':>8} {'compute ms':>11} {'all-reduce ms':>14} "
        f"{'grad MB':>8}"
    ]
    for r in rows:
        lines.append(
            f"{r['workers']:>7} {r['samples_per_second']:>10.0f} {r['step_ms']:>8.1f} "
            f"{r['compute_ms']:>11.1f} "
            f"{r['comm_ms']:>14.2f} {r['grad_mb']:>8.2f}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m rnnlab bench ddp", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--workers",
        type=int,
        nargs="+",
        default=[1, 2],
        help="world sizes to compare (default 1 2)",
    )
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--global-batch", type=int, default=32)
    parser.add_argument(
        "--timing", type=int, default=5, help="steps timed for the compute/communication split"
    )
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = parser.parse_args(argv)
    rows = measure(
        args.workers,
        ["--steps", str(args.steps), "--global-batch", str(args.global_batch)],
        timing=args.timing,
    )
    print(json.dumps(rows, indent=2) if args.json else format_rows(rows))
    return 0
