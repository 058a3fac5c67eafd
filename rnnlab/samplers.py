"""Batch samplers for variable-length data, and the padding a batching costs.

A padded batch is as long as its longest sequence, so every shorter sequence in it is padding: work
an RNN does for nothing. `BucketBatchSampler` puts sequences of similar lengths together (a fixed
number per batch, or as many as fit a token budget) and splits the batches between the ranks of a
DistributedDataParallel run; `padding_waste` measures the share of padding any batching leaves. The
tensor operations these batches go through (padding, masks, packing) are in `rnnlab.sequences`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch.utils.data import Sampler

from .checks import check_bool, check_int
from .sequences import check_lengths

__all__ = ["BucketBatchSampler", "padding_waste"]


def padding_waste(lengths: Any, batches: Sequence[Sequence[int]]) -> float:
    """Fraction of the positions in padded ``batches`` that are padding:
    ``1 - real / (Σ batch size × longest)``.

    ``batches`` lists index batches into ``lengths`` (what a batch sampler yields). This is the
    share of an RNN's work spent on padding when every batch is padded to its own longest sequence.
    """
    lengths = check_lengths(lengths)
    if isinstance(batches, torch.Tensor) or not isinstance(batches, Sequence) or len(batches) == 0:
        raise ValueError("batches must be a non-empty list of index lists")
    real = padded = 0
    for i, batch in enumerate(batches):
        index = torch.as_tensor(list(batch), dtype=torch.int64)
        if index.numel() == 0:
            raise ValueError(f"batches[{i}] is empty")
        if int(index.min()) < 0 or int(index.max()) >= lengths.numel():
            raise ValueError(f"batches[{i}] holds an index outside [0, {lengths.numel()})")
        chosen = lengths[index]
        real += int(chosen.sum())
        padded += index.numel() * int(chosen.max())
    return 1.0 - real / padded


def _replicas(num_replicas: Any, rank: Any) -> tuple[int, int]:
    """``(num_replicas, rank)``: given, else from an initialised ``torch.distributed`` group, else
    ``(1, 0)``."""
    distributed = torch.distributed.is_available() and torch.distributed.is_initialized()
    if num_replicas is None:
        num_replicas = torch.distributed.get_world_size() if distributed else 1
    if rank is None:
        rank = torch.distributed.get_rank() if distributed else 0
    num_replicas = check_int("num_replicas", num_replicas, minimum=1)
    return num_replicas, check_int("rank", rank, minimum=0, maximum=num_replicas - 1)


class BucketBatchSampler(Sampler[list[int]]):
    """Batches of similar lengths, so that padding each batch to its longest sequence wastes little.

    Each epoch the indices are sorted by length (ties broken at random), cut into batches, and the
    batches are served in random order. A batch holds ``batch_size`` sequences, or, with
    ``max_tokens``, as many as fit in ``max_tokens`` padded positions (batch size × longest length,
    so at most ``max_tokens`` real tokens): short sequences travel in big batches, long ones in
    small batches, and every batch costs about the same. Both limits may be given.

    Under DistributedDataParallel pass ``num_replicas`` and ``rank`` (read from
    ``torch.distributed`` when it is initialised): every rank gets the same number of batches, the
    ranks' batches are disjoint, and at each step the ranks get batches of neighbouring lengths, so
    none waits long for another. With ``drop_last=False`` every index is served exactly once per
    epoch across the ranks (large batches are split in two where needed to even out the count); with
    ``drop_last=True`` the incomplete batch and any batches left over after an even split are
    dropped (chosen at random when shuffling). Each pass over the sampler serves the next epoch's
    shuffle (the same on all ranks); ``set_epoch(epoch)`` pins the pass that follows to ``epoch``,
    as with ``DistributedSampler``, which keeps ranks in step and makes a resumed run repeat the
    original (`rnnlab.fit` calls it every epoch).

    Use it as
    ``DataLoader(dataset, batch_sampler=BucketBatchSampler(lengths, 64),
    collate_fn=collate_padded)``.
    """

    def __init__(
        self,
        lengths: Any,
        batch_size: int | None,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = False,
        *,
        max_tokens: int | None = None,
        num_replicas: int | None = None,
        rank: int | None = None,
    ):
        self.lengths = check_lengths(lengths).cpu()
        self.shuffle = check_bool("shuffle", shuffle)
        self.drop_last = check_bool("drop_last", drop_last)
        self.seed = check_int("seed", seed)
        self.epoch = 0
        self.batch_size = check_int("batch_size", batch_size, minimum=1, optional=True)
        self.max_tokens = check_int("max_tokens", max_tokens, minimum=1, optional=True)
        if self.batch_size is None and self.max_tokens is None:
            raise ValueError("batch_size is None: give a batch_size, a max_tokens budget, or both")
        if self.max_tokens is not None and self.max_tokens < int(self.lengths.max()):
            raise ValueError(
                f"max_tokens={self.max_tokens} is shorter than the longest sequence "
                f"({int(self.lengths.max())})"
            )
        if drop_last and self.max_tokens is not None:
            raise ValueError(
                "drop_last applies to fixed-size batches; with max_tokens every batch is filled up "
                "to its budget"
            )
        self.num_replicas, self.rank = _replicas(num_replicas, rank)
        if self.lengths.numel() < self.num_replicas:
            raise ValueError(
                f"lengths has {self.lengths.numel()} sequences, fewer than "
                f"num_replicas={self.num_replicas}"
            )
        self._count = len(self._all_batches(0))
        if self._count == 0:
            raise ValueError(
                f"drop_last=True leaves no batch: {len(self.lengths)} sequences do not fill one "
                f"batch of {self.batch_size} for each of the {self.num_replicas} replicas"
            )

    def set_epoch(self, epoch: int) -> None:
        """Serve ``epoch``'s shuffle on the next pass (the same on every rank); later passes
        continue from it."""
        self.epoch = check_int("epoch", epoch, minimum=0)

    def _cut(self, order: torch.Tensor) -> list[list[int]]:
        """Cut indices sorted by length into consecutive batches within the size and token
        limits."""
        batches: list[list[int]] = []
        current: list[int] = []
        for index, length in zip(order.tolist(), self.lengths[order].tolist(), strict=True):
            full = self.batch_size is not None and len(current) == self.batch_size
            over = self.max_tokens is not None and (len(current) + 1) * length > self.max_tokens
            if current and (full or over):
                batches.append(current)
                current = []
            current.append(index)
        if current:
            batches.append(current)
        return batches

    def _even_out(
        self, batches: list[list[int]], generator: torch.Generator | None
    ) -> list[list[int]]:
        """Make the number of batches a multiple of ``num_replicas`` by dropping or splitting
        batches."""
        extra = len(batches) % self.num_replicas
        if extra == 0:
            return batches
        if self.drop_last:
            doomed = set(_permutation(len(batches), generator)[:extra])
            return [b for i, b in enumerate(batches) if i not in doomed]
        while len(batches) % self.num_replicas:
            largest = max(range(len(batches)), key=lambda i: len(batches[i]))
            batch = batches[largest]
            if len(batch) < 2:
                raise ValueError(
                    f"cannot give num_replicas={self.num_replicas} ranks the same number of "
                    "batches without repeating "
                    f"sequences ({len(self.lengths)} single-sequence batches); use drop_last=True "
                    "or a larger batch_size"
                )
            half = len(batch) // 2
            batches[largest : largest + 1] = [batch[:half], batch[half:]]
        return batches

    def _all_batches(self, epoch: int) -> list[list[int]]:
        """Every rank's batches for ``epoch``, in serving order, grouped so batch ``i`` goes to rank
        ``i % num_replicas``."""
        generator = torch.Generator().manual_seed(self.seed + epoch) if self.shuffle else None
        order = torch.tensor(_permutation(len(self.lengths), generator), dtype=torch.int64)
        if self.drop_last and self.batch_size is not None:
            keep = len(order) - len(order) % self.batch_size
            order = order[:keep]  # random indices when shuffling, else the last ones
        order = order[torch.argsort(self.lengths[order], stable=True)]
        batches = self._even_out(self._cut(order), generator)
        groups = [
            batches[i : i + self.num_replicas] for i in range(0, len(batches), self.num_replicas)
        ]
        served = []
        for g in _permutation(len(groups), generator):
            served.extend(groups[g][r] for r in _permutation(self.num_replicas, generator))
        return served

    def __iter__(self) -> Iterator[list[int]]:
        batches = self._all_batches(self.epoch)
        self.epoch += 1
        return iter(batches[self.rank :: self.num_replicas])

    def __len__(self) -> int:
        return self._count // self.num_replicas


def _permutation(n: int, generator: torch.Generator | None) -> list[int]:
    """A random permutation of ``range(n)`` from ``generator``, or the identity when it is None."""
    return (
        torch.randperm(n, generator=generator).tolist() if generator is not None else list(range(n))
    )
