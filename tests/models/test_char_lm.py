"""rnnlab.models.char_lm: the character language model's stream, state, loss and sampling."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnlab.data.vocab import BOS, EOS, PAD, UNK
from rnnlab.models.char_lm import (
    CharLanguageModel,
    char_vocab,
    real_word_share,
    sample_text,
    text_chunks,
    words,
)
from rnnlab.models.decoding import greedy_decode

TEXTS = ["the cat sat.", "a dog ran!", "it's here."]


@settings(max_examples=25, deadline=None)
@given(length=st.integers(1, 12))
def test_chunks_are_the_framed_stream_and_targets_are_the_next_character(length):
    vocab = char_vocab(TEXTS)
    inputs, targets = text_chunks(TEXTS, vocab, length)
    stream = torch.cat([vocab.encode(list(t), bos=True, eos=True) for t in TEXTS])
    count = (len(stream) - 1) // length
    assert inputs.shape == targets.shape == (count, length)
    assert torch.equal(inputs.flatten(), stream[: count * length])
    assert torch.equal(targets.flatten(), stream[1 : count * length + 1])


def test_the_state_carries_over_and_sampling_never_writes_a_marker():
    torch.manual_seed(0)
    vocab = char_vocab(TEXTS)
    for cell in ("gru", "lstm"):
        model = CharLanguageModel(len(vocab), hidden_size=16, cell=cell)
        tokens = torch.randint(4, len(vocab), (3, 7))
        whole, _ = model(tokens)
        first, state = model(tokens[:, :4])
        rest, _ = model(tokens[:, 4:], state)
        assert torch.allclose(torch.cat([first, rest], dim=1), whole, atol=1e-6)
        logits, _ = model.step(tokens[:, 0], model.initial_state(3))
        assert (
            torch.isinf(logits[:, [PAD, UNK, BOS]]).all() and torch.isfinite(logits[:, EOS]).all()
        )
    model.train()
    texts = sample_text(model, vocab, "the ", count=5, temperature=1.5, max_len=20)
    assert model.training and len(texts) == 5
    assert all(t.startswith("the ") and len(t) <= 24 and "<" not in t for t in texts)


def test_training_lowers_the_loss_and_a_seeded_sample_repeats():
    torch.manual_seed(0)
    vocab = char_vocab(TEXTS)
    inputs, targets = text_chunks(TEXTS * 20, vocab, 10)
    model = CharLanguageModel(len(vocab), hidden_size=32)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    before = model.loss(inputs, targets).item()
    for _ in range(60):
        optimizer.zero_grad()
        loss = model.loss(inputs, targets)
        loss.backward()
        optimizer.step()
    assert loss.item() < before / 2
    one = sample_text(model, vocab, count=3, generator=torch.Generator().manual_seed(4))
    two = sample_text(model, vocab, count=3, generator=torch.Generator().manual_seed(4))
    assert one == two


def test_real_word_share_counts_words_of_letters():
    assert words("Don't stop, 3 cats!") == ["don't", "stop", "cats"]
    assert real_word_share(["the cat", "zzq cat 42"], {"the", "cat"}) == pytest.approx(3 / 4)
    with pytest.raises(ValueError, match="no word"):
        real_word_share(["123 !"], {"the"})
    with pytest.raises(ValueError, match="known"):
        real_word_share(["the"], set())


def test_bad_arguments_are_named():
    vocab = char_vocab(TEXTS)
    model = CharLanguageModel(len(vocab), hidden_size=8)
    with pytest.raises(TypeError, match="texts"):
        char_vocab("just one string")
    with pytest.raises(ValueError, match="no character"):
        char_vocab(["", ""])
    with pytest.raises(ValueError, match="length"):
        text_chunks(TEXTS, vocab, 1000)
    with pytest.raises(ValueError, match="length"):
        text_chunks(TEXTS, vocab, 0)
    with pytest.raises(ValueError, match="vocab_size"):
        CharLanguageModel(3)
    with pytest.raises(ValueError, match="cell"):
        CharLanguageModel(len(vocab), cell="transformer")
    with pytest.raises(ValueError, match="prompt holds characters"):
        sample_text(model, vocab, "XYZ")
    with pytest.raises(ValueError, match="temperature"):
        sample_text(model, vocab, temperature=0)
    with pytest.raises(ValueError, match="tokens holds id"):
        model(torch.full((1, 3), len(vocab)))
    with pytest.raises(ValueError, match="targets must have the shape"):
        model.loss(torch.zeros(2, 3, dtype=torch.long), torch.zeros(2, 4, dtype=torch.long))
    with pytest.raises(TypeError, match="model"):
        sample_text(torch.nn.Linear(2, 2), vocab)


def test_a_cold_sample_is_the_greedy_continuation_and_a_hot_one_varies():
    torch.manual_seed(0)
    vocab = char_vocab(TEXTS)
    model = CharLanguageModel(len(vocab), hidden_size=16, num_layers=2, dropout=0.5)
    inputs, targets = text_chunks(TEXTS * 20, vocab, 10)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(40):  # trained a little: the top two logits stand apart
        optimizer.zero_grad()
        model.loss(inputs, targets).backward()
        optimizer.step()
    ids = vocab.encode(list("the "), bos=True)
    with torch.no_grad():
        _, state = model.eval()(ids[:-1].unsqueeze(0), model.initial_state(1))
        greedy, _ = greedy_decode(model.step, state, bos=int(ids[-1]), eos=EOS, max_len=12)
    model.train()  # sample_text must switch dropout off itself
    cold = sample_text(
        model,
        vocab,
        "the ",
        count=6,
        temperature=1e-3,
        max_len=12,
        generator=torch.Generator().manual_seed(0),
    )
    hot = sample_text(
        model,
        vocab,
        "the ",
        count=6,
        temperature=2.0,
        max_len=12,
        generator=torch.Generator().manual_seed(0),
    )
    assert cold == ["the " + "".join(vocab.decode(greedy[0].tolist()))] * 6 and model.training
    assert len(set(hot)) > 1
