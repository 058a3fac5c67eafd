from __future__ import annotations

import itertools
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from rnnlab.data.parallel import encode_pairs, pair_loader
from rnnlab.data.vocab import BOS, EOS, PAD, char_tokens
from rnnlab.models.decoding import (
    DecoderBase,
    SequenceDecoder,
    beam_search,
    greedy_decode,
    sample_decode,
    select_state,
    state_batch,
)
from rnnlab.models.encoder_decoder import AttentionDecoder, Decoder, Encoder, Seq2Seq, seq2seq_loss
from rnnlab.models.generator import SequenceGenerator
from rnnlab.models.unroll import fit_next_step
from rnnlab.translate import Translator, train_translation
from tests.tiny_dates import DATES, SRC_VOCAB, TGT_VOCAB, batch_of

V = 7


def markov_step(table: torch.Tensor):
    """A toy model: logits depend on the previous token and a per-example bias carried as state."""

    def step(tokens, state):
        bias, count = state["bias"], state["count"]
        return table[tokens] + bias * count.unsqueeze(1), {"bias": bias, "count": count + 1}

    return step


def toy(seed: int, batch: int):
    g = torch.Generator().manual_seed(seed)
    table = torch.randn(V, V, generator=g) * 3
    state = {"bias": torch.randn(batch, V, generator=g), "count": torch.zeros(batch)}
    return markov_step(table), state


def fixed_step(rows):
    """A model whose next-token log-probs depend only on the step index (rows[t] is a list of V
    probs)."""

    def step(tokens, state):
        t = int(state[0])
        probs = torch.tensor(rows[min(t, len(rows) - 1)], dtype=torch.float64).log().float()
        return probs.expand(tokens.shape[0], -1).clone(), state + 1

    return step


def test_greedy_shapes_padding_and_lengths():
    step, state = toy(0, 5)
    tokens, lengths = greedy_decode(step, state, bos=BOS, eos=EOS, max_len=12)
    assert tokens.dtype == torch.int64 and tokens.shape[0] == 5 and tokens.shape[1] <= 12
    for row, n in zip(tokens.tolist(), lengths.tolist(), strict=True):
        assert all(t == PAD for t in row[n:])
        if EOS in row:
            assert row.index(EOS) == n - 1
        else:
            assert n == tokens.shape[1] == 12


def test_greedy_stops_when_all_finished():
    calls = []

    def step(tokens, state):
        calls.append(tokens.clone())
        logits = torch.full((tokens.shape[0], 5), -5.0)
        logits[:, EOS] = 5.0
        return logits, state

    tokens, lengths = greedy_decode(step, torch.zeros(3, 1), bos=BOS, eos=EOS, max_len=50)
    assert len(calls) == 1 and tokens.tolist() == [[EOS]] * 3 and lengths.tolist() == [1, 1, 1]
    assert calls[0].tolist() == [BOS] * 3


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), batch=st.integers(1, 4), max_len=st.integers(1, 9))
def test_beam_width_one_equals_greedy(seed, batch, max_len):
    step, state = toy(seed, batch)
    tokens, lengths = greedy_decode(step, state, bos=BOS, eos=EOS, max_len=max_len)
    beams = beam_search(step, state, bos=BOS, eos=EOS, max_len=max_len, beam_width=1)
    assert len(beams) == batch
    for b in range(batch):
        assert len(beams[b]) == 1
        assert beams[b][0][0].tolist() == tokens[b, : lengths[b]].tolist()


def brute_force_best(step, max_len, length_penalty):
    """Score every possible output of a single example (V small) and return the best (tokens,
    score)."""
    best = None
    for n in range(1, max_len + 1):
        for seq in itertools.product(range(V), repeat=n):
            if EOS in seq[:-1] or PAD in seq or (n < max_len and seq[-1] != EOS):
                continue
            state = {"bias": BIAS, "count": torch.zeros(1)}
            prev = BOS
            logp = 0.0
            for tok in seq:
                logits, state = step(torch.tensor([prev]), state)
                logp += float(torch.log_softmax(logits, -1)[0, tok])
                prev = tok
            score = logp / n**length_penalty
            if best is None or score > best[1]:
                best = (list(seq), score)
    return best


BIAS = torch.randn(1, V, generator=torch.Generator().manual_seed(3))


@pytest.mark.parametrize("length_penalty", [0.0, 1.0])
def test_wide_beam_is_exhaustive(length_penalty):
    table = torch.randn(V, V, generator=torch.Generator().manual_seed(1)) * 2
    step = markov_step(table)
    best_tokens, best_score = brute_force_best(step, 3, length_penalty)
    beams = beam_search(
        step,
        {"bias": BIAS, "count": torch.zeros(1)},
        bos=BOS,
        eos=EOS,
        max_len=3,
        beam_width=400,
        length_penalty=length_penalty,
    )
    assert beams[0][0][0].tolist() == best_tokens
    assert beams[0][0][1] == pytest.approx(best_score, abs=1e-4)
    scores = [s for _, s in beams[0]]
    assert scores == sorted(scores, reverse=True)


