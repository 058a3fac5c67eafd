"""Teacher-forcing schedules and the exposure-bias measurement."""

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from rnnlab import fit, seed_everything
from rnnlab.data.numbers import number_pairs, number_vocabs
from rnnlab.data.parallel import encode_pairs, pair_loader
from rnnlab.data.vocab import char_tokens, word_tokens
from rnnlab.models.encoder_decoder import Seq2Seq
from rnnlab.models.scheduled_sampling import (
    TeacherForcing,
    edit_distance,
    exposure_bias,
    inverse_sigmoid,
)

words = st.lists(st.integers(0, 3), max_size=8)  # few symbols, so that sequences share words


def _loader(count=64, seed=0):
    src_vocab, tgt_vocab = number_vocabs()
    src, tgt = encode_pairs(
        number_pairs(count, max_digits=3, seed=seed), src_vocab, tgt_vocab, char_tokens, word_tokens
    )
    return pair_loader(src, tgt, batch_size=16, shuffle=False), len(src_vocab), len(tgt_vocab)


def test_inverse_sigmoid_starts_near_one_and_decays():
    ratio = inverse_sigmoid(4)
    values = [ratio(e) for e in range(1, 30)]
    assert (
        values[0] == pytest.approx(0.8)
        and all(a > b for a, b in zip(values, values[1:], strict=False))
        and values[-1] < 0.01
    )
    assert inverse_sigmoid(8)(5) > inverse_sigmoid(2)(5)


def test_edit_distance_counts_one_missing_word_once():
    assert edit_distance(["four", "hundred", "seventeen"], ["four", "seventeen"]) == 1
    assert edit_distance([], [1, 2, 3]) == 3 and edit_distance([1, 2], [2, 1]) == 2


@given(words, words, words)
def test_edit_distance_is_a_metric(a, b, c):
    assert edit_distance(a, a) == 0
    assert edit_distance(a, b) == edit_distance(b, a)
    assert (edit_distance(a, b) == 0) == (a == b)
    assert edit_distance(a, c) <= edit_distance(a, b) + edit_distance(b, c)


@given(words, words)
def test_edit_distance_lies_between_the_length_gap_and_position_wise_errors(a, b):
    position_wise = sum(x != y for x, y in zip(a, b, strict=False)) + abs(len(a) - len(b))
    assert abs(len(a) - len(b)) <= edit_distance(a, b) <= position_wise


def test_teacher_forcing_follows_its_schedule_through_fit_and_evaluates_forced():
    loader, src_size, tgt_size = _loader(32)
    seed_everything(0)
    model = Seq2Seq.build(src_size, tgt_size, embed_dim=8, hidden_size=8, attention=None)
    forcing = TeacherForcing(inverse_sigmoid(2))
    history = fit(
        model,
        loader,
        loader,
        epochs=3,
        batch_loss=forcing.batch_loss,
        on_epoch_start=forcing.on_epoch_start,
        progress=False,
    )
    assert forcing.ratios == pytest.approx([inverse_sigmoid(2)(e) for e in (1, 2, 3)])
    assert len(history["val_loss"]) == 3
    model.eval()
    batch = next(iter(loader))
    assert torch.equal(
        forcing.batch_loss(model, batch), TeacherForcing(1.0).batch_loss(model, batch)
    )


def test_exposure_bias_of_a_perfect_copy_is_none_and_of_an_untrained_model_is_low():
    loader, src_size, tgt_size = _loader(32)
    seed_everything(0)
    model = Seq2Seq.build(src_size, tgt_size, embed_dim=8, hidden_size=16, attention=None)
    report = exposure_bias(model, loader, max_len=8)
    assert 0 <= report["free_running"] <= 1 and 0 <= report["teacher_forced"] <= 1
    assert 0 <= report["exact"] <= report["right_length"] <= report["ended"] <= 1
    assert report["wer"] >= 0
    assert len(report["output_lengths"]) == 32 and max(report["output_lengths"]) <= 8
    assert len(report["by_position"]) == max(int(b[4].max()) for b in loader)
    assert model.training, "the model's mode is restored"


@pytest.mark.parametrize(
    "call, error, name",
    [
        (lambda: inverse_sigmoid(0.5), ValueError, "k"),
        (lambda: TeacherForcing(1.5), ValueError, "schedule"),
        (lambda: TeacherForcing(lambda e: 2.0).on_epoch_start(1), ValueError, "schedule"),
        (lambda: exposure_bias(torch.nn.Linear(2, 2), [], max_len=3), TypeError, "model"),
    ],
)
def test_bad_input(call, error, name):
    with pytest.raises(error, match=name):
        call()
