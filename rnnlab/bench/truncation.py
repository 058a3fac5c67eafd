"""What truncated backpropagation through time costs in accuracy: next-month forecasters of the
shipped monthly sunspot series trained with full and truncated BPTT (chapter 4), through
`rnnlab.models.unroll.fit_next_step`, the peak memory of one update measured beside each."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ..checks import check_int, check_nonempty, check_positive
from ..data.sunspots import load_sunspots
from ..models.unroll import (
    NextStepLSTM,
    fit_next_step,
)
from .measure import (
    Step,
    peak_bytes,
)

__all__ = ["tbptt_forecast"]


def _streams(series: np.ndarray, count: int) -> torch.Tensor:
    """``series`` cut into ``count`` contiguous pieces of equal length, one per row:
    ``(count, len // count)``."""
    length = len(series) // count
    kept = torch.as_tensor(series[len(series) - count * length :], dtype=torch.float32)
    return kept.view(count, length)  # (count * length,) -> (count, length)


def _one_update(model: NextStepLSTM, streams: torch.Tensor, chunk: int | None, lr: float) -> Step:
    """One epoch of `fit_next_step` over ``streams`` cut to a single update's span: what one update
    holds in memory."""

    def step() -> None:
        fit_next_step(model, streams, chunk=chunk, epochs=1, lr=lr)

    return step


def tbptt_forecast(
    chunks: Sequence[int | None],
    *,
    epochs: int = 60,
    streams: int = 16,
    hidden_size: int = 32,
    lr: float = 1e-2,
    test_months: int = 240,
    scale: float = 100.0,
    seed: int = 0,
) -> dict[str, Any]:
    """Full vs truncated BPTT on the monthly sunspot series: one-month-ahead error on the last
    ``test_months``.

    The months before the test period are cut into ``streams`` contiguous pieces (one batch row
    each). For each entry of ``chunks`` (``None``: full BPTT through each whole piece, one update
    per epoch; ``k``: truncated BPTT, ``k`` steps per update, the state carried and detached) a
    fresh `NextStepLSTM` with the same seed trains for ``epochs`` passes over the same data. It is
    then run over the whole series (so the state entering the test period has seen all earlier
    months) and scored by the mean absolute error of its one-month-ahead forecasts in the test
    period, in sunspot units. Also returns the persistence error (next month = this month) and, per
    chunk, the peak memory of one update (CPU), the number of updates and the training seconds.
    """
    check_nonempty("chunks", chunks)
    check_positive(test_months=test_months)
    _, values = load_sunspots()
    series = values / scale
    if test_months >= len(series) - streams * 2:
        raise ValueError(f"test_months={test_months} leaves too few months to train on")
    train = _streams(series[:-test_months], check_int("streams", streams, minimum=1))
    whole = torch.as_tensor(series[:-1], dtype=torch.float32).unsqueeze(0)  # (1, months - 1)
    truth = series[-test_months:]
    rows = []
    for chunk in chunks:
        model = NextStepLSTM(hidden_size, seed=seed)
        span = train.shape[1] if chunk is None else chunk + 1
        peak = peak_bytes(
            _one_update(NextStepLSTM(hidden_size, seed=seed), train[:, :span], chunk, lr)
        )
        info = fit_next_step(model, train, chunk=chunk, epochs=epochs, lr=lr)
        with torch.no_grad():
            predicted = model(whole)[0][0, -test_months:].numpy()
        rows.append(
            {
                "chunk": chunk,
                "steps_per_update": train.shape[1] - 1 if chunk is None else chunk,
                "updates": info["updates"],
                "seconds": info["seconds"],
                "update_peak_mb": peak / 2**20,
                "test_mae": float(np.abs(predicted - truth).mean() * scale),
            }
        )
    persistence = float(np.abs(series[-test_months - 1 : -1] - truth).mean() * scale)
    return {
        "rows": rows,
        "persistence_mae": persistence,
        "train_months": int(train.numel()),
        "streams": streams,
        "stream_length": int(train.shape[1]),
        "test_months": test_months,
        "epochs": epochs,
        "hidden_size": hidden_size,
    }
