"""rnnlab.models.encoder_decoder: padding never counts, step by step equals whole, beam 1 equals
greedy, bad input."""

import pytest
import torch

from rnnlab.data.vocab import BOS
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
