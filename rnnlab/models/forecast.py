"""Synced sequence → sequence: one output per input step (tagging, regression, forecasting).

`SequenceRegressor` reads features ``(B, T, F)`` with a GRU/LSTM and puts a linear head on every
step's output. With ``output_size = k`` and ``every_step=True`` it is a seq2seq forecaster: at each
step t it predicts the k values after t, so one window gives T training examples. With
``every_step=False`` it returns only the vector read at the last real step (a vector forecaster).
``residual=True`` predicts changes from the current value (feature 0) instead of levels: "no change"
is then the starting point, which is the persistence baseline the model has to beat.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from ..checks import check_positive, check_probability
from ..modes import eval_mode
from ..sequences import check_lengths, last_real_state, run_rnn
from .cells import recurrent_layer
from .settings import RecordsSettings


class SequenceRegressor(RecordsSettings, nn.Module):
    """GRU/LSTM over ``(B, T, F)`` features → ``(B, T, output_size)`` (or ``(B, output_size)`` at
    the last real step).

    Chapter 1 (sunspot forecasts) uses it.

    >>> import torch
    >>> from rnnlab.models.forecast import SequenceRegressor
    >>> model = SequenceRegressor(input_size=1, output_size=12, hidden_size=8, every_step=False)
    >>> model(torch.randn(4, 60, 1)).shape  # 4 windows of 60 months -> 12 months ahead
    torch.Size([4, 12])
    """

    def __init__(
        self,
        input_size: int,
        output_size: int,
        *,
        hidden_size: int = 64,
        cell: str = "gru",
        num_layers: int = 1,
        dropout: float = 0.0,
        every_step: bool = True,
        residual: bool = False,
    ):
        super().__init__()
        check_positive(
            input_size=input_size,
            output_size=output_size,
            hidden_size=hidden_size,
            num_layers=num_layers,
        )
        check_probability(dropout=dropout)
        self.input_size = input_size
        self.every_step = every_step
        self.residual = residual
        self.rnn = recurrent_layer(
            cell, input_size, hidden_size, num_layers=num_layers, dropout=dropout
        )
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size, output_size)

    def forward(self, x: torch.Tensor, lengths: Any = None) -> torch.Tensor:
        """Outputs for ``x`` ``(B, T, F)`` (or ``(B, T)`` when F = 1); ``lengths`` ``(B,)`` when the
        batch is padded."""
        if not isinstance(x, torch.Tensor) or not x.dtype.is_floating_point:
            raise TypeError(
                f"x must be a float tensor (B, T, F), got {getattr(x, 'dtype', type(x).__name__)}"
            )
        if x.dim() == 2 and self.input_size == 1:
            x = x.unsqueeze(-1)  # (B, T) -> (B, T, 1)
        if x.dim() != 3 or x.shape[-1] != self.input_size or x.shape[0] == 0 or x.shape[1] == 0:
            raise ValueError(
                f"x must have shape (B, T, {self.input_size}) with B, T ≥ 1, got {tuple(x.shape)}"
            )
        if lengths is None:
            outputs, _ = self.rnn(x)
        else:
            lengths = check_lengths(lengths, batch_size=x.shape[0], max_len=x.shape[1])
            outputs, _ = run_rnn(self.rnn, x, lengths)
        y = self.head(self.dropout(outputs))
        if self.residual:
            y = y + x[..., :1]
        if self.every_step:
            return y
        return y[:, -1] if lengths is None else last_real_state(y, lengths)


@torch.no_grad()
def forecast(model: SequenceRegressor, windows: Any) -> np.ndarray:
    """The model's forecast of the values after each window ``(N, window)``: ``(N, k)``, read at the
    last step.

    The model runs in eval mode (dropout off) and is put back in its previous mode after.
    """
    if not isinstance(model, SequenceRegressor):
        raise TypeError(f"model must be a SequenceRegressor, got {type(model).__name__}")
    device = model.head.weight.device
    with eval_mode(model):
        out = model(torch.as_tensor(np.asarray(windows, dtype=np.float32), device=device))
    return (out[:, -1] if model.every_step else out).cpu().numpy()


def mae_by_horizon(predicted: Any, truth: Any) -> np.ndarray:
    """Mean absolute error for each horizon: ``(N, k)`` against ``(N, k)`` → ``(k,)``."""
    predicted, truth = np.asarray(predicted, dtype=np.float64), np.asarray(truth, dtype=np.float64)
    if predicted.shape != truth.shape or predicted.ndim != 2:
        raise ValueError(
            f"predicted and truth must both be (N, k) with the same shape, got {predicted.shape} "
            f"and {truth.shape}"
        )
    return np.abs(predicted - truth).mean(axis=0)
