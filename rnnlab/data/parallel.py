"""Parallel corpora (source → target token sequences) as batches for seq2seq training.

Shared by the date and English→French tasks: `encode_pairs` turns text pairs into id tensors with
the vocabularies, `pair_loader` batches them for `rnnlab.models.encoder_decoder.Seq2Seq` and
`synced_loader` for the synced baselines.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch.utils.data import DataLoader

from ..checks import check_positive
from ..samplers import BucketBatchSampler
from ..sequences import collate_padded
from .vocab import Vocab

Tokenizer = Callable[[str], list[str]]

__all__ = ["encode_pairs", "pair_loader", "synced_loader"]


def encode_pairs(
    pairs: Sequence[tuple[str, str]],
    src_vocab: Vocab,
    tgt_vocab: Vocab,
    src_tokens: Tokenizer,
    tgt_tokens: Tokenizer,
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Source ids (plain) and target ids (framed by ``<bos>`` … ``<eos>``) for each
    ``(source, target)`` text pair."""
    if len(pairs) == 0:
        raise ValueError("pairs is empty")
    src = [src_vocab.encode(src_tokens(s)) for s, _ in pairs]
    tgt = [tgt_vocab.encode(tgt_tokens(t), bos=True, eos=True) for _, t in pairs]
    for i, ids in enumerate(src):
        if ids.numel() == 0:
            raise ValueError(f"pairs[{i}] has an empty source {pairs[i][0]!r}")
    return src, tgt


def _loader(
    samples: list, batch_size: int, shuffle: bool, seed: int, collate: Callable, bucket: bool
) -> DataLoader:
    check_positive(batch_size=batch_size)
    if not samples:
        raise ValueError("no samples to batch")
    if bucket:
        sampler = BucketBatchSampler(
            [len(sample[0]) for sample in samples], batch_size, shuffle=shuffle, seed=seed
        )
        return DataLoader(samples, batch_sampler=sampler, collate_fn=collate)
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(
        samples, batch_size=batch_size, shuffle=shuffle, generator=generator, collate_fn=collate
    )


def _check_same_count(src: Sequence, tgt: Sequence) -> None:
    if len(src) != len(tgt):
        raise ValueError(f"src has {len(src)} sequences but tgt has {len(tgt)}")


def pair_loader(
    src: Sequence[torch.Tensor],
    tgt: Sequence[torch.Tensor],
    *,
    batch_size: int,
    shuffle: bool,
    seed: int = 0,
    bucket: bool = False,
) -> DataLoader:
    """Batches ``(src, src_lengths, tgt_in, tgt_out, tgt_lengths)`` for teacher-forced training.

    ``tgt`` sequences are framed ``<bos> … <eos>``; ``tgt_in`` drops the last token, ``tgt_out`` the
    first (the next token to predict at each position), ``tgt_lengths`` counts the real positions.
    """
    _check_same_count(src, tgt)

    def collate(samples: list) -> tuple[torch.Tensor, ...]:
        s, s_len, t, t_len = collate_padded(samples)
        return s, s_len, t[:, :-1], t[:, 1:], t_len - 1

    return _loader(list(zip(src, tgt, strict=True)), batch_size, shuffle, seed, collate, bucket)


def synced_loader(
    src: Sequence[torch.Tensor],
    tgt: Sequence[torch.Tensor],
    *,
    batch_size: int,
    shuffle: bool,
    seed: int = 0,
    bucket: bool = False,
) -> DataLoader:
    """Batches ``(src, src_lengths, tgt, tgt_lengths)`` for the synced models
    (`rnnlab.models.synced`, `rnnlab.models.ctc`).

    ``tgt`` holds the plain target ids (no ``<bos>``/``<eos>``): a synced model writes exactly its
    target's tokens, and lays out its own frames (blank steps, repeated inputs) from the sources.
    """
    _check_same_count(src, tgt)
    return _loader(
        list(zip(src, tgt, strict=True)), batch_size, shuffle, seed, collate_padded, bucket
    )
