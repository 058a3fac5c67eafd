"""What packing costs: a GRU's training step through `pack` → GRU → `unpack` against `run_rnn`.

``python -m rnnlab bench packing [--json]`` batches sequences of lognormal lengths (most short, a
few long, as in text) by bucketing, then times the forward and backward pass of a one-way and a
two-way GRU over the same batches both ways, interleaved batch by batch so that a busy machine slows
them alike. `rnnlab.sequences.run_rnn` computes what packing computes (the bench reports the
largest difference, float rounding); on a CPU it runs on the padded batch, because the packed kernel
slices its input step by step and autograd pays for every slice. On a GPU both routes pack, and the
ratio is about 1. The numbers are noisy on a shared CPU; the ratios are what to read.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from ..checks import check_positive
from ..config import pick_device
from ..samplers import BucketBatchSampler
from ..sequences import pack, run_rnn, unpack
from . import batch_parser
from .padding import lognormal_lengths

ROUTES = ("packed", "run_rnn")


def _packed(rnn: nn.GRU, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    return unpack(rnn(pack(x, lengths))[0], total_length=x.shape[1])[0]


def _run_rnn(rnn: nn.GRU, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    return run_rnn(rnn, x, lengths)[0]


def measure(
    n_sequences: int = 2000,
    batch_size: int = 64,
    *,
    timed_batches: int = 12,
    hidden_size: int = 64,
    input_size: int = 32,
    seed: int = 0,
    device: str | torch.device | None = None,
) -> dict[str, Any]:
    """Seconds of forward + backward per route over the same batches, for a one-way and a two-way
    GRU.

    Returns ``{"one-way": {"seconds": {route: s}, "speedup": packed ÷ run_rnn, "max_difference":
    largest |output difference|}, "two-way": {...}, "device": ..., ...}``.
    """
    check_positive(
        n_sequences=n_sequences,
        batch_size=batch_size,
        timed_batches=timed_batches,
        hidden_size=hidden_size,
        input_size=input_size,
    )
    device = pick_device(device)
    lengths = lognormal_lengths(n_sequences, seed=seed)
    batches = list(BucketBatchSampler(lengths, batch_size, seed=seed))
    step = max(1, len(batches) // timed_batches)
    timed = batches[::step][:timed_batches]
    generator = torch.Generator().manual_seed(seed)
    data = torch.randn(n_sequences, int(lengths.max()), input_size, generator=generator)
    result: dict[str, Any] = {
        "n_sequences": n_sequences,
        "batch_size": batch_size,
        "timed_batches": len(timed),
        "median_length": float(lengths.float().median()),
        "max_length": int(lengths.max()),
        "device": str(device),
    }
    for name, bidirectional in [("one-way", False), ("two-way", True)]:
        torch.manual_seed(seed)
        rnn = nn.GRU(input_size, hidden_size, batch_first=True, bidirectional=bidirectional)
        rnn = rnn.to(device)
        seconds = dict.fromkeys(ROUTES, 0.0)
        difference = 0.0
        for i, batch in enumerate([timed[0], *timed]):  # the first pass warms up, untimed
            index = torch.tensor(batch)
            lens = lengths[index].to(device)
            x = data[index, : int(lengths[index].max())].to(device)
            outputs = {}
            for route, run in zip(ROUTES, (_packed, _run_rnn), strict=True):
                tic = time.perf_counter()
                outputs[route] = run(rnn, x, lens)
                outputs[route].square().sum().backward()
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                if i:
                    seconds[route] += time.perf_counter() - tic
            rnn.zero_grad(set_to_none=True)
            difference = max(
                difference, float((outputs["packed"] - outputs["run_rnn"]).detach().abs().max())
            )
        result[name] = {
            "seconds": seconds,
            "speedup": seconds["packed"] / seconds["run_rnn"],
            "max_difference": difference,
        }
    return result


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m rnnlab bench packing [--json] [--sequences N] [--batch-size B]
    [--timed-batches K]``."""
    parser = batch_parser("packing", __doc__.splitlines()[0], sequences=2000, quick_sequences=400)
    args = parser.parse_args(argv)
    result = measure(
        args.sequences, args.batch_size, timed_batches=args.timed_batches, device=args.device
    )
    if args.json:
        print(json.dumps(result))
        return 0
    print(
        f"{result['timed_batches']} bucketed batches of {result['batch_size']} (lognormal lengths, "
        f"median {result['median_length']:.0f}, max {result['max_length']}), GRU forward + "
        f"backward on {result['device']}"
    )
    print(f"{'GRU':<9}{'packed s':>10}{'run_rnn s':>11}{'packed ÷ run_rnn':>18}{'max |diff|':>12}")
    for name in ("one-way", "two-way"):
        r = result[name]
        print(
            f"{name:<9}{r['seconds']['packed']:>10.3f}{r['seconds']['run_rnn']:>11.3f}"
            f"{r['speedup']:>17.2f}×{r['max_difference']:>12.1e}"
        )
    print("(timings are noisy on a shared machine; the two routes were interleaved batch by batch)")
    return 0
