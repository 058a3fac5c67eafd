"""The data of the DDP training script: the sentiment sentences as ``(word ids, label)`` samples,
and each rank's loader of its share of every global batch.

Rank ``r`` of ``N`` reads positions ``r, r+N, ...`` of one shuffle shared by all ranks, so at step
``k`` the ranks together hold exactly the samples one process would read as batch ``k``
(`merge_batches` puts them back together for the one-process reference).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, DistributedSampler

from ..checks import check_int, check_positive
from ..data.sentiment import encode_sentences, sentiment_split
from ..data.vocab import Vocab, word_tokens
from ..samplers import BucketBatchSampler
from ..sequences import collate_padded

__all__ = ["Batch", "Sample", "batches", "make_data", "make_loader", "merge_batches"]

Sample = tuple[torch.Tensor, int]
Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # tokens (B, T), lengths (B,), labels (B,)


def make_data(seed: int = 0) -> tuple[list[Sample], list[Sample], Vocab]:
    """Train and test samples ``(word ids, label)`` of the UCI sentiment sentences, and the training
    vocabulary."""
    train_rows, _, test_rows = sentiment_split(seed=seed)
    vocab = Vocab.build(word_tokens(row.text) for row in train_rows)

    def samples(rows: list) -> list[Sample]:
        return [
            (ids, row.label) for ids, row in zip(encode_sentences(rows, vocab), rows, strict=True)
        ]

    return samples(train_rows), samples(test_rows), vocab


def merge_batches(parts: Sequence[Batch]) -> Batch:
    """One padded batch holding every part's sequences, in order (what one process reads for the N
    ranks' shards)."""
    if not parts:
        raise ValueError("parts is empty: nothing to merge")
    width = max(tokens.shape[1] for tokens, _, _ in parts)
    tokens = torch.cat([F.pad(t, (0, width - t.shape[1])) for t, _, _ in parts])
    return (
        tokens,
        torch.cat([lengths for _, lengths, _ in parts]),
        torch.cat([labels for _, _, labels in parts]),
    )


def make_loader(
    samples: Sequence[Sample],
    global_batch: int,
    rank: int,
    world_size: int,
    seed: int,
    bucket: bool = False,
) -> tuple[DataLoader, DistributedSampler | BucketBatchSampler]:
    """This rank's loader: its share (``global_batch / world_size``) of each global batch, and its
    sampler.

    All ranks shuffle with the same seed (plus the epoch) and rank ``r`` takes positions
    ``r, r+N, ...``, so at step ``k`` the ranks together hold exactly the samples one process would
    get as batch ``k``. Tails that do not fill a whole global batch are dropped, so every world size
    takes the same steps. ``bucket=True`` uses `rnnlab.samplers.BucketBatchSampler` instead (batches
    of similar lengths: less padding, faster, but no longer the same batches as one process would
    draw).
    """
    check_positive(world_size=world_size)
    check_int("rank", rank, minimum=0, maximum=world_size - 1)
    # at most the training set size
    check_int("global_batch", global_batch, minimum=1, maximum=len(samples))
    if global_batch % world_size:
        raise ValueError(
            f"global_batch={global_batch} does not split evenly over {world_size} processes"
        )
    if bucket:
        buckets = BucketBatchSampler(
            [len(tokens) for tokens, _ in samples],
            global_batch // world_size,
            seed=seed,
            drop_last=True,
            num_replicas=world_size,
            rank=rank,
        )
        return DataLoader(samples, batch_sampler=buckets, collate_fn=collate_padded), buckets
    sampler = DistributedSampler(
        samples, num_replicas=world_size, rank=rank, shuffle=True, seed=seed, drop_last=True
    )
    loader = DataLoader(
        samples,
        batch_size=global_batch // world_size,
        sampler=sampler,
        collate_fn=collate_padded,
        drop_last=True,
    )
    return loader, sampler


def batches(
    loader: DataLoader, sampler: DistributedSampler | BucketBatchSampler, steps: int
) -> Iterator[Any]:
    """``steps`` batches, calling ``set_epoch`` at each pass so every epoch has a fresh (shared)
    shuffle."""
    step, epoch = 0, 0
    while step < steps:
        sampler.set_epoch(epoch)
        for batch in loader:
            if step == steps:
                return
            yield batch
            step += 1
        epoch += 1
