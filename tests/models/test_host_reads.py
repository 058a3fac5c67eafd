"""Validate once, at the edges: one forward + loss + backward of chapter 2's attention model reads
at most 3 values back from its tensors (each read is a device sync on a GPU), counted with the
profiler (``aten::_local_scalar_dense`` is what ``.item()``, ``int(t)`` and ``bool(t)`` run)."""

from __future__ import annotations

import pytest
import torch
from torch.profiler import ProfilerActivity, profile

from rnnlab.data.dates import make_dates
from rnnlab.data.parallel import encode_pairs, pair_loader
from rnnlab.data.vocab import Vocab, char_tokens
from rnnlab.models.encoder_decoder import Seq2Seq, seq2seq_loss

MAX_READS = 3


def _host_reads(step) -> int:
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        step()
    return sum(e.count for e in prof.key_averages() if e.key == "aten::_local_scalar_dense")


@pytest.fixture(scope="module")
def chapter_2_batch():
    # as chapter 2 builds its date models: character vocabularies, bucketed pair_loader batches
    dates = make_dates(64, seed=0)
    src_vocab = Vocab.build(char_tokens(h) for h, _ in dates)
    tgt_vocab = Vocab.build(char_tokens(iso) for _, iso in dates)
    src, tgt = encode_pairs(dates, src_vocab, tgt_vocab, char_tokens, char_tokens)
    batch = next(iter(pair_loader(src, tgt, batch_size=16, shuffle=True, bucket=True)))
    return len(src_vocab), len(tgt_vocab), batch


@pytest.mark.parametrize("attention", ["additive", "multiplicative", None])
def test_forward_loss_backward_reads_back_at_most_three_values(chapter_2_batch, attention):
    src_size, tgt_size, batch = chapter_2_batch
    torch.manual_seed(0)
    model = Seq2Seq.build(src_size, tgt_size, hidden_size=32, attention=attention)
    seq2seq_loss(model, batch).backward()  # warm-up: first calls may initialise things
    reads = _host_reads(lambda: seq2seq_loss(model, batch).backward())
    assert reads <= MAX_READS, f"{reads} host reads (was 17 before validation moved to the edges)"


def test_the_counter_sees_a_read():
    x = torch.ones(3)
    assert _host_reads(lambda: x.sum().item()) == 1 and _host_reads(lambda: x + 1) == 0
