"""Fixtures shared by the tests of the tagging models (rnnlab.models.synced and
rnnlab.models.ctc)."""

import pytest
import torch


@pytest.fixture
def tagging_batch():
    """Five token rows of lengths 9, 3, 6, 1, 9 from a vocabulary of 12, each with 4 target tokens
    from 7.

    Returns (src (5, 9), src_lengths (5,), tgt (5, 4), tgt_lengths (5,)); ids 0-3 are the special
    tokens.
    """
    batch, out_len = 5, 4
    gen = torch.Generator().manual_seed(0)
    lengths = torch.tensor([9, 3, 6, 1, 9])
    src = torch.randint(4, 12, (batch, 9), generator=gen) * (torch.arange(9) < lengths.unsqueeze(1))
    tgt = torch.randint(4, 7, (batch, out_len), generator=gen)
    return src, lengths, tgt, torch.full((batch,), out_len)