def test_beam_beats_greedy_on_a_garden_path():
    # Step 0: token 4 (0.4) or 5 (0.6). Greedy takes 5, after which every continuation is uncertain.
    # Beam search sees that 4 is followed by EOS with certainty: 0.4 * 1.0 > 0.6 * 0.5.
    def step(tokens, state):
        t = int(state[0, 0])
        rows = []
        for tok in tokens.tolist():
            if t == 0:
                p = [0, 0, 0, 0, 0.4, 0.6]
            elif tok == 4:
                p = [0, 0, 0, 1.0, 0, 0]
            else:
                p = [0, 0, 0, 0.5, 0.25, 0.25]
            rows.append(p)
        return torch.tensor(rows).clamp_min(1e-9).log(), state + 1

    state = torch.zeros(2, 1)
    greedy, _ = greedy_decode(step, state, bos=BOS, eos=EOS, max_len=5)
    assert greedy[0].tolist()[:2] == [5, EOS]
    beams = beam_search(step, state, bos=BOS, eos=EOS, max_len=5, beam_width=2, length_penalty=0.0)
    assert beams[0][0][0].tolist() == [4, EOS]
    assert beams[0][0][1] == pytest.approx(math.log(0.4), abs=1e-5)
    assert beams[1][0][0].tolist() == [4, EOS]  # batched: every example decoded the same way


def test_finished_beams_stay_finished():
    step = fixed_step([[0.0, 0.0, 0.0, 0.5, 0.3, 0.2]] * 10)
    beams = beam_search(
        step, torch.zeros(1, 1), bos=BOS, eos=EOS, max_len=4, beam_width=3, length_penalty=0.0
    )
    for tokens, _ in beams[0]:
        row = tokens.tolist()
        assert PAD not in row
        assert EOS not in row[:-1]


def test_sample_decode_repeatable_and_low_temperature_is_greedy():
    step, state = toy(5, 6)
    a = sample_decode(
        step, state, bos=BOS, eos=EOS, max_len=10, generator=torch.Generator().manual_seed(0)
    )
    b = sample_decode(
        step, state, bos=BOS, eos=EOS, max_len=10, generator=torch.Generator().manual_seed(0)
    )
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    cold = sample_decode(step, state, bos=BOS, eos=EOS, max_len=10, temperature=1e-4)
    greedy = greedy_decode(step, state, bos=BOS, eos=EOS, max_len=10)
    assert torch.equal(cold[0], greedy[0])
    tokens, lengths = a
    for row, n in zip(tokens.tolist(), lengths.tolist(), strict=True):
        assert all(t == PAD for t in row[n:])


def test_state_helpers():
    state = (torch.arange(6).view(3, 2), {"m": torch.tensor([True, False, True])})
    assert state_batch(state)[0] == 3
    picked = select_state(state, torch.tensor([2, 2, 0]))
    assert picked[0].tolist() == [[4, 5], [4, 5], [0, 1]] and picked[1]["m"].tolist() == [
        True,
        True,
        True,
    ]


def test_bad_arguments():
    step, state = toy(0, 2)
    ok = {"bos": BOS, "eos": EOS, "max_len": 5}
    with pytest.raises(ValueError, match="max_len"):
        greedy_decode(step, state, bos=BOS, eos=EOS, max_len=0)
    with pytest.raises(TypeError, match="bos"):
        greedy_decode(step, state, bos=2.0, eos=EOS, max_len=5)
    with pytest.raises(TypeError, match="eos"):
        greedy_decode(step, state, bos=BOS, eos=True, max_len=5)
    with pytest.raises(ValueError, match="eos"):
        greedy_decode(step, state, bos=BOS, eos=99, max_len=5)
    with pytest.raises(ValueError, match="beam_width"):
        beam_search(step, state, beam_width=0, **ok)
    with pytest.raises(ValueError, match="length_penalty"):
        beam_search(step, state, beam_width=2, length_penalty=-1, **ok)
    with pytest.raises(ValueError, match="temperature"):
        sample_decode(step, state, temperature=0, **ok)
    with pytest.raises(TypeError, match="step"):
        greedy_decode("not a function", state, **ok)
    with pytest.raises(ValueError, match="batch size"):
        greedy_decode(step, {"bias": torch.zeros(2, V), "count": torch.zeros(3)}, **ok)
    with pytest.raises(ValueError, match="no tensor"):
        greedy_decode(step, {}, **ok)
    with pytest.raises(ValueError, match="logits"):
        greedy_decode(lambda tokens, s: (torch.zeros(5), s), state, **ok)


# Protocols, not type gates: a learner's own decoder (no rnnlab base class) works in Seq2Seq,
# Translator and train_translation; rnnlab's decoders share one step.
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
