"""Protocols, not type gates: a decoder of the learner's own (not rnnlab's, no rnnlab base class)
works in Seq2Seq, Translator and train_translation, and rnnlab's decoders share one step."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from rnnlab.data.parallel import encode_pairs, pair_loader
from rnnlab.data.vocab import BOS, EOS, char_tokens
from rnnlab.models.decoding import DecoderBase, SequenceDecoder, greedy_decode
from rnnlab.models.encoder_decoder import AttentionDecoder, Decoder, Encoder, Seq2Seq, seq2seq_loss
from rnnlab.models.generator import SequenceGenerator
from rnnlab.models.unroll import fit_next_step
from rnnlab.translate import Translator, train_translation
from tests.tiny_dates import DATES, SRC_VOCAB, TGT_VOCAB, batch_of


class TinyDecoder(nn.Module):
    """A GRU-cell decoder written from scratch: only the four names Seq2Seq asks for."""

    def __init__(self, vocab_size: int, memory_size: int):
        super().__init__()
        self.vocab_size = vocab_size
        self.embed = nn.Embedding(vocab_size, 16)
        self.cell = nn.GRUCell(16, memory_size)
        self.head = nn.Linear(memory_size, vocab_size)

    def init_state(self, memory, final, mask):
        return {"hidden": final}

    def step(self, tokens, state):
        hidden = self.cell(self.embed(tokens), state["hidden"])
        return self.head(hidden), {"hidden": hidden}

    def run(self, tgt, state):
        logits = []
        for t in range(tgt.shape[1]):
            step_logits, state = self.step(tgt[:, t], state)
            logits.append(step_logits)
        return torch.stack(logits, dim=1), state, None


def _model(seed: int = 0) -> Seq2Seq:
    torch.manual_seed(seed)
    encoder = Encoder(len(SRC_VOCAB), 16, 16)  # bidirectional: memory size 32
    return Seq2Seq(encoder, TinyDecoder(len(TGT_VOCAB), encoder.output_size))


def test_a_learners_decoder_trains_in_seq2seq_and_translates():
    model = _model()
    assert isinstance(model.decoder, SequenceDecoder) and not model.has_attention
    batch = batch_of(DATES)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    losses = []
    for _ in range(150):
        optimizer.zero_grad()
        loss = seq2seq_loss(model, batch)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.1 * losses[0]
    # Seq2Seq's greedy decoding is the decoder's own step, run by hand
    src, src_lengths = batch[0], batch[1]
    with torch.no_grad():
        tokens, lengths = model.greedy(src, src_lengths, max_len=12)
        by_hand = greedy_decode(
            model.decoder.step, model.encode(src, src_lengths), bos=BOS, eos=EOS, max_len=12
        )
    assert torch.equal(tokens, by_hand[0]) and torch.equal(lengths, by_hand[1])
    translator = Translator(
        model,
        SRC_VOCAB,
        TGT_VOCAB,
        tokenize=char_tokens,
        detokenize="".join,
        max_input_tokens=40,
        max_output_len=12,
    )
    sources, targets = zip(*DATES, strict=True)
    assert translator.translate(list(sources)) == list(targets)  # learned by heart
    assert translator.translate(sources[0], beam_width=3) == targets[0]
    with pytest.raises(ValueError, match="no attention"):
        translator.attention(sources[0])


def test_train_translation_takes_the_loss_passed(monkeypatch):
    monkeypatch.setenv("RNNLAB_CACHE", "0")
    src, tgt = encode_pairs(DATES, SRC_VOCAB, TGT_VOCAB, char_tokens, char_tokens)
    calls = []

    def counted(model, batch):
        calls.append(len(batch[0]))
        return seq2seq_loss(model, batch)

    loader = pair_loader(src, tgt, batch_size=4, shuffle=False)
    history = train_translation(
        "own_loss", _model(), loader, epochs=2, lr=0.01, seed=0, loss=counted, progress=False
    )
    assert len(history) == 2 and calls == [4, 4, 4, 4]
    with pytest.raises(TypeError, match="no batch_loss method.*pass loss="):
        train_translation("bad", nn.Linear(2, 2), loader, epochs=1, lr=0.1, seed=0)


def test_a_decoder_missing_a_part_is_refused_by_name():
    class NoRun(nn.Module):
        vocab_size = 5

        def init_state(self, memory, final, mask):
            return {}

        def step(self, tokens, state):
            return tokens, state

    with pytest.raises(TypeError, match="NoRun lacks run"):
        Seq2Seq(Encoder(9, 4, 4), NoRun())
    with pytest.raises(TypeError, match="TranslationModel"):
        Translator(
            nn.Linear(2, 2),
            SRC_VOCAB,
            TGT_VOCAB,
            tokenize=list,
            detokenize="".join,
            max_input_tokens=4,
            max_output_len=4,
        )


def test_rnnlabs_decoders_share_one_step():
    for decoder in (Decoder, AttentionDecoder, SequenceGenerator):
        assert decoder.step is DecoderBase.step, decoder


def test_fit_next_step_trains_any_stateful_forecaster():
    class Persistence(nn.Module):
        """Predicts each next value as the current one plus a learned shift."""

        def __init__(self):
            super().__init__()
            self.shift = nn.Parameter(torch.zeros(()))

        def forward(self, x, state):
            return x + self.shift, (torch.zeros(x.shape[0]),)

    model = Persistence()
    streams = torch.arange(40.0).view(2, 20) * 0.5  # every step rises by 0.5
    info = fit_next_step(model, streams, chunk=5, epochs=30, lr=0.05)
    assert info["updates"] == 30 * 4 and abs(model.shift.item() - 0.5) < 0.05
