"""rnnlab.models.forecast: SequenceRegressor (synced seq2seq): shapes, the residual start, padding,
learning, bad input."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnlab.models.forecast import SequenceRegressor, forecast, mae_by_horizon


@pytest.mark.parametrize("batch_size", [1, 5])
@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_shapes_every_step_and_last(batch_size, cell):
    x = torch.randn(batch_size, 9, 3)
    assert SequenceRegressor(3, 4, hidden_size=8, cell=cell)(x).shape == (batch_size, 9, 4)
    assert SequenceRegressor(3, 4, hidden_size=8, cell=cell, every_step=False)(x).shape == (
        batch_size,
        4,
    )
    assert SequenceRegressor(1, 2, hidden_size=8)(torch.randn(batch_size, 9)).shape == (
        batch_size,
        9,
        2,
    )


def test_residual_model_starts_near_persistence():
    model = SequenceRegressor(1, 3, hidden_size=4, residual=True, every_step=False)
    torch.nn.init.zeros_(model.head.weight)
    torch.nn.init.zeros_(model.head.bias)
    x = torch.randn(6, 10)
    torch.testing.assert_close(model(x), x[:, -1:].expand(-1, 3))


@settings(max_examples=20, deadline=None)
@given(extra=st.integers(1, 5), seed=st.integers(0, 100))
def test_padding_does_not_change_real_steps(extra, seed):
    torch.manual_seed(seed)
    model = SequenceRegressor(2, 3, hidden_size=5, every_step=False).eval()
    x, lengths = torch.randn(4, 7, 2), torch.tensor([7, 3, 5, 1])
    padded = torch.cat([x, torch.randn(4, extra, 2)], dim=1)
    torch.testing.assert_close(model(x, lengths), model(padded, lengths))


def test_a_tiny_model_overfits_a_tiny_batch():
    torch.manual_seed(0)
    x, y = torch.randn(8, 6, 1), torch.randn(8, 6, 2)
    model = SequenceRegressor(1, 2, hidden_size=32)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.03)
    first = None
    for _ in range(120):
        optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        first = first if first is not None else loss.item()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.1 * first


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda m: m(torch.ones(2, 3, 1, dtype=torch.long)), TypeError, "x must be a float tensor"),
        (lambda m: m(torch.ones(2, 3, 4)), ValueError, r"x must have shape \(B, T, 1\)"),
        (lambda m: m(torch.ones(2, 3, 1), [3, 0]), ValueError, "lengths must all be ≥ 1"),
        (lambda m: m(torch.ones(2, 3, 1), [3, 4]), ValueError, "lengths has a length of 4, longer"),
        (
            lambda m: m(torch.ones(2, 3, 1), [3]),
            ValueError,
            "lengths has 1 entries but the batch has 2",
        ),
    ],
)
def test_bad_inputs_name_the_argument(call, error, match):
    with pytest.raises(error, match=match):
        call(SequenceRegressor(1, 2, hidden_size=4))


def test_forecast_reads_the_last_step_and_mae_by_horizon():
    torch.manual_seed(0)
    model = SequenceRegressor(1, 3, hidden_size=4, every_step=True)
    windows = np.random.rand(5, 8).astype(np.float32)
    predicted = forecast(model, windows)
    np.testing.assert_allclose(
        predicted, model(torch.from_numpy(windows))[:, -1].detach().numpy(), rtol=1e-6
    )
    np.testing.assert_allclose(
        mae_by_horizon(predicted, predicted + [1.0, 2.0, 3.0]), [1.0, 2.0, 3.0], rtol=1e-6
    )
    with pytest.raises(ValueError, match="same shape"):
        mae_by_horizon(predicted, predicted[:, :2])
    with pytest.raises(TypeError, match="SequenceRegressor"):
        forecast(torch.nn.Linear(2, 2), windows)
