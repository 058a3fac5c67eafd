"""Vote-counting sentences, and predicting the same sequences under different batchings."""

import pytest
import torch

from rnnlab.data.votes import NEGATIVE, POSITIVE, vote_sentences, vote_vocab
from rnnlab.models.batching import batchings, predict_batched, predictions_by_batching
from rnnlab.models.seq2vec import SequenceClassifier


def test_vote_sentences_are_labelled_by_the_majority():
    sentences, labels = vote_sentences(200, seed=2)
    vocab = vote_vocab()
    for tokens, label in zip(sentences, labels.tolist(), strict=True):
        words = vocab.decode(tokens.tolist())
        votes = sum(w in POSITIVE for w in words) - sum(w in NEGATIVE for w in words)
        assert votes != 0 and label == int(votes > 0)
    lengths = [len(s) for s in sentences]
    assert min(lengths) >= 2 and max(lengths) > 4 * sorted(lengths)[len(lengths) // 2], (
        "lengths are skewed"
    )


def test_batchings_cover_every_sequence_once():
    lengths = [3, 9, 1, 4, 4, 7, 2]
    for batches in batchings(lengths, 3).values():
        assert sorted(i for b in batches for i in b) == list(range(len(lengths)))


def test_a_masked_model_answers_the_same_in_any_batch_and_an_unmasked_one_does_not():
    sentences, labels = vote_sentences(40, seed=3)
    torch.manual_seed(0)
    masked = SequenceClassifier(len(vote_vocab()), 2, embed_dim=8, hidden_size=8, pooling="mean")
    unmasked = SequenceClassifier(
        len(vote_vocab()), 2, embed_dim=8, hidden_size=8, pooling="mean", mask_padding=False
    )
    unmasked.load_state_dict(masked.state_dict())
    ways = batchings([len(s) for s in sentences], 8)
    outputs = {name: predict_batched(masked, sentences, b) for name, b in ways.items()}
    assert torch.allclose(outputs["alone"], outputs["random"], atol=1e-5)
    assert torch.allclose(outputs["alone"], outputs["bucketed"], atol=1e-5)
    assert torch.allclose(
        predict_batched(unmasked, sentences, ways["alone"]), outputs["alone"], atol=1e-5
    )
    assert not torch.allclose(
        predict_batched(unmasked, sentences, ways["random"]), outputs["alone"], atol=1e-3
    )
    predictions = predictions_by_batching(masked, sentences, ways)
    assert set(predictions) == set(ways) and all(
        torch.equal(p, predictions["alone"]) for p in predictions.values()
    )
    assert predictions["alone"].shape == labels.shape


@pytest.mark.parametrize(
    "call, error, name",
    [
        (lambda: vote_sentences(0), ValueError, "n"),
        (lambda: vote_sentences(5, max_len=1), ValueError, "max_len"),
        (
            lambda: predict_batched("model", [torch.ones(2, dtype=torch.long)], [[0]]),
            TypeError,
            "model",
        ),
        (
            lambda: predict_batched(
                torch.nn.Linear(1, 1), [torch.ones(2, dtype=torch.long)] * 2, [[0]]
            ),
            ValueError,
            "batches",
        ),
        (lambda: batchings([2, 0], 2), ValueError, "lengths"),
    ],
)
def test_bad_input(call, error, name):
    with pytest.raises(error, match=name):
        call()
