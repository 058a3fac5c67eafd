"""rnnlab.models.encoder_decoder: padding never counts, step by step equals whole, beam 1 equals
greedy, bad input, and at most 3 host reads per training step of chapter 2's model."""

from __future__ import annotations

import pytest
import torch
from torch.profiler import ProfilerActivity, profile

from rnnlab.data.dates import make_dates
from rnnlab.data.parallel import encode_pairs, pair_loader
from rnnlab.data.vocab import BOS, Vocab, char_tokens
from rnnlab.models.encoder_decoder import Seq2Seq, seq2seq_loss
from tests.tiny_dates import DATES, batch_of, model


@pytest.mark.parametrize("attention", [None, "initial-state-only", "additive", "multiplicative"])
def test_loss_ignores_padding(attention):
    m = model(attention)
    torch.testing.assert_close(
        seq2seq_loss(m, batch_of(DATES)), seq2seq_loss(m, batch_of(DATES, pad_extra=1))
    )


@pytest.mark.parametrize("attention", [None, "initial-state-only", "additive"])
def test_step_by_step_equals_whole_sequence_and_free_running_equals_greedy(attention):
    m = model(attention).eval()
    src, src_len, tgt_in, _, _ = batch_of(DATES)
    whole = m(src, src_len, tgt_in)
    state, steps = m.encode(src, src_len), []
    for t in range(tgt_in.shape[1]):
        logits, state = m.decoder.step(tgt_in[:, t], state)
        steps.append(logits)
    torch.testing.assert_close(torch.stack(steps, 1), whole, atol=1e-5, rtol=1e-4)
    free = m(src, src_len, torch.full_like(tgt_in, BOS), teacher_forcing=0.0).argmax(-1)
    greedy, lengths = m.greedy(src, src_len, max_len=tgt_in.shape[1])
    for row, g, n in zip(free.tolist(), greedy.tolist(), lengths.tolist(), strict=True):
        assert row[:n] == g[:n]


def test_beam_width_one_equals_greedy_on_a_model():
    m = model("additive")
    src, src_len, *_ = batch_of(DATES)
    greedy, lengths = m.greedy(src, src_len, max_len=12)
    beams = m.beam(src, src_len, max_len=12, beam_width=1)
    assert [b[0][0].tolist() for b in beams] == [
        g[:n] for g, n in zip(greedy.tolist(), lengths.tolist(), strict=True)
    ]
    wide = m.beam(src, src_len, max_len=12, beam_width=4)
    assert all(
        1 <= len(b) <= 4 and [s for _, s in b] == sorted((s for _, s in b), reverse=True)
        for b in wide
    )


def test_seq2seq_bad_inputs():
    m = model()
    src, src_len, tgt_in, _, _ = batch_of(DATES)
    with pytest.raises(ValueError, match="teacher_forcing"):
        m(src, src_len, tgt_in, teacher_forcing=1.5)
    with pytest.raises(TypeError, match="src"):
        m(src.float(), src_len, tgt_in)
    with pytest.raises(ValueError, match="src_lengths"):
        m(src, src_len[:-1], tgt_in)
    with pytest.raises(ValueError, match="tgt_in"):
        m(src, src_len, tgt_in[:-1])
    with pytest.raises(ValueError, match="vocabulary"):
        m(src, src_len, tgt_in + 100)
    with pytest.raises(ValueError, match="hidden_size"):
        Seq2Seq.build(10, 10, hidden_size=33)
    with pytest.raises(ValueError, match="feed_context"):
        Seq2Seq.build(10, 10, attention="additive", feed_context=False)
    with pytest.raises(TypeError, match="feed_context"):
        Seq2Seq.build(10, 10, attention=None, feed_context="no")
    with pytest.raises(ValueError, match="no attention"):
        model(None).attention_weights(src, src_len, tgt_in)
    with pytest.raises(TypeError, match="batch"):
        seq2seq_loss(m, (src, tgt_in))


def test_initial_state_only_decoder_sees_the_source_only_through_its_first_state():
    m = model("initial-state-only").eval()
    src, src_len, *_ = batch_of(DATES)
    state = m.encode(src, src_len)
    assert set(state) == {"hidden"} and m.decoder.rnn.input_size == m.decoder.embed.embedding_dim
    assert m.decoder.head.in_features == m.decoder.rnn.hidden_size


# Validate once, at the edges: one forward + loss + backward of chapter 2's model reads at most 3
# values back (profiler: aten::_local_scalar_dense, what .item(), int(t) and bool(t) run).
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
