"""rnnlab.data.adding: two marked values, one in each half, and their sum as the target."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnlab.data.adding import MEAN_PREDICTOR_MSE, adding_problem


@settings(max_examples=25, deadline=None)
@given(count=st.integers(1, 20), length=st.integers(2, 60), seed=st.integers(0, 10**6))
def test_two_marks_one_per_half_and_the_target_is_their_sum(count, length, seed):
    x, y, marks = adding_problem(count, length, seed=seed)
    assert x.shape == (count, length, 2) and y.shape == (count,) and marks.shape == (count, 2)
    assert x.dtype == y.dtype == torch.float32
    assert (x[..., 1].sum(dim=1) == 2).all() and ((x[..., 1] == 0) | (x[..., 1] == 1)).all()
    assert (marks[:, 0] < length // 2).all() and (marks[:, 1] >= length // 2).all()
    assert (x[..., 1].gather(1, marks) == 1).all()
    assert torch.allclose(y, (x[..., 0] * x[..., 1]).sum(dim=1))
    assert ((x[..., 0] >= 0) & (x[..., 0] < 1)).all()


def test_seeded_and_the_mean_predictor_scores_one_sixth():
    x, y, _ = adding_problem(20_000, 10, seed=3)
    again, _, _ = adding_problem(20_000, 10, seed=3)
    assert torch.equal(x, again) and not torch.equal(x, adding_problem(20_000, 10, seed=4)[0])
    assert float(((y - 1) ** 2).mean()) == pytest.approx(MEAN_PREDICTOR_MSE, abs=0.01)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="count"):
        adding_problem(0, 10)
    with pytest.raises(ValueError, match="length"):
        adding_problem(5, 1)
    with pytest.raises(TypeError, match="length"):
        adding_problem(5, 10.0)
    with pytest.raises(ValueError, match="seed"):
        adding_problem(5, 10, seed=-1)
