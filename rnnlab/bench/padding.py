"""What padding costs: wasted positions and training throughput of naive, bucketed and token-budget
batches.

``python -m rnnlab bench padding [--json]`` draws lengths from a skewed (lognormal) distribution, as
real text has: most sequences short, a few very long. It batches one epoch four ways,

- ``naive``: random batches of ``batch_size`` sequences, each padded to its own longest;
- ``packed``: the same random batches, packed (`rnnlab.sequences.pack`) so the RNN skips padding;
- ``bucketed``: `BucketBatchSampler` batches of ``batch_size`` sequences of similar length;
- ``token_budget``: `BucketBatchSampler` batches of up to ``max_tokens`` padded positions;

and reports each one's padding waste (the share of padded positions over the whole epoch; a packed
RNN skips them, so ``packed`` has none to report) and its training speed in real tokens per
second: an LSTM's forward, backward and optimizer step, timed on a sample of each strategy's batches
spread over its batch sizes, the strategies interleaved batch by batch so that a busy machine slows
them alike. The numbers are noisy on a shared CPU; the ratios are what to read.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from ..checks import check_number, check_positive
from ..config import pick_device
from ..samplers import BucketBatchSampler, padding_waste
from ..sequences import check_lengths, masked_mean, pack, unpack
from . import batch_parser

STRATEGIES = ("naive", "packed", "bucketed", "token_budget")


def lognormal_lengths(
    n: int, *, median: float = 30.0, sigma: float = 0.7, max_len: int = 300, seed: int = 0
) -> torch.Tensor:
    """``n`` integer lengths, lognormal around ``median`` (spread ``sigma`` in log space), clipped
    to ``[1, max_len]``."""
    check_positive(n=n, max_len=max_len)
    check_number("median", median, minimum=1)
    check_number("sigma", sigma, above=0)
    g = torch.Generator().manual_seed(seed)
    lengths = torch.exp(math.log(median) + sigma * torch.randn(n, generator=g, dtype=torch.float64))
    return lengths.round().clamp(1, max_len).long()


def epoch_batches(
    lengths: torch.Tensor, batch_size: int, max_tokens: int, seed: int = 0
) -> dict[str, list[list[int]]]:
    """One epoch of index batches per strategy (``packed`` shares the naive batches)."""
    order = torch.randperm(len(lengths), generator=torch.Generator().manual_seed(seed)).tolist()
    naive = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    return {
        "naive": naive,
        "packed": naive,
        "bucketed": list(BucketBatchSampler(lengths, batch_size, seed=seed)),
        "token_budget": list(BucketBatchSampler(lengths, None, max_tokens=max_tokens, seed=seed)),
    }


class _Tagger(nn.Module):
    """The timed model: an LSTM over feature vectors with a masked-mean readout (what a classifier
    does)."""

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__()
        self.rnn = nn.LSTM(input_size, hidden_size, batch_first=True)
        self.head = nn.Linear(hidden_size, 1)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor, packed: bool) -> torch.Tensor:
        if packed:
            out, _ = unpack(self.rnn(pack(x, lengths))[0], total_length=x.shape[1])
        else:
            out, _ = self.rnn(x)
        return self.head(masked_mean(out, lengths)).squeeze(1)


def _sample(batches: list[list[int]], lengths: torch.Tensor, count: int) -> list[list[int]]:
    """``count`` batches spread evenly over the strategy's batches ordered by padded size."""
    by_size = sorted(batches, key=lambda b: len(b) * int(lengths[b].max()))
    count = min(count, len(by_size))
    return [by_size[(2 * i + 1) * len(by_size) // (2 * count)] for i in range(count)]


def measure(
    n_sequences: int = 8000,
    batch_size: int = 64,
    *,
    max_tokens: int | None = None,
    timed_batches: int = 12,
    hidden_size: int = 128,
    input_size: int = 32,
    strategies: Sequence[str] = STRATEGIES,
    seed: int = 0,
    device: str | torch.device | None = None,
) -> dict[str, Any]:
    """Padding waste and real tokens/second of each strategy in one run; the notebook and the CLI
    call this.

    ``max_tokens`` defaults to ``batch_size`` × the mean length, so token-budget batches carry as
    many real tokens on average as fixed-size ones. Returns
    ``{"waste": {strategy: fraction}, "tokens_per_s": {...}, "speedup_vs_naive": {strategy: tokens/s
    ÷ naive's}, "batches": {strategy: count}, ...}``.
    """
    unknown = [s for s in strategies if s not in STRATEGIES]
    if unknown or "naive" not in strategies:
        raise ValueError(
            f"strategies must include 'naive' and come from {STRATEGIES}, got {list(strategies)}"
        )
    check_positive(n_sequences=n_sequences, batch_size=batch_size, timed_batches=timed_batches)
    device = pick_device(device)
    lengths = check_lengths(lognormal_lengths(n_sequences, seed=seed))
    max_tokens = max_tokens or max(
        batch_size * round(float(lengths.float().mean())), int(lengths.max())
    )
    batches = {
        k: v
        for k, v in epoch_batches(lengths, batch_size, max_tokens, seed).items()
        if k in strategies
    }

    torch.manual_seed(seed)
    model = _Tagger(input_size, hidden_size).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
    data = torch.randn(n_sequences, int(lengths.max()), input_size)

    def train_step(batch: list[int], strategy: str) -> float:
        index = torch.tensor(batch)
        lens = lengths[index]
        x = data[index, : int(lens.max())].to(device)
        tic = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        model(x, lens.to(device), strategy == "packed").square().mean().backward()
        optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return time.perf_counter() - tic

    timed = {k: _sample(v, lengths, timed_batches) for k, v in batches.items()}
    for name, sample in timed.items():  # warm-up: first calls allocate and pick kernels
        train_step(sample[0], name)
    seconds = dict.fromkeys(timed, 0.0)
    tokens = dict.fromkeys(timed, 0)
    for i in range(max(len(s) for s in timed.values())):
        for name, sample in timed.items():
            if i < len(sample):
                seconds[name] += train_step(sample[i], name)
                tokens[name] += int(lengths[sample[i]].sum())
    rate = {k: tokens[k] / seconds[k] for k in timed}
    return {
        "n_sequences": n_sequences,
        "batch_size": batch_size,
        "max_tokens": max_tokens,
        "median_length": float(lengths.median()),
        "max_length": int(lengths.max()),
        "device": str(device),
        "batches": {k: len(v) for k, v in batches.items()},
        "waste": {k: padding_waste(lengths, v) for k, v in batches.items() if k != "packed"},
        "tokens_per_s": rate,
        "speedup_vs_naive": {k: rate[k] / rate["naive"] for k in timed},
        "timed_batches": {k: len(v) for k, v in timed.items()},
    }


def summary(result: dict[str, Any]) -> dict[str, float]:
    """The headline figures: ``waste_naive``, ``waste_bucketed``, ``speedup`` (bucketed ÷ naive) and
    the others."""
    out = {f"waste_{k}": v for k, v in result["waste"].items()}
    out.update(
        {
            "speedup" if k == "bucketed" else f"speedup_{k}": v
            for k, v in result["speedup_vs_naive"].items()
            if k != "naive"
        }
    )
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m rnnlab bench padding [--json] [--sequences N] [--batch-size B] [--timed-batches
    K]``."""
    parser = batch_parser("padding", __doc__.splitlines()[0], sequences=8000, quick_sequences=1500)
    args = parser.parse_args(argv)
    result = measure(
        args.sequences, args.batch_size, timed_batches=args.timed_batches, device=args.device
    )
    if args.json:
        print(json.dumps({**summary(result), **result}))
        return 0
    print(
        f"{result['n_sequences']} sequences, lognormal lengths (median "
        f"{result['median_length']:.0f}, max "
        f"{result['max_length']}), LSTM on {result['device']}, batch size {result['batch_size']}, "
        f"token budget {result['max_tokens']}"
    )
    print(f"{'strategy':<14}{'batches':>8}{'waste':>8}{'real tokens/s':>15}{'speed-up':>10}")
    for name in result["tokens_per_s"]:
        waste = f"{result['waste'][name]:.1%}" if name in result["waste"] else "skipped"
        print(
            f"{name:<14}{result['batches'][name]:>8}{waste:>8}"
            f"{result['tokens_per_s'][name]:>15,.0f}{result['speedup_vs_naive'][name]:>9.2f}×"
        )
    print("(timings are noisy on a shared machine; strategies were interleaved batch by batch)")
    return 0
