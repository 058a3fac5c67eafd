"""Does the batch change the answer? Predict the same sequences under different batchings and
compare.

A model that handles padding correctly gives each sequence the same output whether it runs alone, in
a batch of similar lengths, or beside a much longer sequence. `predict_batched` runs a
``model(tokens, lengths)`` over any list of index batches and returns the outputs in the original
order, so batchings can be compared output for output; `batchings` builds the usual three.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from ..modes import eval_mode
from ..samplers import BucketBatchSampler
from ..sequences import pad_sequences

__all__ = ["batchings", "predict_batched", "predictions_by_batching"]


def batchings(lengths: Any, batch_size: int, *, seed: int = 0) -> dict[str, list[list[int]]]:
    """Three ways to batch the same sequences: ``alone`` (one per batch), ``bucketed`` (similar
    lengths together, little padding) and ``random`` (any lengths together, much padding)."""
    sampler = BucketBatchSampler(lengths, batch_size, shuffle=False)
    n = len(sampler.lengths)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()
    return {
        "alone": [[i] for i in range(n)],
        "bucketed": list(sampler),
        "random": [order[i : i + batch_size] for i in range(0, n, batch_size)],
    }


@torch.no_grad()
def predict_batched(
    model: nn.Module, sequences: Sequence[torch.Tensor], batches: Sequence[Sequence[int]]
) -> torch.Tensor:
    """``model(tokens, lengths)`` for every sequence, batched as ``batches`` says, in the sequences'
    order.

    Runs in eval mode (the model's mode is restored). Every sequence must appear in exactly one
    batch.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    served = sorted(i for batch in batches for i in batch)
    if served != list(range(len(sequences))):
        raise ValueError(
            f"batches must hold each of the {len(sequences)} sequence indices exactly once"
        )
    device = next(model.parameters()).device
    outputs: dict[int, torch.Tensor] = {}
    with eval_mode(model):
        for batch in batches:
            tokens, lengths = pad_sequences([sequences[i] for i in batch])
            for i, out in zip(batch, model(tokens.to(device), lengths).cpu(), strict=True):
                outputs[i] = out
    return torch.stack([outputs[i] for i in range(len(sequences))])


def predictions_by_batching(
    model: nn.Module, sequences: Sequence[torch.Tensor], ways: Mapping[str, Sequence[Sequence[int]]]
) -> dict[str, torch.Tensor]:
    """The predicted class (argmax of the outputs) of every sequence under each named batching."""
    return {
        name: predict_batched(model, sequences, batches).argmax(-1)
        for name, batches in ways.items()
    }
