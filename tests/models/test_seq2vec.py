"""SequenceClassifier (seq2vec): shapes, padding invariance, learning, and clear errors on bad
input."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnlab.models.seq2vec import POOLINGS, SequenceClassifier, predict_loader

VOCAB = 20


def _batch(batch_size, max_len, seed=0):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, max_len + 1, (batch_size,), generator=g)
    lengths[0] = max_len
    tokens = torch.randint(1, VOCAB, (batch_size, max_len), generator=g)
    tokens[torch.arange(max_len) >= lengths.unsqueeze(1)] = 0
    return tokens, lengths


@pytest.mark.parametrize("cell", ["gru", "lstm"])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("batch_size", [1, 7])
def test_output_shape(cell, bidirectional, batch_size):
    model = SequenceClassifier(
        VOCAB,
        3,
        embed_dim=8,
        hidden_size=6,
        cell=cell,
        num_layers=2,
        bidirectional=bidirectional,
        pooling="mean+max",
    ).eval()
    tokens, lengths = _batch(batch_size, 9)
    assert model(tokens, lengths).shape == (batch_size, 3)
    probs = model.predict_proba(tokens, lengths)
    assert torch.allclose(probs.sum(dim=1), torch.ones(batch_size))


@settings(max_examples=25, deadline=None)
@given(
    pooling=st.sampled_from(POOLINGS),
    bidirectional=st.booleans(),
    cell=st.sampled_from(["gru", "lstm"]),
    extra=st.integers(1, 6),
    pad_id=st.integers(0, VOCAB - 1),
    seed=st.integers(0, 1000),
)
def test_padding_never_changes_the_output(pooling, bidirectional, cell, extra, pad_id, seed):
    torch.manual_seed(seed)
    model = SequenceClassifier(
        VOCAB,
        2,
        embed_dim=5,
        hidden_size=4,
        cell=cell,
        bidirectional=bidirectional,
        pooling=pooling,
    ).eval()
    tokens, lengths = _batch(4, 6, seed)
    # whatever sits in the padding is ignored
    padded = torch.cat([tokens, torch.full((4, extra), pad_id)], dim=1)
    torch.testing.assert_close(model(tokens, lengths), model(padded, lengths))


def test_last_pooling_reads_the_last_real_step_of_each_direction():
    torch.manual_seed(0)
    model = SequenceClassifier(
        VOCAB, 2, embed_dim=5, hidden_size=4, bidirectional=True, pooling="last"
    ).eval()
    tokens, lengths = _batch(3, 7)
    pooled = model.encode(tokens, lengths)
    # one sequence alone, unpadded: forward ends at its last step, backward at step 0
    for b in range(3):
        alone = tokens[b : b + 1, : lengths[b]]
        out, _ = model.rnn(model.embed(alone))
        torch.testing.assert_close(pooled[b, :4], out[0, -1, :4])
        torch.testing.assert_close(pooled[b, 4:], out[0, 0, 4:])


def test_a_tiny_model_overfits_a_tiny_batch():
    torch.manual_seed(0)
    tokens, lengths = _batch(8, 6)
    labels = torch.tensor([0, 1, 0, 1, 1, 0, 1, 0])
    model = SequenceClassifier(
        VOCAB, 2, embed_dim=16, hidden_size=16, pooling="mean+max", word_dropout=0.1, dropout=0.1
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(80):
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(tokens, lengths), labels)
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.05


def test_word_dropout_only_acts_while_training():
    torch.manual_seed(0)
    model = SequenceClassifier(VOCAB, 2, word_dropout=0.5).eval()
    tokens, lengths = _batch(4, 5)
    torch.testing.assert_close(model(tokens, lengths), model(tokens, lengths))
    model.train()
    assert not torch.allclose(model(tokens, lengths), model(tokens, lengths))


@pytest.mark.parametrize(
    ("tokens", "lengths", "error", "match"),
    [
        (torch.ones(2, 4), [4, 4], TypeError, "tokens .*integer"),
        ([[1, 2]], [2], TypeError, "tokens must be a"),
        (
            torch.ones(2, 4, dtype=torch.long) * VOCAB,
            [4, 4],
            ValueError,
            f"tokens holds id {VOCAB}",
        ),
        (-torch.ones(2, 4, dtype=torch.long), [4, 4], ValueError, "tokens holds id -1"),
        (torch.ones(4, dtype=torch.long), [4], ValueError, "tokens must be a 2-D tensor"),
        (torch.ones(2, 4, dtype=torch.long), [4, 0], ValueError, "lengths must all be ≥ 1"),
        (
            torch.ones(2, 4, dtype=torch.long),
            [4, 5],
            ValueError,
            "lengths has a length of 5, longer",
        ),
        (
            torch.ones(2, 4, dtype=torch.long),
            [4, 4, 4],
            ValueError,
            "lengths has 3 entries but the batch has 2",
        ),
        (
            torch.ones(2, 4, dtype=torch.long),
            torch.tensor([4.0, 4.0]),
            TypeError,
            "lengths must hold integers",
        ),
    ],
)
def test_bad_inputs_name_the_argument(tokens, lengths, error, match):
    model = SequenceClassifier(VOCAB, 2)
    with pytest.raises(error, match=match):
        model(tokens, lengths)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"cell": "transformer"}, "cell must be one of"),
        ({"pooling": "sum"}, "pooling must be one of"),
        ({"dropout": 1.0}, "dropout must be"),
        ({"hidden_size": 0}, "hidden_size must be a positive int"),
        ({"padding_idx": VOCAB}, "padding_idx must be"),
    ],
)
def test_bad_settings_name_the_argument(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SequenceClassifier(VOCAB, 2, **kwargs)


def test_mask_padding_false_reads_padding_and_so_depends_on_the_batch():
    """The chapter-5 bug, on purpose: without the mask a sentence's answer changes with extra
    padding."""
    masked = SequenceClassifier(VOCAB, 2, embed_dim=8, hidden_size=6, pooling="mean").eval()
    unmasked = SequenceClassifier(
        VOCAB, 2, embed_dim=8, hidden_size=6, pooling="mean", mask_padding=False
    ).eval()
    unmasked.load_state_dict(masked.state_dict())
    tokens = torch.tensor([[5, 6, 7]])
    padded = torch.tensor([[5, 6, 7, 0, 0, 0, 0]])
    lengths = torch.tensor([3])
    assert torch.allclose(masked(tokens, lengths), masked(padded, lengths), atol=1e-6)
    assert torch.allclose(unmasked(tokens, lengths), masked(tokens, lengths), atol=1e-6)
    assert not torch.allclose(unmasked(padded, lengths), masked(padded, lengths), atol=1e-4)
    with pytest.raises(TypeError, match="mask_padding"):
        SequenceClassifier(VOCAB, 2, mask_padding="no")


def test_predict_loader_matches_the_model():
    torch.manual_seed(0)
    model = SequenceClassifier(VOCAB, 3, hidden_size=4)
    tokens, lengths = _batch(5, 6)
    labels = torch.arange(5) % 3
    probs, got = predict_loader(
        model, [(tokens[:2], lengths[:2], labels[:2]), (tokens[2:], lengths[2:], labels[2:])]
    )
    torch.testing.assert_close(probs, model.predict_proba(tokens, lengths))
    assert torch.equal(got, labels) and model.training  # predicting puts the model's mode back
    with pytest.raises(ValueError, match="loader is empty"):
        predict_loader(model, [])
